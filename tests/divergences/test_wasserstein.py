import math

import numpy as np
import ot
import pytest
from scipy.stats import wasserstein_distance

from genlab.divergences.wasserstein import (
    exact_wasserstein,
    random_directions,
    sinkhorn_divergence,
    sliced_wasserstein,
    wasserstein_1d,
)
from genlab.errors import GenlabError


def _f64(value):
    """The values the function actually sees, in float64 (float32 inputs are rounded first)."""
    return np.asarray(value, dtype=np.float64)


def _repeated_quantile_wpp(u, v, p):
    """W_p^p of uniform samples of sizes n, m: repeat sorted values to a common length lcm(n, m)."""
    n, m = len(u), len(v)
    common = math.lcm(n, m)
    u_rep = np.repeat(np.sort(u), common // n)
    v_rep = np.repeat(np.sort(v), common // m)
    return np.mean(np.abs(u_rep - v_rep) ** p)


def _pot_entropic_ot(x, y, a, b, epsilon):
    """OT_ε from POT's log-domain Sinkhorn potentials, evaluated as a dual objective.

    POT's plan is diag(u) K diag(v) with K = exp(-C/ε); in the KL(π‖a⊗b) convention the potentials
    are f = ε(log u - log a), g = ε(log v - log b), and the dual value is
    ⟨a, f⟩ + ⟨b, g⟩ - ε(Σπ - 1).
    """
    cost = ot.dist(x, y, metric="sqeuclidean")
    plan, log = ot.sinkhorn(
        a, b, cost, epsilon, method="sinkhorn_log", numItermax=5000, stopThr=1e-9, log=True
    )
    f = epsilon * (log["log_u"] - np.log(a))
    g = epsilon * (log["log_v"] - np.log(b))
    return a @ f + b @ g - epsilon * (plan.sum() - 1.0)


# ---------------------------------------------------------------- wasserstein_1d


@pytest.mark.parametrize(("n", "m"), [(40, 40), (37, 53), (1, 9)])
def test_wasserstein_1d_matches_scipy(backend, n, m):
    rng = np.random.default_rng(n * m)
    u = backend(rng.normal(size=n))
    v = backend(rng.normal(1.0, 2.0, size=m))
    expected = wasserstein_distance(_f64(u), _f64(v))
    assert wasserstein_1d(u, v) == pytest.approx(expected, rel=1e-12)


def test_wasserstein_1d_with_weights_matches_scipy(backend):
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=31), rng.exponential(size=45)
    u_w, v_w = rng.random(31), rng.random(45)
    u_w[3] = 0.0  # a zero-weight point must not count
    expected = wasserstein_distance(u, v, u_w, v_w)
    got = wasserstein_1d(
        backend.with_dtype("float64")(u),
        v,
        u_weights=backend(u_w),
        v_weights=v_w,
    )
    tol = 1e-6 if backend.dtype == "float32" else 1e-12
    assert got == pytest.approx(expected, rel=tol)


@pytest.mark.parametrize(("n", "m"), [(30, 30), (24, 36), (7, 11)])
@pytest.mark.parametrize("p", [2, 3])
def test_wasserstein_1d_higher_order_matches_quantile_reference(backend, n, m, p):
    rng = np.random.default_rng(n + m + p)
    u = backend(rng.normal(size=n))
    v = backend(rng.standard_t(3, size=m))
    expected = _repeated_quantile_wpp(_f64(u), _f64(v), p) ** (1 / p)
    assert wasserstein_1d(u, v, p=p) == pytest.approx(expected, rel=1e-12)
    pot = ot.wasserstein_1d(_f64(u), _f64(v), p=p) ** (1 / p)
    assert wasserstein_1d(u, v, p=p) == pytest.approx(pot, rel=1e-9)


def test_wasserstein_1d_of_a_shift_is_the_shift():
    u = np.random.default_rng(0).normal(size=100)
    for p in (1, 2, 3.5):
        assert wasserstein_1d(u, u + 0.75, p=p) == pytest.approx(0.75, rel=1e-12)


# ---------------------------------------------------------------- exact_wasserstein


@pytest.mark.parametrize("p", [1, 2])
def test_exact_wasserstein_matches_pot_emd2(backend, p):
    rng = np.random.default_rng(p)
    x = backend(rng.normal(size=(25, 3)))
    y = backend(rng.normal(0.5, 1.5, size=(35, 3)))
    a, b = rng.random(25), rng.random(35)
    cost = ot.dist(_f64(x), _f64(y), metric="euclidean") ** p
    expected = ot.emd2(a / a.sum(), b / b.sum(), cost) ** (1 / p)
    assert exact_wasserstein(x, y, p=p, a=a, b=b) == pytest.approx(expected, rel=1e-9)
    uniform = ot.emd2(np.full(25, 1 / 25), np.full(35, 1 / 35), cost) ** (1 / p)
    assert exact_wasserstein(x, y, p=p) == pytest.approx(uniform, rel=1e-9)


@pytest.mark.parametrize("p", [1, 2])
def test_exact_wasserstein_of_a_shifted_set_is_the_shift_length(backend, p):
    # W_p(μ, μ + v) = ‖v‖: the translation plan costs ‖v‖^p, and Jensen (or the 1-Lipschitz
    # witness f(x) = ⟨x, v⟩/‖v‖ for p = 1) shows no plan is cheaper.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 2))
    shift = np.array([0.3, -0.4])
    x_in, y_in = backend(x), backend(x + shift)
    exact_shift = np.linalg.norm(_f64(y_in) - _f64(x_in), axis=1).mean()  # float32 rounding
    assert exact_wasserstein(x_in, y_in, p=p) == pytest.approx(0.5, abs=1e-6)
    assert exact_wasserstein(x_in, y_in, p=1) == pytest.approx(exact_shift, abs=1e-12)


def test_exact_wasserstein_on_the_line_matches_the_1d_formula():
    rng = np.random.default_rng(4)
    u, v = rng.normal(size=20), rng.normal(size=30)
    assert exact_wasserstein(u, v, p=2) == pytest.approx(wasserstein_1d(u, v, p=2), rel=1e-9)


def test_exact_wasserstein_rejects_mismatched_dimensions():
    with pytest.raises(GenlabError, match="same dimension"):
        exact_wasserstein(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(GenlabError, match="p must be"):
        exact_wasserstein(np.zeros((3, 2)), np.zeros((3, 2)), p=0.5)


# ---------------------------------------------------------------- sliced_wasserstein


@pytest.mark.parametrize("p", [1, 2])
def test_sliced_wasserstein_matches_pot_with_the_same_directions(backend, p):
    rng = np.random.default_rng(5)
    x = backend(rng.normal(size=(50, 3)))
    y = backend(rng.normal(1.0, 1.0, size=(70, 3)))
    directions = random_directions(3, 64, seed=11)
    expected = ot.sliced_wasserstein_distance(_f64(x), _f64(y), projections=directions, p=p)
    got = sliced_wasserstein(x, y, p=p, num_projections=64, seed=11)
    assert got == pytest.approx(expected, rel=1e-9)


def test_sliced_wasserstein_with_weights_matches_per_direction_1d_distances():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(20, 2)), rng.normal(size=(30, 2)) + 1
    a, b = rng.random(20), rng.random(30)
    directions = random_directions(2, 16, seed=3)
    per_direction = [wasserstein_distance(x @ d, y @ d, a, b) for d in directions.T]  # scipy, p = 1
    got = sliced_wasserstein(x, y, p=1, num_projections=16, seed=3, a=a, b=b)
    assert got == pytest.approx(np.mean(per_direction), rel=1e-12)


def test_random_directions_are_unit_vectors_and_isotropic():
    directions = random_directions(3, 20000, seed=0)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=0), 1.0, rtol=1e-12)
    # For θ uniform on S^{d-1}, E θθᵀ = I/d.
    np.testing.assert_allclose(directions @ directions.T / 20000, np.eye(3) / 3, atol=0.01)


def test_sliced_w2_of_an_exact_shift_is_the_mean_squared_projected_shift():
    rng = np.random.default_rng(7)
    d, mu = 4, np.array([1.0, -0.5, 0.5, 0.0])
    x = rng.normal(size=(500, d))
    directions = random_directions(d, 2000, seed=1)
    sw2 = sliced_wasserstein(x, x + mu, p=2, num_projections=2000, seed=1) ** 2
    assert sw2 == pytest.approx(np.mean((mu @ directions) ** 2), rel=1e-10)
    # The Monte Carlo mean over 2000 directions has relative sd ≈ 2.2% around ‖μ‖²/d here.
    assert sw2 == pytest.approx(mu @ mu / d, rel=0.08)


def test_sliced_w2_of_shifted_gaussian_samples_is_norm_squared_over_d():
    # SW_2² of N(0, I) and N(μ, I) is E_θ⟨θ, μ⟩² = ‖μ‖²/d. Measured over 10 seeds at n = 4000,
    # L = 2000: relative error mean -0.8%, sd 4.0% (mostly the sample means' noise), max 7%.
    rng = np.random.default_rng(8)
    d, mu = 4, np.array([1.0, -0.5, 0.5, 0.0])
    x, y = rng.normal(size=(4000, d)), rng.normal(size=(4000, d)) + mu
    sw2 = sliced_wasserstein(x, y, p=2, num_projections=2000, seed=2) ** 2
    assert sw2 == pytest.approx(mu @ mu / d, rel=0.15)


def test_sliced_is_at_most_exact_wasserstein():
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 3)) * 2 + 1
    assert sliced_wasserstein(x, y, p=2, num_projections=500) <= exact_wasserstein(x, y, p=2)


# ---------------------------------------------------------------- sinkhorn_divergence


SINKHORN_X = np.random.default_rng(10).normal(size=(20, 2))
SINKHORN_Y = np.random.default_rng(11).normal(0.7, 1.0, size=(25, 2))


@pytest.fixture(scope="module", params=[0.2, 1.0], ids=["eps0.2", "eps1"])
def pot_sinkhorn_reference(request):
    epsilon = request.param
    x, y = SINKHORN_X, SINKHORN_Y
    a, b = np.full(20, 1 / 20), np.full(25, 1 / 25)
    value = (
        _pot_entropic_ot(x, y, a, b, epsilon)
        - 0.5 * _pot_entropic_ot(x, x, a, a, epsilon)
        - 0.5 * _pot_entropic_ot(y, y, b, b, epsilon)
    )
    return epsilon, value


def test_sinkhorn_divergence_matches_pot_sinkhorn(backend, pot_sinkhorn_reference):
    epsilon, expected = pot_sinkhorn_reference
    x, y = backend(SINKHORN_X), backend(SINKHORN_Y)
    # float32 rounding of the points moves the value by about 1e-7 relative.
    rel = 2e-6 if backend.dtype == "float32" else 1e-8
    assert sinkhorn_divergence(x, y, epsilon=epsilon) == pytest.approx(expected, rel=rel)


def test_sinkhorn_divergence_tends_to_exact_ot_for_small_epsilon():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + np.array([1.0, 0.0])
    exact = exact_wasserstein(x, y, p=2) ** 2
    errors = [abs(sinkhorn_divergence(x, y, epsilon=eps) - exact) for eps in (1.0, 0.1, 0.03)]
    assert errors[0] > errors[1] > errors[2]
    # At ε = 0.03 the relative error was 0.36 % in the median and 1.24 % at most over 60 draws
    # of such point sets (12 % at ε = 1).
    assert errors[2] < 0.02 * exact


def test_sinkhorn_divergence_is_zero_for_identical_sets_and_positive_otherwise():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(30, 2))
    assert sinkhorn_divergence(x, x, epsilon=0.1) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("epsilon", [0.1, 1.0])
def test_sinkhorn_divergence_of_a_translation_is_the_squared_shift_for_every_epsilon(epsilon):
    # With C = ‖x - y‖², C(x, y + v) = C(x, y) - 2⟨x - y, v⟩ + ‖v‖²: the middle term splits into
    # functions of x and of y that the potentials absorb (their integrals cancel), so
    # OT_ε(α, α + v) = OT_ε(α, α) + ‖v‖² and S_ε(α, α + v) = ‖v‖² exactly.
    rng = np.random.default_rng(15)
    x = rng.normal(size=(30, 2))
    shift = np.array([0.3, -0.1])
    got = sinkhorn_divergence(x, x + shift, epsilon=epsilon)
    assert got == pytest.approx(shift @ shift, rel=1e-6)


def test_sinkhorn_divergence_large_epsilon_approaches_half_energy_mmd():
    # As ε → ∞ the plan tends to a⊗b and S_ε → ½ MMD² with kernel -C (Feydy et al. 2019).
    rng = np.random.default_rng(13)
    x, y = rng.normal(size=(15, 2)), rng.normal(size=(20, 2)) + 0.5
    cost = lambda u, v: ot.dist(u, v, metric="sqeuclidean").mean()  # noqa: E731
    half_mmd = cost(x, y) - 0.5 * cost(x, x) - 0.5 * cost(y, y)
    assert sinkhorn_divergence(x, y, epsilon=1e5) == pytest.approx(half_mmd, rel=1e-3)


def test_sinkhorn_divergence_warns_when_not_converged():
    rng = np.random.default_rng(14)
    x, y = rng.normal(size=(20, 2)), rng.normal(size=(20, 2)) + 1
    with pytest.warns(UserWarning, match="did not converge"):
        sinkhorn_divergence(x, y, epsilon=1e-3, max_iter=5)
    with pytest.raises(GenlabError, match="epsilon"):
        sinkhorn_divergence(x, y, epsilon=0.0)

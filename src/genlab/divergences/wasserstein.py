r"""Wasserstein distances between samples: exact in 1-D, exact for small sets, sliced, Sinkhorn.

The p-Wasserstein distance between probability measures μ, ν on R^d with ground cost c(x, y) is

.. math::

    W_p(μ, ν) = \Big( \min_{π ∈ Π(μ, ν)} \int c(x, y)\, dπ(x, y) \Big)^{1/p},
    \qquad c(x, y) = \lVert x - y \rVert_2^p,

with Π(μ, ν) the couplings (joint distributions with marginals μ and ν). It stays finite and
continuous in the parameters when supports are disjoint — the reason WGAN uses W_1 (Arjovsky et al.,
"Wasserstein GAN", ICML 2017). For samples, μ and ν are the empirical measures Σ a_i δ_{x_i} and
Σ b_j δ_{y_j} (uniform weights unless given). Reference text: Peyré & Cuturi, "Computational Optimal
Transport", 2019.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import ot
from scipy.special import logsumexp

from genlab.arrays import check_integer
from genlab.divergences._backend import (
    ArrayLike,
    as_float64,
    as_generator,
    as_points,
    as_weights,
    same_dimension,
)
from genlab.errors import GenlabError

# ot.emd's network simplex stops after this many iterations by default (100 000), too few for a
# few hundred points; the simplex needs on the order of n·m pivots.
_EMD_MIN_ITERATIONS = 1_000_000


def wasserstein_1d(
    u: ArrayLike,
    v: ArrayLike,
    *,
    p: float = 1,
    u_weights: ArrayLike | None = None,
    v_weights: ArrayLike | None = None,
) -> float:
    r"""Exact W_p between two weighted samples on the real line, ground cost |x - y|^p.

    On R the monotone (quantile) coupling is optimal for every p ≥ 1, so

    .. math::

        W_p(μ, ν)^p = \int_0^1 \big| F_μ^{-1}(t) - F_ν^{-1}(t) \big|^p \, dt,

    with F^{-1} the quantile functions (Peyré & Cuturi 2019, Remark 2.30). For empirical measures
    both quantile functions are step functions, so the integral is an exact finite sum over the
    merged breakpoints of the two cumulative weight sequences: O((n + m) log(n + m)).

    Parameters
    ----------
    u, v
        The two samples, shapes (n,) and (m,) (sizes may differ); numpy or torch, any float dtype.
    p
        Order p ≥ 1.
    u_weights, v_weights
        Non-negative weights of the points (normalised to sum to one); uniform when None.

    Returns
    -------
    float
        W_p(μ, ν) (the p-th root taken).
    """
    _check_order(p)
    u_values = _line_sample(u, name="u")
    v_values = _line_sample(v, name="v")
    a = as_weights(u_weights, u_values.size, name="u_weights")
    b = as_weights(v_weights, v_values.size, name="v_weights")
    u_order, v_order = np.argsort(u_values), np.argsort(v_values)
    cost = _sorted_wasserstein_pp(
        u_values[u_order][:, None], v_values[v_order][:, None], a[u_order], b[v_order], p
    )
    return float(cost[0] ** (1.0 / p))


def exact_wasserstein(
    x: ArrayLike,
    y: ArrayLike,
    *,
    p: float = 1,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
) -> float:
    r"""Exact W_p between two small weighted point sets, ground cost ‖x - y‖_2^p (Euclidean).

    Solves the linear programme

    .. math::

        W_p^p = \min_{π ≥ 0,\ π 1 = a,\ π^T 1 = b} \sum_{ij} π_{ij} \lVert x_i - y_j \rVert_2^p

    with the network simplex of POT's ``ot.emd2`` (Bonneel et al., "Displacement interpolation
    using Lagrangian mass transport", SIGGRAPH Asia 2011). Time grows roughly as (n + m)^3 and
    memory as n·m: keep each set to a few thousand points at most (subsample larger ones, which
    gives an upward-biased estimate of the population distance).

    Parameters
    ----------
    x, y
        Point sets of shapes (n, d) and (m, d); 1-D inputs are points on the line.
    p
        Order p ≥ 1 of the distance and exponent of the Euclidean ground cost.
    a, b
        Weights of the points of x and y (normalised to sum to one); uniform when None.

    Returns
    -------
    float
        W_p (the p-th root of the optimal transport cost).

    Raises
    ------
    GenlabError
        If the simplex stops before optimality (it then only gives an upper bound).
    """
    _check_order(p)
    x_points, y_points = as_points(x, name="x"), as_points(y, name="y")
    same_dimension(x_points, y_points)
    a_weights = as_weights(a, x_points.shape[0], name="a")
    b_weights = as_weights(b, y_points.shape[0], name="b")
    cost_matrix = euclidean_cost(x_points, y_points, p=p)
    iterations = max(_EMD_MIN_ITERATIONS, 50 * cost_matrix.size)
    cost, log = ot.emd2(a_weights, b_weights, cost_matrix, numItermax=iterations, log=True)
    if log.get("warning"):
        raise GenlabError(
            f"exact optimal transport did not finish ({log['warning']}); use fewer points or "
            "sinkhorn_divergence / sliced_wasserstein for large sets"
        )
    return float(max(float(cost), 0.0) ** (1.0 / p))


def sliced_wasserstein(
    x: ArrayLike,
    y: ArrayLike,
    *,
    p: float = 2,
    num_projections: int = 256,
    seed: int | np.random.Generator | None = 0,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
) -> float:
    r"""Sliced p-Wasserstein distance SW_p, ground cost |⟨θ, x⟩ - ⟨θ, y⟩|^p along each direction.

    .. math::

        SW_p(μ, ν)^p = \mathbb{E}_{θ \sim \mathrm{U}(S^{d-1})}
                       \big[ W_p^p(θ_\#μ,\ θ_\#ν) \big]
        \approx \frac{1}{L} \sum_{l=1}^{L} W_p^p(θ_{l\#}μ,\ θ_{l\#}ν),

    where θ_#μ is the law of ⟨θ, X⟩ for X ~ μ and each 1-D distance is exact (quantile coupling,
    as in `wasserstein_1d`). Directions are Gaussian vectors normalised to unit length, i.e. uniform
    on the sphere (Rabin et al., "Wasserstein barycenter and its application to texture mixing",
    SSVM 2011; Bonneel et al., "Sliced and Radon Wasserstein barycenters of measures", JMIV 2015).
    SW_p ≤ W_p, and SW_p is a metric. Useful fact: for μ, ν differing by a shift v,
    SW_2^2 = E_θ⟨θ, v⟩^2 = ‖v‖^2 / d.

    Parameters
    ----------
    x, y
        Point sets of shapes (n, d) and (m, d) (sizes may differ).
    p
        Order p ≥ 1.
    num_projections
        Number L of random directions: the Monte Carlo error falls as 1/sqrt(L).
    seed
        Seed or numpy Generator of the directions (fixed by default, so results repeat).
    a, b
        Weights of the points (normalised); uniform when None.

    Returns
    -------
    float
        SW_p — the p-th root of the mean over directions of W_p^p. Raise it to the power p for the
        mean of the 1-D costs.
    """
    _check_order(p)
    check_integer(num_projections, "num_projections")
    x_points, y_points = as_points(x, name="x"), as_points(y, name="y")
    same_dimension(x_points, y_points)
    a_weights = as_weights(a, x_points.shape[0], name="a")
    b_weights = as_weights(b, y_points.shape[0], name="b")
    directions = random_directions(x_points.shape[1], num_projections, seed=seed)
    x_proj, y_proj = x_points @ directions, y_points @ directions  # (n, L), (m, L)
    x_order, y_order = np.argsort(x_proj, axis=0), np.argsort(y_proj, axis=0)
    x_sorted = np.take_along_axis(x_proj, x_order, axis=0)
    y_sorted = np.take_along_axis(y_proj, y_order, axis=0)
    if a is None and b is None:
        costs = _sorted_wasserstein_pp(x_sorted, y_sorted, a_weights, b_weights, p)
    else:
        # The weights follow the points, so each direction has its own sorted weight order.
        costs = np.array(
            [
                _sorted_wasserstein_pp(
                    x_sorted[:, [col]],
                    y_sorted[:, [col]],
                    a_weights[x_order[:, col]],
                    b_weights[y_order[:, col]],
                    p,
                )[0]
                for col in range(num_projections)
            ]
        )
    return float(np.mean(costs) ** (1.0 / p))


def random_directions(
    dim: int, count: int, *, seed: int | np.random.Generator | None = 0
) -> np.ndarray:
    """``count`` unit vectors, uniform on the sphere S^{dim-1}, as columns of a (dim, count) array.

    Normalised standard Gaussian vectors are uniform on the sphere (rotation invariance).
    """
    gaussian = as_generator(seed).standard_normal((dim, count))
    return gaussian / np.linalg.norm(gaussian, axis=0, keepdims=True)


def sinkhorn_divergence(
    x: ArrayLike,
    y: ArrayLike,
    *,
    epsilon: float,
    p: float = 2,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
    max_iter: int = 5000,
    tol: float = 1e-5,
    scaling: float = 0.7,
) -> float:
    r"""Debiased Sinkhorn divergence S_ε, ground cost C_ij = ‖x_i - y_j‖_2^p.

    Entropic optimal transport with the regularisation ε·KL(π ‖ a⊗b):

    .. math::

        \mathrm{OT}_ε(α, β) = \min_{π ∈ Π(a, b)} ⟨π, C⟩ + ε\, \mathrm{KL}(π \,\|\, a ⊗ b),

    and the divergence removes its entropic bias (OT_ε(α, α) ≠ 0):

    .. math::

        S_ε(α, β) = \mathrm{OT}_ε(α, β) - \tfrac12 \mathrm{OT}_ε(α, α)
                    - \tfrac12 \mathrm{OT}_ε(β, β).

    Genevay, Peyré & Cuturi, "Learning generative models with Sinkhorn divergences", AISTATS 2018;
    Feydy et al., "Interpolating between optimal transport and MMD using Sinkhorn divergences",
    AISTATS 2019 (S_ε ≥ 0, S_ε = 0 iff α = β, for C = ‖x - y‖^p with p = 1, 2). As ε → 0,
    S_ε → W_p^p; as ε → ∞, S_ε → ½ MMD² with kernel -C.

    Each OT_ε is solved by Sinkhorn iterations on the dual potentials in the log domain, so small ε
    neither underflows nor overflows:

    .. math::

        f_i ← -ε \log \sum_j b_j e^{(g_j - C_{ij})/ε}, \qquad
        g_j ← -ε \log \sum_i a_i e^{(f_i - C_{ij})/ε},

    with ε annealed geometrically from the largest cost down to ``epsilon`` (ε-scaling, Feydy et
    al. 2019, section 3.3) before iterating at ``epsilon`` until the row marginal error (L1) is
    below ``tol``. The symmetric terms OT_ε(α, α), OT_ε(β, β) keep the averaged update
    f ← ½(f + T_ε f) throughout (see `entropic_ot`). The value is the dual objective
    ⟨a, f⟩ + ⟨b, g⟩, which equals OT_ε at convergence.

    Parameters
    ----------
    x, y
        Point sets of shapes (n, d) and (m, d). Memory is O(n·m).
    epsilon
        Regularisation ε > 0 in units of the cost (distance^p): small ε is close to W_p^p and slow,
        large ε is smooth and MMD-like.
    p
        Exponent of the Euclidean ground cost (1 or 2 give the positivity guarantee above).
    a, b
        Weights of the points (normalised); uniform when None.
    max_iter
        Iterations allowed at the final ε for each of the three problems.
    tol
        Stopping threshold on the L1 error of the first marginal.
    scaling
        Factor in (0, 1) between successive ε of the annealing schedule.

    Returns
    -------
    float
        S_ε, in units of the cost: it approximates W_p^p (not W_p) for small ε.

    Warns
    -----
    UserWarning
        If an OT_ε problem did not reach ``tol`` within ``max_iter`` iterations.
    """
    _check_order(p)
    if not epsilon > 0:
        raise GenlabError(f"epsilon must be positive, got {epsilon}")
    if not 0 < scaling < 1:
        raise GenlabError(f"scaling must lie in (0, 1), got {scaling}")
    x_points, y_points = as_points(x, name="x"), as_points(y, name="y")
    same_dimension(x_points, y_points)
    a_weights = as_weights(a, x_points.shape[0], name="a")
    b_weights = as_weights(b, y_points.shape[0], name="b")

    options = {"epsilon": epsilon, "max_iter": max_iter, "tol": tol, "scaling": scaling}
    cross = entropic_ot(euclidean_cost(x_points, y_points, p=p), a_weights, b_weights, **options)
    self_x = entropic_ot(euclidean_cost(x_points, x_points, p=p), a_weights, None, **options)
    self_y = entropic_ot(euclidean_cost(y_points, y_points, p=p), b_weights, None, **options)
    return float(cross - 0.5 * self_x - 0.5 * self_y)


def entropic_ot(
    cost: np.ndarray,
    a: np.ndarray,
    b: np.ndarray | None,
    *,
    epsilon: float,
    max_iter: int = 5000,
    tol: float = 1e-5,
    scaling: float = 0.7,
) -> float:
    r"""OT_ε = min_π ⟨π, C⟩ + ε KL(π‖a⊗b) for a cost matrix, by log-domain Sinkhorn.

    ``b=None`` means the symmetric problem OT_ε(α, α) (C symmetric, b = a): its optimal potentials
    are equal, f = g, and the averaged update f ← ½(f + T_ε f) converges in a few iterations where
    alternating updates crawl (Feydy et al. 2019, section 3.1). The ε-scaling phase uses averaged
    updates for both problems; the final phase alternates for a general pair.

    The stopping test is on the L1 error of the row marginal; the dual value is at a maximum, so
    its error is of second order in the potentials' error (a marginal error of 1e-5 typically
    leaves a value error below 1e-9 on unit-scale costs).
    """
    log_a = np.log(a)
    log_b = log_a if b is None else np.log(b)
    f, g = np.zeros(cost.shape[0]), np.zeros(cost.shape[1])
    for eps in _epsilon_schedule(float(cost.max()), epsilon, scaling):
        f, g = _averaged_step(cost, log_a, log_b, f, g, eps)
    for iteration in range(max_iter):
        if b is None:
            f, g = _averaged_step(cost, log_a, log_b, f, g, epsilon)
        else:
            f = _soft_c_transform(cost, log_b, g, epsilon)
            g = _soft_c_transform(cost.T, log_a, f, epsilon)
        # Checking every 10 iterations saves a third of the work; the row marginal measures
        # convergence (after a g-update the column marginal is exact).
        if iteration % 10 == 0 and _row_error(cost, log_a, log_b, f, g, epsilon) < tol:
            break
    else:
        warnings.warn(
            f"Sinkhorn did not converge to tol={tol} in {max_iter} iterations at "
            f"epsilon={epsilon}; raise max_iter or epsilon",
            stacklevel=2,
        )
    weights_b = a if b is None else b
    return float(a @ f + weights_b @ g)


def _averaged_step(
    cost: np.ndarray,
    log_a: np.ndarray,
    log_b: np.ndarray,
    f: np.ndarray,
    g: np.ndarray,
    eps: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Simultaneous damped update (f, g) ← ½(f + T_ε g, g + T_ε f) of Feydy et al. (2019)."""
    f_next = 0.5 * (f + _soft_c_transform(cost, log_b, g, eps))
    g_next = 0.5 * (g + _soft_c_transform(cost.T, log_a, f, eps))
    return f_next, g_next


def _soft_c_transform(
    cost: np.ndarray, log_weights: np.ndarray, potential: np.ndarray, eps: float
) -> np.ndarray:
    """(T_ε g)_i = -ε log Σ_j w_j exp((g_j - C_ij)/ε): the exact minimiser in f given g."""
    return -eps * logsumexp(log_weights[None, :] + (potential[None, :] - cost) / eps, axis=1)


def _row_error(
    cost: np.ndarray,
    log_a: np.ndarray,
    log_b: np.ndarray,
    f: np.ndarray,
    g: np.ndarray,
    eps: float,
) -> float:
    log_plan = (f[:, None] + g[None, :] - cost) / eps + log_a[:, None] + log_b[None, :]
    return float(np.abs(np.exp(logsumexp(log_plan, axis=1)) - np.exp(log_a)).sum())


def _epsilon_schedule(max_cost: float, epsilon: float, scaling: float) -> list[float]:
    # Start where the kernel exp(-C/ε) is nearly flat (ε ≈ max C) and shrink geometrically.
    if max_cost <= epsilon:
        return []
    steps = math.ceil(math.log(epsilon / max_cost) / math.log(scaling))
    return [max_cost * scaling**k for k in range(steps)]


def euclidean_cost(x: np.ndarray, y: np.ndarray, *, p: float = 1) -> np.ndarray:
    """The (n, m) matrix ‖x_i - y_j‖_2^p, without the cancellation of ‖x‖² - 2x·y + ‖y‖²."""
    diff = x[:, None, :] - y[None, :, :]
    squared = np.einsum("nmd,nmd->nm", diff, diff)
    return squared if p == 2 else np.sqrt(squared) ** p


def _sorted_wasserstein_pp(
    u_sorted: np.ndarray, v_sorted: np.ndarray, a: np.ndarray, b: np.ndarray, p: float
) -> np.ndarray:
    """W_p^p for each column of two sorted samples (n, L), (m, L) with sorted-order weights."""
    if u_sorted.shape[0] == v_sorted.shape[0] and np.array_equal(a, b):
        # Equal weights: the quantile coupling pairs the k-th smallest with the k-th smallest.
        return a @ (np.abs(u_sorted - v_sorted) ** p)
    u_cdf, v_cdf = np.cumsum(a), np.cumsum(b)
    u_cdf[-1] = v_cdf[-1] = 1.0  # both end at exactly 1 so the merged breakpoints line up
    breakpoints = np.union1d(u_cdf, v_cdf)
    lengths = np.diff(breakpoints, prepend=0.0)
    # On (t_{k-1}, t_k] the quantile F^{-1}(t) is the first sorted value whose CDF reaches t_k.
    u_index = np.minimum(np.searchsorted(u_cdf, breakpoints, side="left"), u_sorted.shape[0] - 1)
    v_index = np.minimum(np.searchsorted(v_cdf, breakpoints, side="left"), v_sorted.shape[0] - 1)
    return lengths @ (np.abs(u_sorted[u_index] - v_sorted[v_index]) ** p)


def _line_sample(values: ArrayLike, *, name: str) -> np.ndarray:
    array = as_float64(values, name=name)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or array.size == 0:
        raise GenlabError(f"{name} must be a non-empty 1-D sample, got shape {array.shape}")
    return array


def _check_order(p: float) -> None:
    if not p >= 1:
        raise GenlabError(f"the Wasserstein order p must be ≥ 1, got {p}")

"""KID against a naive double loop, scikit-learn's polynomial kernel, and its statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics.pairwise import polynomial_kernel as sklearn_polynomial_kernel

from genlab.errors import GenlabError
from genlab.metrics.kid import kernel_inception_distance, mmd2_unbiased, polynomial_kernel


def _naive_mmd2(x: np.ndarray, y: np.ndarray, k) -> float:
    """The U-statistic written out term by term (Gretton et al. 2012, eq. 3)."""
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def _sklearn_mmd2(x: np.ndarray, y: np.ndarray, **kernel) -> float:
    k_xx = sklearn_polynomial_kernel(x, x, **kernel)
    k_yy = sklearn_polynomial_kernel(y, y, **kernel)
    k_xy = sklearn_polynomial_kernel(x, y, **kernel)
    m, n = len(x), len(y)
    return (
        (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
        + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
        - 2 * k_xy.mean()
    )


def test_mmd2_matches_naive_double_loop(backend):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 3)).astype(backend.dtype)
    y = (rng.normal(size=(9, 3)) + 0.5).astype(backend.dtype)

    def cubic(u, v):
        return (float(u.astype(np.float64) @ v.astype(np.float64)) / 3 + 1) ** 3

    expected = _naive_mmd2(x, y, cubic)
    value = mmd2_unbiased(backend(x), backend(y))
    assert value == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(("degree", "gamma", "coef0"), [(3, None, 1.0), (2, 0.5, 0.0), (4, 0.1, 2)])
def test_mmd2_with_custom_kernel_matches_sklearn(degree, gamma, coef0):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 5)), rng.normal(size=(30, 5)) * 1.3

    def kernel(a, b):
        return polynomial_kernel(a, b, degree=degree, gamma=gamma, coef0=coef0)

    expected = _sklearn_mmd2(x, y, degree=degree, gamma=gamma, coef0=coef0)
    assert mmd2_unbiased(x, y, kernel) == pytest.approx(expected, rel=1e-10)


def test_mmd2_accepts_any_kernel():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(5, 2))

    def gaussian(a, b):
        return torch.exp(-(torch.cdist(a, b) ** 2) / 2)

    expected = _naive_mmd2(x, y, lambda u, v: np.exp(-np.sum((u - v) ** 2) / 2))
    assert mmd2_unbiased(x, y, gaussian) == pytest.approx(expected, rel=1e-10)


def test_kid_on_whole_sets_equals_sklearn_mmd2(backend):
    # With subset_size equal to both set sizes every subset is a permutation of the full sets, so
    # each subset gives the full-set MMD² and the spread is zero.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 8)).astype(backend.dtype)
    y = (rng.normal(size=(50, 8)) + 0.2).astype(backend.dtype)
    mean, std = kernel_inception_distance(backend(x), backend(y), num_subsets=3, subset_size=50)
    expected = _sklearn_mmd2(
        x.astype(np.float64), y.astype(np.float64)
    )  # sklearn: γ=1/d, c₀=1, p=3
    assert mean == pytest.approx(expected, rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-12 * abs(expected))


def test_kid_of_one_distribution_is_near_zero_and_shift_is_not():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8))
    same_mean, same_std = kernel_inception_distance(x, y, num_subsets=20, subset_size=200)
    shifted_mean, _ = kernel_inception_distance(x, y + 0.5, num_subsets=20, subset_size=200)
    assert abs(same_mean) < 3 * same_std
    assert shifted_mean > 20 * abs(same_mean)
    assert shifted_mean > 10 * same_std


def test_kid_is_reproducible_by_seed():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(300, 4)), rng.normal(size=(250, 4)) + 0.1
    options = {"num_subsets": 5, "subset_size": 100}
    first = kernel_inception_distance(x, y, seed=7, **options)
    assert (
        kernel_inception_distance(torch.from_numpy(x), torch.from_numpy(y), seed=7, **options)
        == first
    )
    assert kernel_inception_distance(x, y, seed=8, **options) != first


def test_kid_std_is_the_spread_over_subsets():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(100, 3)), rng.normal(size=(100, 3)) + 0.3
    generator = torch.Generator().manual_seed(0)
    values = []
    for _ in range(4):
        rows_x = torch.randperm(100, generator=generator)[:30].numpy()
        rows_y = torch.randperm(100, generator=generator)[:30].numpy()
        values.append(_sklearn_mmd2(x[rows_x], y[rows_y]))
    mean, std = kernel_inception_distance(x, y, num_subsets=4, subset_size=30, seed=0)
    assert mean == pytest.approx(np.mean(values), rel=1e-10)
    assert std == pytest.approx(np.std(values), rel=1e-8)


def test_too_small_set_names_sizes_and_fix():
    x, y = np.zeros((500, 4)), np.ones((2000, 4))
    with pytest.raises(
        GenlabError, match=r"subset_size=1000 .*\(500 and 2000\); pass subset_size <= 500"
    ):
        kernel_inception_distance(x, y)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"num_subsets": 0}, "num_subsets"), ({"subset_size": 1}, "subset_size")],
)
def test_bad_options_are_rejected(options, message):
    with pytest.raises(GenlabError, match=message):
        kernel_inception_distance(np.zeros((10, 2)), np.zeros((10, 2)), **options)

r"""Maximum mean discrepancy between two samples, with Gaussian or polynomial kernels.

For a kernel k with feature map φ into a reproducing-kernel Hilbert space H,

.. math::

    \mathrm{MMD}^2(P, Q) = \lVert \mathbb{E}_P φ(x) - \mathbb{E}_Q φ(y) \rVert_H^2
    = \mathbb{E}\,k(x, x') + \mathbb{E}\,k(y, y') - 2\,\mathbb{E}\,k(x, y),

x, x' ~ P and y, y' ~ Q independent (Gretton et al., "A kernel two-sample test", JMLR 2012). For a
characteristic kernel (the Gaussian) MMD = 0 iff P = Q. KID is this quantity with the cubic
polynomial kernel on Inception features (Bińkowski et al., "Demystifying MMD GANs", ICLR 2018).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genlab.arrays import check_integer
from genlab.divergences._backend import ArrayLike, as_points, same_dimension
from genlab.errors import GenlabError

KERNELS = ("gaussian", "polynomial")


def mmd2(
    x: ArrayLike,
    y: ArrayLike,
    *,
    kernel: str = "gaussian",
    bandwidth: float | None = None,
    degree: int = 3,
    unbiased: bool = True,
) -> float:
    r"""Squared MMD between samples x ~ P (n points) and y ~ Q (m points).

    Kernels:

    - ``"gaussian"``: k(x, y) = exp(-‖x - y‖² / (2σ²)), σ = ``bandwidth``; when None, σ is the
      median of the pairwise distances between distinct points of the pooled sample (the median
      heuristic, Gretton et al. 2012, section 8), see `median_heuristic_bandwidth`.
    - ``"polynomial"``: k(x, y) = (⟨x, y⟩/d + 1)^degree, the KID kernel for degree 3.

    Estimators (Gretton et al. 2012, Lemma 6 and eq. (5)):

    .. math::

        \widehat{\mathrm{MMD}}^2_u = \frac{1}{n(n-1)} \sum_{i \ne j} k(x_i, x_j)
            + \frac{1}{m(m-1)} \sum_{i \ne j} k(y_i, y_j)
            - \frac{2}{nm} \sum_{i, j} k(x_i, y_j),

    unbiased (it can be slightly negative when P = Q); with ``unbiased=False`` the V-statistic
    that keeps the diagonal terms (i = j), biased upwards but ≥ 0.

    Parameters
    ----------
    x, y
        Samples of shapes (n, d) and (m, d); numpy or torch, any float dtype. Memory O((n + m)²).
    kernel
        ``"gaussian"`` or ``"polynomial"``.
    bandwidth
        σ of the Gaussian kernel; None for the median heuristic. Ignored by the polynomial kernel.
    degree
        Degree of the polynomial kernel.
    unbiased
        The U-statistic (needs n, m ≥ 2) rather than the V-statistic.

    Returns
    -------
    float
        The MMD² estimate.
    """
    if kernel not in KERNELS:
        raise GenlabError(f"unknown kernel {kernel!r}; choose one of: {', '.join(KERNELS)}")
    min_count = 2 if unbiased else 1
    x_points = as_points(x, name="x", min_count=min_count)
    y_points = as_points(y, name="y", min_count=min_count)
    same_dimension(x_points, y_points)
    if kernel == "gaussian":
        sigma = median_heuristic_bandwidth(x_points, y_points) if bandwidth is None else bandwidth
        if not sigma > 0:
            raise GenlabError(f"the Gaussian bandwidth must be positive, got {sigma}")
        gram = lambda u, v: gaussian_kernel(u, v, bandwidth=sigma)  # noqa: E731
    else:
        check_integer(degree, "degree")
        gram = lambda u, v: polynomial_kernel(u, v, degree=degree)  # noqa: E731
    k_xx, k_yy, k_xy = gram(x_points, x_points), gram(y_points, y_points), gram(x_points, y_points)
    return mmd2_from_gram(k_xx, k_yy, k_xy, unbiased=unbiased)


def mmd2_from_gram(k_xx: Any, k_yy: Any, k_xy: Any, *, unbiased: bool = True) -> float:
    r"""MMD² from the Gram matrices K_xx (n, n), K_yy (m, m) and K_xy (n, m).

    The U-statistic of `mmd2` (diagonals left out) or, with ``unbiased=False``, the V-statistic.
    NumPy arrays or torch tensors, computed in their own dtype and device: KID
    (`genlab.metrics.kid`) calls it on float64 tensors of each subset.
    """
    return float(_mean_within(k_xx, unbiased) + _mean_within(k_yy, unbiased) - 2.0 * k_xy.mean())


def gaussian_kernel(x: np.ndarray, y: np.ndarray, *, bandwidth: float) -> np.ndarray:
    """Gram matrix exp(-‖x_i - y_j‖² / (2σ²)) of two (n, d), (m, d) float64 arrays."""
    return np.exp(-_squared_distances(x, y) / (2.0 * bandwidth**2))


def polynomial_kernel(
    x: Any, y: Any, *, degree: int = 3, gamma: float | None = None, coef0: float = 1.0
) -> Any:
    """Gram matrix (γ⟨x_i, y_j⟩ + c₀)^degree of two (n, d), (m, d) arrays or tensors.

    ``gamma=None`` means γ = 1/d: with c₀ = 1 and degree 3 the KID kernel (Bińkowski et al. 2018;
    scikit-learn's default γ too).
    """
    scale = 1.0 / x.shape[1] if gamma is None else gamma
    return (scale * (x @ y.T) + coef0) ** degree


def median_heuristic_bandwidth(x: ArrayLike, y: ArrayLike) -> float:
    """Median Euclidean distance between distinct points of the pooled sample x ∪ y.

    Raises `GenlabError` when all points coincide (no positive distance to take the median of).
    """
    pooled = np.concatenate([as_points(x, name="x"), as_points(y, name="y")])
    upper = np.triu_indices(pooled.shape[0], k=1)
    distances = np.sqrt(_squared_distances(pooled, pooled)[upper])
    positive = distances[distances > 0]
    if positive.size == 0:
        raise GenlabError("all points coincide, so the median heuristic fails; pass a bandwidth")
    return float(np.median(positive))


def _squared_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # ‖x‖² - 2x·y + ‖y‖² is fast but can go slightly negative by cancellation; clamp at 0.
    squared = np.sum(x**2, 1)[:, None] - 2.0 * x @ y.T + np.sum(y**2, 1)[None, :]
    return np.maximum(squared, 0.0)


def _mean_within(gram: Any, unbiased: bool) -> Any:
    """Mean of a square Gram matrix, without its diagonal when ``unbiased`` (array or tensor)."""
    if not unbiased:
        return gram.mean()
    count = gram.shape[0]
    return (gram.sum() - gram.diagonal().sum()) / (count * (count - 1))

"""Fréchet Inception Distance (FID) and its extrapolation to infinitely many samples (FID∞).

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium") is the Fréchet (2-Wasserstein) distance between two Gaussians fitted to feature sets:

    FID = ‖μ₁ − μ₂‖² + Tr(Σ₁) + Tr(Σ₂) − 2 Tr((Σ₁ Σ₂)^{1/2}).

It is a pure function of `FeatureStatistics`; which features (Inception pool3, pixels, ...) is the
extractor's business and is recorded in each statistics' ``protocol``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from genlab.errors import GenlabError
from genlab.metrics.statistics import FeatureStatistics, statistics_from_features
from genlab.metrics.validation import (
    ArrayLike,
    FIDBiasWarning,
    as_feature_pair,
    as_feature_tensor,
    check_same_dim,
    warn_if_rank_deficient,
)

#: A pivoted Cholesky residual above tolerance·max|Σ| rejects a covariance as not positive
#: semi-definite. Storing a PSD matrix in float32 moves it by about 2⁻²⁴·max|Σ| per entry and its
#: eigenvalues by up to about d·2⁻²⁴·λ_max (≈1e-4 for d = 2048), so anything beyond this is not
#: round-off but a matrix that is no covariance.
_PSD_TOLERANCE = 1e-4

#: Default number of subset sizes for FID∞, as in Chong & Forsyth (2020).
DEFAULT_FID_INFINITY_POINTS = 15


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Fréchet distance between the Gaussians N(μ₁, Σ₁) and N(μ₂, Σ₂).

        d² = ‖μ₁ − μ₂‖² + Tr(Σ₁) + Tr(Σ₂) − 2 Tr((Σ₁ Σ₂)^{1/2})

    computed in float64. The trace of the matrix square root comes from `trace_sqrt_product`
    (eigenvalues of G Gᵀ with G = F₁ᵀF₂ and Σᵢ = Fᵢ Fᵢᵀ), not from a general matrix square
    root. The result is a squared distance, so round-off below zero is returned as 0.

    Parameters
    ----------
    mu1, mu2 : array (d,)
        Means (NumPy or torch).
    sigma1, sigma2 : array (d, d)
        Symmetric positive semi-definite covariances (NumPy or torch).

    Returns
    -------
    float
        The squared Fréchet distance (this is what is reported as "FID").

    Raises
    ------
    GenlabError
        If shapes disagree, values are not finite, or a covariance is not symmetric PSD.
    """
    mu1, sigma1 = _gaussian(mu1, sigma1, "first")
    mu2, sigma2 = _gaussian(mu2, sigma2, "second")
    check_same_dim(mu1.shape[0], mu2.shape[0], what_a="first Gaussian", what_b="second Gaussian")
    difference = mu1 - mu2
    value = (
        float(difference @ difference)
        + float(np.trace(sigma1))
        + float(np.trace(sigma2))
        - 2.0 * trace_sqrt_product(sigma1, sigma2)
    )
    return max(value, 0.0)


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((Σ₁Σ₂)^{1/2}) for symmetric PSD Σ₁, Σ₂, from pivoted Cholesky factors.

    Each covariance is factored as Σ = F Fᵀ with F of shape d × r, r its numerical rank
    (`psd_factor`). Then Σ₁Σ₂ = F₁ (F₁ᵀF₂) F₂ᵀ, and AB and BA share their non-zero eigenvalues,
    so those of Σ₁Σ₂ are the eigenvalues of G Gᵀ with G = F₁ᵀF₂ (r₁ × r₂): the squared singular
    values of G. The trace of the principal square root is Σᵢ √λᵢ(G Gᵀ), a symmetric PSD
    eigenproblem of size min(r₁, r₂). This never forms a general matrix square root of Σ₁Σ₂,
    whose complex round-off (imaginary parts, slightly negative eigenvalues) would need ad-hoc
    fixing, and it is exact for the singular covariances N ≤ d samples give (rank N − 1), where
    the work shrinks with N. Tiny negative eigenvalues from round-off are clamped to 0 before
    the square root. On 2 CPU cores at d = 2048 (`benchmarks/fid_throughput.py`,
    docs/evaluation.md): 0.6-0.8 s at rank 499 and 1.5-1.7 s at full rank, against 1.9-2.9 s for
    the symmetric square root Σ₁^{1/2} Σ₂ Σ₁^{1/2} and 10-12 s for ``scipy.linalg.sqrtm(Σ₁Σ₂)``;
    4e-16 relative from the exact value.

    Raises
    ------
    GenlabError
        If either covariance is not PSD (beyond round-off: `_PSD_TOLERANCE`).
    """
    cross = psd_factor(sigma1, "first covariance").T @ psd_factor(sigma2, "second covariance")
    gram = cross @ cross.T if cross.shape[0] <= cross.shape[1] else cross.T @ cross
    eigenvalues = np.linalg.eigvalsh(gram)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def psd_factor(sigma: np.ndarray, what: str) -> np.ndarray:
    """F (d × r) with Σ = F Fᵀ for a symmetric PSD Σ, r its numerical rank.

    LAPACK's pivoted Cholesky (``dpstrf``, Higham 1990) stops once every remaining diagonal
    pivot is below d·ε·max Σᵢᵢ, so r is the rank up to round-off and the cost is O(d²r). At
    full rank the factorisation itself proves Σ positive definite. Below it, a matrix that is
    not PSD is caught by its residual: for a PSD Σ the part left unfactored is itself PSD with
    a tiny diagonal, so all its entries are tiny; anything larger than `_PSD_TOLERANCE`·max|Σ|
    is no covariance.

    Raises
    ------
    GenlabError
        If Σ is not PSD.
    """
    # Imported here: scipy.linalg costs 0.2-0.4 s to import, and only this function needs it.
    from scipy.linalg.lapack import dpstrf

    lower, pivots, rank, info = dpstrf(sigma, lower=1, tol=-1.0)
    if info < 0:
        raise GenlabError(f"{what}: LAPACK dpstrf refused argument {-info}; pass a d × d matrix")
    factor = np.empty((sigma.shape[0], rank))
    factor[pivots - 1] = np.tril(lower[:, :rank])
    if rank < sigma.shape[0]:
        scale = float(np.abs(sigma).max())
        if float(np.abs(sigma - factor @ factor.T).max()) > _PSD_TOLERANCE * scale:
            raise GenlabError(
                f"{what} is not positive semi-definite (eigenvalue "
                f"{np.linalg.eigvalsh(sigma).min():.3g}); pass covariance matrices"
            )
    return factor


def fid_from_statistics(
    stats_a: FeatureStatistics, stats_b: FeatureStatistics, *, check_protocol: bool = True
) -> float:
    """FID between two sets of feature statistics.

    Warns with `FIDBiasWarning` when either set has no more samples than feature dimensions.

    Parameters
    ----------
    stats_a, stats_b : FeatureStatistics
        Statistics of the two feature sets.
    check_protocol : bool
        If both statistics carry a non-empty ``protocol`` and they differ (different extractor,
        weights or resizing), raise: such features live in different spaces and their FID means
        nothing. Pass False to compare them anyway.
    """
    for what, stats in (("stats_a", stats_a), ("stats_b", stats_b)):
        if not isinstance(stats, FeatureStatistics):
            raise GenlabError(f"{what} must be FeatureStatistics, got {type(stats).__name__}")
    check_same_dim(stats_a.dim, stats_b.dim, what_a="stats_a", what_b="stats_b")
    if check_protocol:
        _check_same_protocol(stats_a.protocol, stats_b.protocol)
    warn_if_rank_deficient(stats_a.n, stats_a.dim, what="stats_a")
    warn_if_rank_deficient(stats_b.n, stats_b.dim, what="stats_b")
    return frechet_distance(stats_a.mu, stats_a.sigma, stats_b.mu, stats_b.sigma)


def fid_from_features(features_a: ArrayLike, features_b: ArrayLike) -> float:
    """FID between two feature sets of shape (N_a, d) and (N_b, d), NumPy or torch."""
    a, b = as_feature_pair(features_a, features_b, min_samples=2)
    return fid_from_statistics(statistics_from_features(a), statistics_from_features(b))


@dataclass(frozen=True)
class FIDInfinityResult:
    """FID∞ and the points it was extrapolated from.

    Attributes
    ----------
    value : float
        FID∞, the intercept of the fitted line FID(N) = value + slope / N.
    slope : float
        Fitted slope against 1/N (the bias per inverse sample).
    sizes : tuple of int
        Subset sizes N used.
    fids : tuple of float
        FID measured at each size.
    """

    value: float
    slope: float
    sizes: tuple[int, ...]
    fids: tuple[float, ...]


def fid_infinity(
    features_a: ArrayLike,
    stats_b: FeatureStatistics,
    *,
    sizes: tuple[int, ...] | list[int] | None = None,
    num_points: int = DEFAULT_FID_INFINITY_POINTS,
    seed: int = 0,
    protocol: dict[str, Any] | None = None,
) -> FIDInfinityResult:
    """Effectively unbiased FID: extrapolate FID to an infinite number of samples.

    FID computed from N samples is biased upwards, with a bias that is linear in 1/N to first order
    and depends on the generator, so FIDs at one fixed N can rank models wrongly. Chong & Forsyth
    (2020, "Effectively Unbiased FID and Inception Score and where to find them") compute
    FID(N) on random subsets of several sizes N, fit FID(N) ≈ FID∞ + k/N by least squares, and
    report the intercept FID∞ (the value at 1/N = 0).

    Parameters
    ----------
    features_a : array (N, d)
        Features of the generated images; subsets are drawn from these without replacement.
    stats_b : FeatureStatistics
        Reference statistics (usually of the full real data set, held fixed).
    sizes : sequence of int, optional
        Subset sizes. Default: ``num_points`` sizes evenly spaced from N/10 to N (with N = 50 000
        this is the paper's 5 000 … 50 000).
    num_points : int
        Number of default sizes (15, as in the paper); ignored when ``sizes`` is given.
    seed : int
        Seed of the subset sampling (NumPy ``default_rng``), so the result is reproducible.
    protocol : dict, optional
        Protocol of ``features_a``, checked against ``stats_b.protocol`` when both are non-empty.

    Returns
    -------
    FIDInfinityResult
        FID∞, the fitted slope and the (size, FID) points.
    """
    features = as_feature_tensor(features_a, what="features_a", min_samples=2)
    check_same_dim(features.shape[1], stats_b.dim, what_a="features_a", what_b="stats_b")
    chosen = _fid_infinity_sizes(features.shape[0], sizes, num_points)
    if chosen[0] <= features.shape[1]:
        warn_if_rank_deficient(chosen[0], features.shape[1], what="smallest FID∞ subset")
    rng = np.random.default_rng(seed)
    fids = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FIDBiasWarning)  # warned once above, not per subset
        for size in chosen:
            rows = torch.from_numpy(rng.choice(features.shape[0], size=size, replace=False))
            subset = statistics_from_features(features[rows.to(features.device)], protocol=protocol)
            fids.append(fid_from_statistics(subset, stats_b))
    intercept, slope = fit_inverse_size(chosen, fids)
    return FIDInfinityResult(value=intercept, slope=slope, sizes=tuple(chosen), fids=tuple(fids))


def fit_inverse_size(
    sizes: list[int] | tuple[int, ...], values: list[float]
) -> tuple[float, float]:
    """Least-squares fit of values ≈ intercept + slope / N; returns (intercept, slope).

    The intercept is the value extrapolated to infinitely many samples (1/N → 0).
    """
    if len(sizes) != len(values) or len(set(sizes)) < 2:
        raise GenlabError(
            f"need values at 2 or more distinct sizes to extrapolate, got sizes {list(sizes)}"
        )
    inverse = 1.0 / np.asarray(sizes, dtype=np.float64)
    slope, intercept = np.polyfit(inverse, np.asarray(values, dtype=np.float64), deg=1)
    return float(intercept), float(slope)


def _fid_infinity_sizes(
    n: int, sizes: tuple[int, ...] | list[int] | None, num_points: int
) -> list[int]:
    if sizes is None:
        if num_points < 2:
            raise GenlabError(f"num_points must be at least 2 to fit a line, got {num_points}")
        sizes = np.linspace(max(2, n // 10), n, num_points).round().astype(int).tolist()
    chosen = sorted({int(size) for size in sizes})
    if len(chosen) < 2:
        raise GenlabError(f"FID∞ needs 2 or more distinct subset sizes, got {list(sizes)}")
    if chosen[0] < 2 or chosen[-1] > n:
        raise GenlabError(
            f"FID∞ subset sizes must lie in [2, {n}] (the number of features), got {chosen}; "
            "pass smaller sizes or more features"
        )
    return chosen


def _gaussian(mu: ArrayLike, sigma: ArrayLike, what: str) -> tuple[np.ndarray, np.ndarray]:
    mu = _float64(mu)
    sigma = _float64(sigma)
    if mu.ndim != 1 or mu.shape[0] == 0 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise GenlabError(
            f"{what} Gaussian needs mu of shape (d,) and sigma of shape (d, d), got {mu.shape} "
            f"and {sigma.shape}"
        )
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise GenlabError(f"{what} Gaussian has NaN or inf values; recompute its statistics")
    scale = max(float(np.abs(sigma).max()), np.finfo(np.float64).tiny)
    if float(np.abs(sigma - sigma.T).max()) > 1e-6 * scale:
        raise GenlabError(f"{what} covariance is not symmetric; pass a covariance matrix")
    return mu, (sigma + sigma.T) / 2


def _float64(value: ArrayLike) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _check_same_protocol(protocol_a: dict[str, Any], protocol_b: dict[str, Any]) -> None:
    if not protocol_a or not protocol_b or protocol_a == protocol_b:
        return
    differing = sorted(
        key
        for key in protocol_a.keys() | protocol_b.keys()
        if protocol_a.get(key) != protocol_b.get(key)
    )
    details = ", ".join(
        f"{key}: {protocol_a.get(key)!r} vs {protocol_b.get(key)!r}" for key in differing
    )
    raise GenlabError(
        f"the statistics were made by different feature protocols ({details}); recompute one of "
        "them with the other's extractor, or pass check_protocol=False"
    )

"""FID against scipy.linalg.sqrtm, closed forms for diagonal and equal covariances, and FID∞."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from genlab.errors import GenlabError
from genlab.metrics import fid as fid_module
from genlab.metrics.fid import (
    fid_from_features,
    fid_from_statistics,
    fid_infinity,
    fit_inverse_size,
    frechet_distance,
)
from genlab.metrics.statistics import FeatureStatistics
from genlab.metrics.validation import FIDBiasWarning


def _random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    factor = rng.normal(size=(d, 2 * d))
    return factor @ factor.T / (2 * d) + 0.05 * np.eye(d)


def _sqrtm_reference(mu1, sigma1, mu2, sigma2) -> float:
    """The formula as pytorch-fid states it, with scipy's Schur-based matrix square root."""
    root = scipy.linalg.sqrtm(sigma1 @ sigma2)
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(sigma1 + sigma2 - 2 * root).real)


def _backend(values: np.ndarray, backend: str):
    return values if backend == "numpy" else torch.from_numpy(values)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("d", [8, 64, 256])
def test_matches_scipy_sqrtm_formula(d, backend):
    rng = np.random.default_rng(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    sigma1, sigma2 = _random_spd(rng, d), _random_spd(rng, d)
    value = frechet_distance(*(_backend(v, backend) for v in (mu1, sigma1, mu2, sigma2)))
    assert value == pytest.approx(_sqrtm_reference(mu1, sigma1, mu2, sigma2), rel=1e-6)


def test_diagonal_covariances_have_closed_form():
    # For commuting (here diagonal) covariances Tr((Σ₁Σ₂)^½) = Σ √(a_i b_i), so
    # FID = ‖μ₁−μ₂‖² + Σ (√a_i − √b_i)², including zero variances (singular covariances).
    a = np.array([0.0, 1.0, 4.0, 9.0, 0.25])
    b = np.array([1.0, 1.0, 0.0, 16.0, 2.0])
    mu1, mu2 = np.arange(5.0), np.ones(5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    value = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("d", [8, 64])
def test_equal_covariances_leave_the_mean_term(d):
    rng = np.random.default_rng(10 + d)
    sigma = _random_spd(rng, d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(
        float((mu1 - mu2) @ (mu1 - mu2)), rel=1e-8
    )


def test_identical_statistics_give_zero():
    rng = np.random.default_rng(3)
    sigma = _random_spd(rng, 64)
    mu = rng.normal(size=64)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9 * np.trace(sigma))


def test_symmetric_in_its_arguments():
    rng = np.random.default_rng(4)
    mu1, mu2 = rng.normal(size=32), rng.normal(size=32)
    sigma1, sigma2 = _random_spd(rng, 32), _random_spd(rng, 32)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(
        frechet_distance(mu2, sigma2, mu1, sigma1), rel=1e-10
    )


def test_one_dimensional_gaussians():
    # 1-D: W2² = (m1 − m2)² + (s1 − s2)² for standard deviations s1, s2.
    value = frechet_distance(
        np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[9.0]])
    )
    assert value == pytest.approx(9.0 + 1.0, rel=1e-12)


@pytest.mark.parametrize(
    ("mu", "sigma", "message"),
    [
        (np.zeros(3), np.eye(2), "sigma of shape"),
        (np.zeros((3, 1)), np.eye(3), "mu of shape"),
        (np.array([np.nan, 0.0]), np.eye(2), "NaN or inf"),
        (np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), "not symmetric"),
        (np.zeros(2), np.diag([1.0, -1.0]), "not positive semi-definite"),
    ],
)
def test_bad_gaussians_are_rejected(mu, sigma, message):
    with pytest.raises(GenlabError, match=message):
        frechet_distance(mu, sigma, np.zeros(2), np.eye(2))


def test_non_psd_second_covariance_is_rejected():
    with pytest.raises(GenlabError, match="second covariance is not positive semi-definite"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.diag([1.0, -1.0]))


@pytest.mark.parametrize(("n1", "n2"), [(5, 40), (40, 5), (20, 20), (200, 12)])
def test_rank_deficient_covariances_match_the_nuclear_norm(n1, n2):
    # Σ₁ = AAᵀ and Σ₂ = BBᵀ (rank n − 1 < d, as from n ≤ d samples): Σ₁Σ₂ has the non-zero
    # eigenvalues of (AᵀB)(AᵀB)ᵀ, so Tr((Σ₁Σ₂)^½) is the sum of the singular values of AᵀB.
    rng = np.random.default_rng(n1 * 1000 + n2)
    d = 64
    a = rng.normal(size=(n1, d)) @ rng.normal(size=(d, d)) / d
    b = rng.normal(size=(n2, d)) @ rng.normal(size=(d, d)) / d + 0.1
    centred_a, centred_b = a - a.mean(0), b - b.mean(0)
    factor_a, factor_b = centred_a.T / np.sqrt(n1 - 1), centred_b.T / np.sqrt(n2 - 1)
    nuclear = np.linalg.svd(factor_a.T @ factor_b, compute_uv=False).sum()
    sigma_a, sigma_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    assert fid_module.trace_sqrt_product(sigma_a, sigma_b) == pytest.approx(nuclear, rel=1e-9)
    expected = float(
        (a.mean(0) - b.mean(0)) @ (a.mean(0) - b.mean(0))
        + np.trace(sigma_a)
        + np.trace(sigma_b)
        - 2 * nuclear
    )
    value = frechet_distance(a.mean(0), sigma_a, b.mean(0), sigma_b)
    assert value == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("n", [1, 5, 64, 300])
def test_psd_factor_reconstructs_the_covariance_at_its_rank(n):
    rng = np.random.default_rng(n)
    samples = rng.normal(size=(n, 64)) @ rng.normal(size=(64, 64))
    sigma = np.cov(samples, rowvar=False) if n > 1 else np.zeros((64, 64))
    factor = fid_module.psd_factor(sigma, "covariance")
    # Rank n − 1 (64 at most); LAPACK may keep one round-off pivot just above its tolerance on
    # another BLAS, which changes nothing the reconstruction below can see.
    assert factor.shape[0] == 64
    assert min(n - 1, 64) <= factor.shape[1] <= min(n, 64)
    np.testing.assert_allclose(factor @ factor.T, sigma, atol=1e-10 * max(np.abs(sigma).max(), 1))


def test_indefinite_covariance_with_a_zero_diagonal_is_rejected():
    # No pivot is positive, so a factorisation alone would return rank 0; the residual catches it.
    swap = np.array([[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(GenlabError, match="first covariance is not positive semi-definite"):
        frechet_distance(np.zeros(2), swap, np.zeros(2), np.eye(2))


def test_zero_covariance_leaves_the_other_trace():
    rng = np.random.default_rng(7)
    sigma = _random_spd(rng, 16)
    value = frechet_distance(np.zeros(16), np.zeros((16, 16)), np.zeros(16), sigma)
    assert value == pytest.approx(np.trace(sigma), rel=1e-12)


def test_dimension_mismatch_is_rejected():
    with pytest.raises(GenlabError, match="3 features per sample but second Gaussian has 2"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fid_from_features_matches_numpy_statistics(backend, dtype):
    rng = np.random.default_rng(5)
    a = rng.normal(size=(500, 6)).astype(dtype)
    b = (rng.normal(size=(400, 6)) * 1.5 + 0.3).astype(dtype)
    expected = _sqrtm_reference(
        a.astype(np.float64).mean(0),
        np.cov(a.astype(np.float64), rowvar=False),
        b.astype(np.float64).mean(0),
        np.cov(b.astype(np.float64), rowvar=False),
    )
    assert fid_from_features(_backend(a, backend), _backend(b, backend)) == pytest.approx(
        expected, rel=1e-9
    )


def _stats(d: int, n: int, protocol: dict | None = None) -> FeatureStatistics:
    return FeatureStatistics(mu=np.zeros(d), sigma=np.eye(d), n=n, protocol=protocol or {})


def test_fid_from_statistics_checks_protocols():
    first = _stats(3, 10, {"extractor": "inception", "resize": "tf1"})
    second = _stats(3, 10, {"extractor": "inception", "resize": "pil"})
    with pytest.raises(GenlabError, match=r"resize: 'tf1' vs 'pil'"):
        fid_from_statistics(first, second)
    assert fid_from_statistics(first, second, check_protocol=False) == pytest.approx(0.0, abs=1e-12)
    assert fid_from_statistics(first, _stats(3, 10)) == pytest.approx(0.0, abs=1e-12)


def test_fid_from_statistics_warns_when_samples_do_not_exceed_dimensions():
    with pytest.warns(FIDBiasWarning, match="stats_b: 8 samples in 16 dimensions"):
        fid_from_statistics(_stats(16, 1000), _stats(16, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fid_from_statistics(_stats(16, 17), _stats(16, 17))


def test_fid_from_statistics_rejects_other_types():
    with pytest.raises(GenlabError, match="stats_a must be FeatureStatistics"):
        fid_from_statistics(np.zeros(3), _stats(3, 10))


def test_fit_inverse_size_recovers_an_exact_line():
    sizes = [100, 250, 400, 1000]
    intercept, slope = fit_inverse_size(sizes, [3.0 + 50.0 / n for n in sizes])
    assert intercept == pytest.approx(3.0, rel=1e-10)
    assert slope == pytest.approx(50.0, rel=1e-10)


def test_fid_infinity_extrapolates_exact_a_plus_b_over_n(monkeypatch):
    # Replace the FID of each subset by exactly a + b/N to check the sampling and the fit.
    monkeypatch.setattr(fid_module, "fid_from_statistics", lambda stats, ref: 2.5 + 700.0 / stats.n)
    features = np.random.default_rng(6).normal(size=(1000, 4))
    result = fid_infinity(features, _stats(4, 10**6))
    assert result.value == pytest.approx(2.5, rel=1e-10)
    assert result.slope == pytest.approx(700.0, rel=1e-10)
    assert len(result.sizes) == 15
    assert result.sizes[0] == 100
    assert result.sizes[-1] == 1000  # the paper's N/10 … N spacing
    assert result.fids[0] == pytest.approx(2.5 + 7.0)


def test_fid_infinity_removes_the_finite_sample_bias():
    # Samples from the reference Gaussian itself: the true FID is 0 but FID(N) ≈ k/N > 0.
    d = 16
    features = np.random.default_rng(7).normal(size=(4000, d))
    result = fid_infinity(features, _stats(d, 10**9), seed=1)
    assert result.fids[0] > result.fids[-1] > 0.01
    # The extrapolation lands nearer the true 0 than even the largest sample's FID (at most 0.47
    # of it over 55 draws of the features; a tenth of it typically).
    assert abs(result.value) < result.fids[-1]
    assert 40 < result.slope < 160  # first-order bias ≈ d + d(d+1)/4 = 84 for N(0, I)


def test_fid_infinity_is_reproducible_and_seeded():
    features = np.random.default_rng(8).normal(size=(600, 3))
    first = fid_infinity(torch.from_numpy(features), _stats(3, 10**6), num_points=5, seed=3)
    again = fid_infinity(features, _stats(3, 10**6), num_points=5, seed=3)
    other = fid_infinity(features, _stats(3, 10**6), num_points=5, seed=4)
    assert first == again
    assert first.fids[:-1] != other.fids[:-1]


def test_fid_infinity_rejects_bad_sizes():
    features = np.zeros((50, 2)) + np.arange(50.0)[:, None] * np.array([1.0, -1.0])
    with pytest.raises(GenlabError, match=r"must lie in \[2, 50\]"):
        fid_infinity(features, _stats(2, 100), sizes=[10, 60])
    with pytest.raises(GenlabError, match="2 or more distinct"):
        fid_infinity(features, _stats(2, 100), sizes=[10, 10])

"""Bootstrap intervals: containment, coverage on a Gaussian mean shift, FID's resampling bias."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.errors import GenlabError
from genlab.metrics.bootstrap import ConfidenceInterval, bootstrap_ci, fid_with_ci, kid_with_ci
from genlab.metrics.fid import fid_from_features
from genlab.metrics.kid import kernel_inception_distance


def mean_difference(a, b) -> float:
    return float(b.mean() - a.mean())


@pytest.mark.parametrize("method", ["percentile", "shifted_percentile"])
def test_interval_contains_the_point_estimate(method):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(80, 1)), rng.normal(size=(60, 1)) + 0.5
    point, low, high = bootstrap_ci(mean_difference, a, b, num_resamples=300, method=method)
    assert point == pytest.approx(mean_difference(a, b))
    assert low < point < high


def test_percentile_bounds_are_quantiles_of_resampled_values():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(30, 2)), rng.normal(size=(40, 2))
    resampler = np.random.default_rng(5)  # the same draws, in the same order, as the function
    values = [
        mean_difference(a[resampler.integers(0, 30, 30)], b[resampler.integers(0, 40, 40)])
        for _ in range(50)
    ]
    result = bootstrap_ci(mean_difference, a, b, num_resamples=50, confidence=0.8, seed=5)
    assert result.low == pytest.approx(np.quantile(values, 0.1), rel=1e-12)
    assert result.high == pytest.approx(np.quantile(values, 0.9), rel=1e-12)
    shifted = bootstrap_ci(
        mean_difference, a, b, num_resamples=50, confidence=0.8, seed=5, method="shifted_percentile"
    )
    bias = np.mean(values) - result.point
    assert shifted.low == pytest.approx(result.low - bias, rel=1e-12)
    assert shifted.high == pytest.approx(result.high - bias, rel=1e-12)


@pytest.mark.parametrize("method", ["percentile", "shifted_percentile"])
def test_coverage_of_a_gaussian_mean_shift(method):
    # The difference of means is unbiased with a normal sampling distribution, so a 90 % interval
    # should contain the true shift in about 90 % of independent experiments.
    rng = np.random.default_rng(2)
    shift, trials = 0.3, 120
    covered = 0
    for trial in range(trials):
        a, b = rng.normal(size=(50, 1)), rng.normal(size=(50, 1)) + shift
        _, low, high = bootstrap_ci(
            mean_difference, a, b, num_resamples=200, confidence=0.9, seed=trial, method=method
        )
        covered += low <= shift <= high
    assert 0.8 <= covered / trials <= 0.97


def test_fid_resampling_bias_is_removed_by_the_shifted_interval():
    # Resampling with replacement inflates FID by more than its spread, so the plain percentile
    # interval lies above the point estimate; the shifted interval is centred on it.
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16)) + 0.1
    plain = fid_with_ci(a, b, num_resamples=40, method="percentile")
    shifted = fid_with_ci(a, b, num_resamples=40)
    assert plain.point == shifted.point == pytest.approx(fid_from_features(a, b))
    assert plain.low > plain.point
    assert shifted.low < shifted.point < shifted.high
    assert shifted.high - shifted.low == pytest.approx(plain.high - plain.low)


def test_kid_with_ci_contains_the_point_and_passes_subset_options():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(120, 4)), rng.normal(size=(100, 4)) + 0.3
    point, low, high = kid_with_ci(a, b, num_resamples=30, num_subsets=2, subset_size=50)
    assert point == kernel_inception_distance(a, b, num_subsets=2, subset_size=50)[0]
    assert low < point < high


def test_deterministic_by_seed_and_same_for_numpy_and_torch():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(40, 3)), rng.normal(size=(50, 3))
    first = bootstrap_ci(mean_difference, a, b, num_resamples=20, seed=9)
    assert isinstance(first, ConfidenceInterval)
    assert bootstrap_ci(mean_difference, a, b, num_resamples=20, seed=9) == first
    torch_result = bootstrap_ci(
        mean_difference, torch.from_numpy(a), torch.from_numpy(b), num_resamples=20, seed=9
    )
    assert torch_result == pytest.approx(first, rel=1e-12)
    assert bootstrap_ci(mean_difference, a, b, num_resamples=20, seed=10) != first


def test_metric_receives_the_input_type():
    seen = set()

    def record(a, b):
        seen.add((type(a), type(b)))
        return 0.0

    bootstrap_ci(record, torch.zeros(5, 2), torch.ones(6, 2), num_resamples=3)
    assert seen == {(torch.Tensor, torch.Tensor)}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_resamples": 1}, "num_resamples"),
        ({"confidence": 1.0}, "confidence"),
        ({"method": "bca"}, "method"),
    ],
)
def test_bad_options_are_rejected(options, message):
    with pytest.raises(GenlabError, match=message):
        bootstrap_ci(mean_difference, np.zeros((5, 1)), np.zeros((5, 1)), **options)


def test_non_finite_metric_is_reported():
    with pytest.raises(GenlabError, match="returned nan"):
        bootstrap_ci(lambda a, b: float("nan"), np.zeros((5, 1)), np.zeros((5, 1)))


def test_bad_features_fail_before_resampling():
    with pytest.raises(GenlabError, match="features_a has 3 features per sample"):
        bootstrap_ci(mean_difference, np.zeros((5, 3)), np.zeros((5, 2)))

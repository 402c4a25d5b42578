"""The built-in metrics' ``compute`` functions: what was extracted → result values.

Each takes a `genlab.metrics.registry.MetricInputs` and returns the values under the keys its
record declares (`genlab.metrics.keys`), calling the pure metric functions of this package. The
records in `genlab.metrics.registry` name these functions; `genlab.metrics.evaluate` calls them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from genlab.metrics import keys
from genlab.metrics.bootstrap import fid_with_ci, kid_with_ci
from genlab.metrics.fid import fid_from_statistics
from genlab.metrics.fid import fid_infinity as _fid_infinity
from genlab.metrics.isc import inception_score as _inception_score
from genlab.metrics.kid import kernel_inception_distance
from genlab.metrics.modes import mode_coverage
from genlab.metrics.prdc import density_coverage as _density_coverage
from genlab.metrics.prdc import precision_recall as _precision_recall
from genlab.metrics.registry import CI_METHOD, DC_K, IS_SPLITS, PR_K, MetricInputs


def fid(inputs: MetricInputs) -> dict[str, float]:
    """FID of the two sides' statistics; with ``ci``, its bootstrap interval over features."""
    a, b, options = inputs.a, inputs.b, inputs.options
    result = {keys.FID: fid_from_statistics(a.statistics, b.statistics)}
    if options.ci:
        result.update(_interval(keys.FID, fid_with_ci, inputs))
    return result


def fid_infinity(inputs: MetricInputs) -> dict[str, float]:
    """FID∞ of B's features against A's statistics."""
    value = _fid_infinity(
        inputs.b.features, inputs.a.statistics, seed=inputs.options.seed, protocol=inputs.protocol
    ).value
    return {keys.FID_INFINITY: value}


def kid(inputs: MetricInputs) -> dict[str, float]:
    """KID's mean and spread over subsets; with ``ci``, the mean's bootstrap interval."""
    a, b, options = inputs.a, inputs.b, inputs.options
    mean, std = kernel_inception_distance(
        a.features,
        b.features,
        num_subsets=options.kid_subsets,
        subset_size=options.kid_subset_size,
        seed=options.seed,
    )
    result = {keys.KID_MEAN: mean, keys.KID_STD: std}
    if options.ci:
        subsets = {"num_subsets": options.kid_subsets, "subset_size": options.kid_subset_size}
        result.update(_interval(keys.KID_MEAN, kid_with_ci, inputs, **subsets))
    return result


def inception_score(inputs: MetricInputs) -> dict[str, float]:
    """The Inception Score of B's logits over `IS_SPLITS` splits."""
    mean, std = _inception_score(inputs.b.logits, splits=IS_SPLITS)
    return {keys.IS_MEAN: mean, keys.IS_STD: std}


def precision_recall(inputs: MetricInputs) -> dict[str, float]:
    return _precision_recall(inputs.a.features, inputs.b.features, k=PR_K)


def density_coverage(inputs: MetricInputs) -> dict[str, float]:
    return _density_coverage(inputs.a.features, inputs.b.features, k=DC_K)


def modes(inputs: MetricInputs) -> dict[str, Any]:
    """Mode coverage of B's class probabilities (softmax of the classifier's logits, float64)."""
    probabilities = torch.softmax(inputs.b.logits.double(), dim=1)
    return mode_coverage(probabilities, num_classes=probabilities.shape[1])


def reconstruction(inputs: MetricInputs) -> dict[str, float]:
    """Reconstruction error of B's VAE on A's images."""
    from genlab.metrics.evaluate import reconstruction_metrics

    options = inputs.options
    return reconstruction_metrics(
        inputs.source_a,
        inputs.source_b,
        batch_size=options.batch_size,
        progress=options.progress,
    )


def _interval(
    key: str, with_ci: Callable[..., Any], inputs: MetricInputs, **options: Any
) -> dict[str, float]:
    """The bootstrap interval of ``key`` from ``with_ci`` (`genlab.metrics.bootstrap`)."""
    interval = with_ci(
        inputs.a.features,
        inputs.b.features,
        num_resamples=inputs.options.ci_resamples,
        seed=inputs.options.seed,
        method=CI_METHOD,
        **options,
    )
    return {key + keys.CI_LOW_SUFFIX: interval.low, key + keys.CI_HIGH_SUFFIX: interval.high}


def cmmd(inputs: MetricInputs) -> dict[str, float]:
    """CMMD of the two sides' CLIP embeddings (`genlab.metrics.cmmd`)."""
    from genlab.metrics.cmmd import cmmd as _cmmd

    return {keys.CMMD: _cmmd(inputs.a.features, inputs.b.features)}

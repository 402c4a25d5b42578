"""Measuring generated images: pure metric functions of features, the registries, the drivers.

For users who extract features themselves, the metric functions are importable from here
(``from genlab.metrics import frechet_distance, precision_recall``); `available` lists the
registered metrics with one line each, `list_extractors` the feature extractors. Each name loads
its module on first use, so ``import genlab.metrics`` stays as light as the registry (no torch).
The drivers are `genlab.evaluate` (one call on anything that holds images) and `genlab.Metrics`
(streaming, for training loops).
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module of genlab.metrics that defines it
_EXPORTS = {
    # statistics and the Fréchet distance
    "FeatureStatistics": "statistics",
    "RunningStatistics": "statistics",
    "statistics_from_features": "statistics",
    "frechet_distance": "fid",
    "fid_from_features": "fid",
    "fid_from_statistics": "fid",
    "fid_infinity": "fid",
    # kernels, neighbourhoods, classifiers
    "kernel_inception_distance": "kid",
    "mmd2_unbiased": "kid",
    "precision_recall": "prdc",
    "density_coverage": "prdc",
    "inception_score": "isc",
    "mode_coverage": "modes",
    "reconstruction_error": "reconstruction",
    # intervals
    "bootstrap_ci": "bootstrap",
    "fid_with_ci": "bootstrap",
    "kid_with_ci": "bootstrap",
    # registries and results
    "available": "registry",
    "register": "registry",
    "Metric": "registry",
    "ResultKey": "registry",
    "Needs": "registry",
    "list_extractors": "features.registry",
    "get_extractor": "features.registry",
    "register_extractor": "features.registry",
    "EvaluationResult": "result",
    "Metrics": "streaming",
    "compute_statistics": "evaluate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'genlab.metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"genlab.metrics.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})

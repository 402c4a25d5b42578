"""Divergences and distances between distributions, and Lipschitz bounds of networks.

The names below are importable from here (``from genlab.divergences import kl_divergence``);
each loads its module on first use, so importing one does not pull in POT, scipy's spatial
trees or the critic networks that the others need.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module of genlab.divergences that defines it
_EXPORTS = {
    "kl_divergence": "discrete",
    "js_divergence": "discrete",
    "knn_kl_divergence": "knn",
    "classifier_js_lower_bound": "classifier",
    "ClassifierJSResult": "classifier",
    "wasserstein_1d": "wasserstein",
    "exact_wasserstein": "wasserstein",
    "sliced_wasserstein": "wasserstein",
    "sinkhorn_divergence": "wasserstein",
    "entropic_ot": "wasserstein",
    "mmd2": "mmd",
    "gaussian_kernel": "mmd",
    "polynomial_kernel": "mmd",
    "median_heuristic_bandwidth": "mmd",
    "critic_wasserstein": "critic",
    "fit_critic": "critic",
    "estimate_w1": "critic",
    "CriticFit": "critic",
    "W1Estimate": "critic",
    "lipschitz_report": "lipschitz",
    "spectral_product_bound": "lipschitz",
    "clip_bound": "lipschitz",
    "max_gradient_norm": "lipschitz",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'genlab.divergences' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"genlab.divergences.{_EXPORTS[name]}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

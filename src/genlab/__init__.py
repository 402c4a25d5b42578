"""genlab: train deep generative models of images and measure how good the generated images are.

``genlab.evaluate(a, b, metrics="fid,kid")`` measures images B against a reference A, whatever
holds them (a data set spec, a folder, an archive, an .npz, a run, an array or tensor, a
generator); ``genlab.Metrics`` does the same batch by batch inside a training loop. Both return an
`EvaluationResult`: the values, their protocol, a readable table. See docs/api.md.
"""

from __future__ import annotations

import importlib
from typing import Any

from genlab.errors import GenlabError

__version__ = "0.1.0"

# public name -> module that defines it, imported on first use so that `import genlab` (and
# `genlab --help`) does not load torch
_EXPORTS = {
    "evaluate": "genlab.metrics.evaluate",
    "compute_statistics": "genlab.metrics.evaluate",
    "Metrics": "genlab.metrics.streaming",
    "EvaluationResult": "genlab.metrics.result",
    "FeatureStatistics": "genlab.metrics.statistics",
}

__all__ = ["GenlabError", "__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'genlab' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})

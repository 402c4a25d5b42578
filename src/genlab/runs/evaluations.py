"""Final evaluations filed in a run folder: ``evaluations/NAME.json``, one per way of measuring.

`genlab eval` files its result in B's run folder under `evaluation_name` (what was measured and
how), so evaluations with other settings sit beside each other and the same evaluation run again
replaces its file; the model comparison files its own under fixed names (``classifier-mnist``,
``inception``, ``reconstruction``). Both write through `write_evaluation`; `genlab report` reads
them all (`list_evaluations`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genlab.fileio import write_json
from genlab.runs.layout import EVALUATIONS_DIR

#: Key of a one-line reading filed beside the values (the verdict at the end of `genlab train`);
#: `genlab report` shows it under the evaluation's heading.
READING_KEY = "verdict"

# Keys of the protocol of `genlab.metrics.evaluate.evaluate` that the name is made of.
_PROTOCOL, _FEATURES, _EXTRACTOR, _METRICS = "protocol", "features", "extractor", "metrics"
_N_A, _N_B = "n_a", "n_b"


def _layout(result: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON layout of a result: an `EvaluationResult` (its ``to_dict``) or that dict."""
    to_dict = getattr(result, "to_dict", None)
    return to_dict() if callable(to_dict) else dict(result)


def evaluation_name(result: Mapping[str, Any]) -> str:
    """``EXTRACTOR-METRICS-nN_B[-refN_A]``: ``pixels-fid-kid-n40``, ``recon-ref1797``.

    The extractor is left out when none ran (reconstruction error alone), ``nN_B`` when B gave no
    images (a VAE run judged by its reconstructions of A), and ``refN_A`` when A's count equals
    B's (the usual case, and the names of earlier versions).
    """
    protocol = _layout(result)[_PROTOCOL]
    features = protocol.get(_FEATURES) or {}
    parts = [features[_EXTRACTOR]] if features.get(_EXTRACTOR) else []
    parts.append("-".join(protocol[_METRICS]))
    n_a, n_b = protocol.get(_N_A), protocol.get(_N_B)
    if n_b is not None:
        parts.append(f"n{n_b}")
    if n_a is not None and n_a != n_b:
        parts.append(f"ref{n_a}")
    return "-".join(parts)


def evaluation_path(run_dir: Path, name: str) -> Path:
    """The file of the evaluation ``name`` of a run."""
    return Path(run_dir) / EVALUATIONS_DIR / f"{name}.json"


def write_evaluation(run_dir: Path, result: Mapping[str, Any], *, name: str | None = None) -> Path:
    """File ``result`` (of `genlab.evaluate`, or its ``to_dict``) in the run, atomically.

    ``name`` defaults to `evaluation_name` of the result; an earlier file of that name is
    replaced.
    """
    path = evaluation_path(run_dir, evaluation_name(result) if name is None else name)
    path.parent.mkdir(exist_ok=True)
    write_json(path, _layout(result))
    return path


def list_evaluations(run_dir: Path) -> list[Path]:
    """Every ``evaluations/*.json`` of the run, in file-name order."""
    folder = Path(run_dir) / EVALUATIONS_DIR
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.json"))

"""A run's record: ``metrics.jsonl``, one JSON object per logged step, and the names of its keys.

Two kinds of records share the log, both with ``step`` and ``time`` (seconds of training):

- training records: losses and gradient norms under plain keys (``loss_critic``, ``loss``, ...);
- evaluation records: ``"<features>/<metric key>"`` keys (`eval_key`), e.g.
  ``"classifier-mnist/fid"`` or ``"inception/kid_mean"``: the extractor is part of the name because
  a classifier-FID and an Inception FID are different numbers on different scales.

`genlab.training.logging.RunLogger` appends the records; everyone else reads them from here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError
from genlab.fileio import atomic_write_bytes

METRICS_FILE = "metrics.jsonl"
#: Separates the extractor from the metric key in evaluation records.
EVAL_KEY_SEPARATOR = "/"


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Every record of a run's metrics log, in order (a torn last line from a kill is ignored)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def truncate_metrics(run_dir: Path, step: int) -> None:
    """Drop records after ``step``: on resume, the log continues from the checkpoint's step."""
    kept = [r for r in read_metrics(run_dir) if r.get("step", 0) <= step]
    text = "".join(json.dumps(r) + "\n" for r in kept)
    atomic_write_bytes(Path(run_dir) / METRICS_FILE, text.encode())


def eval_key(features: str, metric_key: str) -> str:
    """The metrics-log key of ``metric_key`` measured with ``features``."""
    return f"{features}{EVAL_KEY_SEPARATOR}{metric_key}"


def is_eval_key(key: str) -> bool:
    """Whether a metrics-log key is an evaluation metric (``"<features>/<metric key>"``)."""
    return EVAL_KEY_SEPARATOR in key


def split_eval_key(key: str) -> tuple[str, str] | None:
    """``"classifier-mnist/fid"`` -> ``("classifier-mnist", "fid")``; None for any other key
    (losses, time).

    The split is at the first separator: extractor names have none, metric keys could. A key
    with the separator but nothing on one side of it is an error, not a loss.
    """
    features, separator, metric_key = key.partition(EVAL_KEY_SEPARATOR)
    if not separator:
        return None
    if not features or not metric_key:
        raise GenlabError(f"evaluation key {key!r} is not of the form '<features>/<metric>'")
    return features, metric_key

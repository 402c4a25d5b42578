"""Run folders: numbered, self-describing, and shared by training, sampling and evaluation.

Layout::

    runs/00003-wgan-gp-mnist/
        config.json          resolved training options (written before the first step)
        model.json           the ModelConfig that rebuilds the networks
        metrics.jsonl        one JSON object per logged step (`genlab.runs.records`)
        checkpoints/         step-XXXXXXXX.pt, the newest K (`genlab.runs.checkpoint`)
        samples/             step-XXXXXXXX.png grids from one fixed noise batch
        weights/             generator.safetensors (+ model.json) for sharing without pickle
        tensorboard/         scalars for TensorBoard
        evaluations/         results of genlab eval (and of the comparison), shown by genlab report
                             (`genlab.runs.evaluations`)
        lipschitz.json       optional: a critic's Lipschitz report, shown by genlab report
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError

DEFAULT_ROOT = Path("runs")
#: The resolved training options and the model config; together they mark a run folder.
CONFIG_FILE = "config.json"
MODEL_FILE = "model.json"
#: Folder of the sample grids, one PNG per sampled step.
SAMPLES_DIR = "samples"
#: Folder of a run where evaluation results are filed (read by `genlab report`).
EVALUATIONS_DIR = "evaluations"
#: A critic's Lipschitz report saved beside the run (``genlab lipschitz RUN --json``).
LIPSCHITZ_FILE = "lipschitz.json"
_NUMBERED = re.compile(r"^(\d{5})-")
_SAMPLE_NAME = re.compile(r"^step-(\d{8})\.png$")


def new_run_dir(name: str, *, root: Path = DEFAULT_ROOT) -> Path:
    """``root/NNNNN-name`` with the next free number (stylegan2-ada's numbering)."""
    root.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in root.iterdir() if (m := _NUMBERED.match(p.name))]
    number = max(numbers, default=-1) + 1
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    path = root / f"{number:05d}-{safe}"
    path.mkdir()
    return path


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a run folder; a `GenlabError` naming the file if it is not one."""
    path = Path(path)
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GenlabError(f"cannot read {path} ({exc}); repair or remove the file") from exc
    if not isinstance(value, dict):
        raise GenlabError(f"{path} holds {type(value).__name__}, not a JSON object; remove it")
    return value


def is_run_dir(path: Path) -> bool:
    return (Path(path) / CONFIG_FILE).is_file() and (Path(path) / MODEL_FILE).is_file()


def check_run_dir(path: Path) -> None:
    """Raise a `GenlabError` naming the problem if ``path`` is not a run folder."""
    path = Path(path)
    if not path.exists():
        raise GenlabError(f"{path} does not exist; pass a run folder made by genlab train")
    if not path.is_dir():
        raise GenlabError(f"{path} is a file, not a run folder; pass the folder genlab train made")
    if not is_run_dir(path):
        raise GenlabError(
            f"{path} is not a run folder (no {CONFIG_FILE} and {MODEL_FILE}); pass a folder made "
            "by genlab train, e.g. runs/00000-wgan-gp-digits"
        )


def sample_path(run_dir: Path, step: int) -> Path:
    """Where the sample grid of ``step`` goes."""
    return Path(run_dir) / SAMPLES_DIR / f"step-{step:08d}.png"


def list_sample_grids(run_dir: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every file named like a sample grid, in step order."""
    folder = Path(run_dir) / SAMPLES_DIR
    if not folder.is_dir():
        return []
    matches = ((_SAMPLE_NAME.match(path.name), path) for path in folder.iterdir())
    return sorted((int(match.group(1)), path) for match, path in matches if match)

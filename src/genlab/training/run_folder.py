"""Run folders: numbered, self-describing, and shared by training, sampling and evaluation.

Layout::

    runs/00003-wgan-gp-mnist/
        config.json          resolved training options (written before the first step)
        model.json           the ModelConfig that rebuilds the networks
        metrics.jsonl        one JSON object per logged step
        checkpoints/         step-XXXXXXXX.pt, the newest K
        samples/             step-XXXXXXXX.png grids from one fixed noise batch
        weights/             generator.safetensors (+ model.json) for sharing without pickle
        tensorboard/         scalars for TensorBoard
        evaluations/         results of genlab eval (and of the comparison), shown by genlab report
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

DEFAULT_ROOT = Path("runs")
#: Folder of a run where evaluation results are filed (read by `genlab report`).
EVALUATIONS_DIR = "evaluations"
_NUMBERED = re.compile(r"^(\d{5})-")


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
    return json.loads(Path(path).read_text())


def is_run_dir(path: Path) -> bool:
    return (Path(path) / "config.json").is_file() and (Path(path) / "model.json").is_file()

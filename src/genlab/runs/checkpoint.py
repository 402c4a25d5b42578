"""Checkpoints that survive crashes: atomic writes, the last K kept, loaded without pickled code.

A checkpoint holds everything needed to continue exactly: configs, networks, optimisers, EMA, the
step, the data stream's position and the RNG states of python, numpy and torch. It is written to a
temporary file in the same folder, fsynced and renamed over, so a kill at any moment leaves the
previous checkpoint intact; older ones are deleted only after the new one is in place.
"""

from __future__ import annotations

import pickle
import random
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.errors import GenlabError
from genlab.fileio import atomic_write

CHECKPOINT_DIR = "checkpoints"
FORMAT = "genlab-checkpoint-1"
_NAME = re.compile(r"^step-(\d{8})\.pt$")


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"step-{step:08d}.pt"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Finished checkpoints of a run, oldest first (temporary files are ignored)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if _NAME.match(path.name))


def checkpoint_step(path: Path) -> int:
    """The step of a checkpoint file (one of `list_checkpoints`)."""
    match = _NAME.match(Path(path).name)
    if match is None:
        raise GenlabError(f"{path} is not named like a genlab checkpoint (step-XXXXXXXX.pt)")
    return int(match.group(1))


def latest_checkpoint(run_dir: Path) -> Path:
    """The newest finished checkpoint of ``run_dir``; a clear error when there is none."""
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise GenlabError(
            f"no checkpoint in {Path(run_dir) / CHECKPOINT_DIR}; is {run_dir} a genlab run folder "
            "that has trained for at least --checkpoint-every steps?"
        )
    return checkpoints[-1]


def save_checkpoint(state: dict[str, Any], run_dir: Path, step: int, *, keep: int = 3) -> Path:
    """Write ``state`` as the checkpoint of ``step`` atomically; keep the newest ``keep``."""
    path = checkpoint_path(run_dir, step)
    with atomic_write(path) as handle:
        torch.save({"format": FORMAT, **state}, handle)
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``: tensors and plain data only, never code."""
    path = Path(path)
    if path.is_dir():
        path = latest_checkpoint(path)
    if not path.is_file():
        raise GenlabError(f"checkpoint {path} does not exist; pass a run folder or a .pt file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise GenlabError(
            f"refused to load {path}: it holds pickled Python objects that run code when loaded. "
            "genlab loads checkpoints with weights_only=True and never runs code from a file; a "
            "genlab checkpoint holds only tensors and plain data, so this one was written by "
            "something else or altered — do not load it"
        ) from None
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise GenlabError(
            f"cannot load checkpoint {path} ({_first_sentence(exc)}): it is truncated or "
            "corrupt — delete it to resume from the checkpoint before it"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise GenlabError(f"{path} is not a genlab checkpoint (expected format {FORMAT})")
    return state


def load_latest_good_checkpoint(run_dir: Path) -> dict[str, Any]:
    """The newest checkpoint of ``run_dir`` that loads, warning about each newer one that does not.

    A checkpoint damaged after it was written (a disk error, a copy cut short) should cost the
    steps since the one before it, not the run.
    """
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        latest_checkpoint(run_dir)  # raises the no-checkpoint error
    problems = []
    for path in reversed(checkpoints):
        try:
            state = load_checkpoint(path)
        except GenlabError as error:
            problems.append(str(error))
            continue
        for problem in problems:
            warnings.warn(f"{problem}; resuming from {path.name} instead", stacklevel=2)
        return state
    raise GenlabError(
        f"no checkpoint of {run_dir} loads ({len(problems)} tried); the first problem: "
        f"{problems[0]}"
    )


def _first_sentence(error: Exception) -> str:
    # PyTorch's messages run to several sentences of advice meant for its own users.
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text.split('. ')[0]}"


def capture_rng_state() -> dict[str, Any]:
    """RNG states of python, numpy, torch's CPU and each CUDA device, as plain data a
    weights-only load accepts.

    The CUDA states matter for an exact resume on a GPU: the gradient penalty's mixing weights
    and the VAE's noise are drawn there. They are captured only where CUDA is already in use, so
    a CPU run never initialises it.
    """
    # numpy's legacy global generator is what third-party code draws from, so it is restored too.
    _, keys, position, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    return {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_as_tuples(state["python"]))
    numpy_state = state["numpy"]
    keys = numpy_state["keys"].numpy().astype(np.uint32)
    np.random.set_state(  # noqa: NPY002
        ("MT19937", keys, numpy_state["position"], numpy_state["has_gauss"], numpy_state["cached"])
    )
    torch.set_rng_state(state["torch"])
    _restore_cuda_rng_state(state.get("cuda", []))  # absent from older checkpoints


def _restore_cuda_rng_state(states: list[torch.Tensor]) -> None:
    """Each device's saved state, where that device exists here (a GPU run may resume on a
    machine with fewer GPUs, or on the CPU, where there is nothing to restore)."""
    if not states or not torch.cuda.is_available():
        return
    for device, device_state in enumerate(states[: torch.cuda.device_count()]):
        torch.cuda.set_rng_state(device_state, device)


def _as_tuples(value: Any) -> Any:
    # random.setstate needs tuples; serialisation may hand back lists.
    if isinstance(value, list | tuple):
        return tuple(_as_tuples(item) for item in value)
    return value

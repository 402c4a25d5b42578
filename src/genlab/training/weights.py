"""Shareable weights: safetensors files with the model config as metadata and as JSON beside them.

Checkpoints carry optimiser state and are meant for resuming; `weights/` holds what someone needs
to *use* the model, in a format that cannot run code when loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import load_file, save

from genlab.errors import GenlabError
from genlab.fileio import atomic_write_bytes, write_json

if TYPE_CHECKING:
    from genlab.training.trainer import Trainer

WEIGHTS_DIR = "weights"


def _atomic_save_safetensors(tensors: dict[str, torch.Tensor], path: Path, meta: dict) -> None:
    contiguous = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    metadata = {k: json.dumps(v) for k, v in meta.items()}
    atomic_write_bytes(path, save(contiguous, metadata=metadata))


def export_weights(trainer: Trainer) -> Path:
    """Write the task's sampling network (the EMA generator if any; the VAE) to ``weights/``."""
    folder = trainer.run_dir / WEIGHTS_DIR
    name, module, extra = trainer.task.exported()
    meta = {"model_config": trainer.model_config.to_dict(), "step": trainer.step, **extra}
    path = folder / f"{name}.safetensors"
    _atomic_save_safetensors(module.state_dict(), path, meta)
    write_json(folder / "model.json", {"network": name, **meta})
    return path


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """State dict and metadata of a genlab safetensors file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = {k: json.loads(v) for k, v in (handle.metadata() or {}).items()}
        return load_file(str(path)), meta
    except Exception as exc:
        raise GenlabError(f"cannot read weights {path}: {exc}") from None

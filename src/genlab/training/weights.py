"""Shareable weights: safetensors files with the model config as metadata and as JSON beside them.

Checkpoints carry optimiser state and are meant for resuming; `weights/` holds what someone needs
to *use* the model, in a format that cannot run code when loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save
from torch import nn

from genlab.fileio import atomic_write_bytes, write_json

WEIGHTS_DIR = "weights"


def _atomic_save_safetensors(tensors: dict[str, torch.Tensor], path: Path, meta: dict) -> None:
    contiguous = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    metadata = {k: json.dumps(v) for k, v in meta.items()}
    atomic_write_bytes(path, save(contiguous, metadata=metadata))


def export_weights(run_dir: Path, name: str, module: nn.Module, meta: dict[str, Any]) -> Path:
    """Write the sampling network ``module`` (``name``: generator or vae) to ``weights/``.

    ``meta`` (the model config, the step, ...) goes into the file and, with the network's name,
    into ``weights/model.json`` beside it.
    """
    folder = Path(run_dir) / WEIGHTS_DIR
    path = folder / f"{name}.safetensors"
    _atomic_save_safetensors(module.state_dict(), path, meta)
    write_json(folder / "model.json", {"network": name, **meta})
    return path

"""Rebuild the sampling network of a run folder or checkpoint, and generate.

The bridge from training to evaluation: any command that takes images can take a run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from genlab.data.imageio import signed_to_uint8
from genlab.errors import GenlabError
from genlab.models.registry import ModelConfig, build_generator, build_vae
from genlab.runs.checkpoint import load_checkpoint


def load_sampler(source: str | Path, *, ema: bool = True) -> tuple[nn.Module, ModelConfig]:
    """The network that maps z to samples (EMA generator when present and ``ema``), in eval mode.

    ``source`` is a run folder (its newest checkpoint) or a checkpoint file.
    """
    state = load_checkpoint(Path(source))
    model_config = ModelConfig.from_dict(state["model_config"])
    if "vae" in state["models"]:
        vae = build_vae(model_config)
        vae.load_state_dict(state["models"]["vae"])
        return _Decoder(vae).eval(), model_config
    generator = build_generator(model_config)
    weights = state["ema"] if ema and state.get("ema") is not None else state["models"]["generator"]
    generator.load_state_dict(weights)
    return generator.eval(), model_config


class _Decoder(nn.Module):
    """A VAE seen as a generator: z ↦ images in [-1, 1]."""

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.generate(z)


@torch.no_grad()
def iter_generated(
    source: str | Path, n: int, *, seed: int = 0, batch_size: int = 256, ema: bool = True
) -> Iterator[torch.Tensor]:
    """Batches of ``n`` generated samples in total: uint8 N×C×H×W images, or float 2-D points."""
    if n < 1:
        raise GenlabError(f"--n must be at least 1, got {n}")
    if batch_size < 1:  # a batch of 0 would never finish
        raise GenlabError(f"--batch-size must be at least 1, got {batch_size}")
    model, config = load_sampler(source, ema=ema)
    generator = torch.Generator().manual_seed(seed)
    produced = 0
    while produced < n:
        count = min(batch_size, n - produced)
        samples = model(torch.randn(count, config.latent_dim, generator=generator))
        produced += count
        yield signed_to_uint8(samples) if config.is_image else samples


def generate(
    source: str | Path, n: int, *, seed: int = 0, batch_size: int = 256, ema: bool = True
) -> torch.Tensor:
    """All ``n`` samples at once (see `iter_generated`)."""
    return torch.cat(list(iter_generated(source, n, seed=seed, batch_size=batch_size, ema=ema)))

"""Exponential moving average of the generator's weights (Yazıcı et al. 2019).

θ_ema ← d·θ_ema + (1 - d)·θ after each generator step; buffers (batch-norm statistics) are copied.
Samples from the averaged generator are usually smoother than from the last iterate.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class GeneratorEMA:
    """An averaged copy of ``model`` with decay ``decay``."""

    def __init__(self, model: nn.Module, *, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        averaged = list(self.model.parameters())
        torch._foreach_lerp_(averaged, [p.detach() for p in model.parameters()], 1.0 - self.decay)
        for average_buffer, buffer in zip(self.model.buffers(), model.buffers(), strict=True):
            average_buffer.copy_(buffer)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)

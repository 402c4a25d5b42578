"""Exponential moving average of the generator's weights (Yazıcı et al. 2019).

θ_ema ← d_t·θ_ema + (1 - d_t)·θ after the t-th generator step (t = 0, 1, ...), with the warm-up

    d_t = min(d, (1 + t) / (10 + t))

of TensorFlow's ``ExponentialMovingAverage(num_updates=t)``. Without it the average starts at the
initial weights and forgets them only as d^t: after a run of T steps they still weigh d^T, 37 %
for d = 0.999 and T = 1,000, and the samples look like the noise of the first steps. With it the
first updates move the average most of the way, and a long half-life is safe on a short run.
Buffers (batch-norm statistics) are copied.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

# An update count that is past every warm-up: checkpoints written before the warm-up resume with
# the plain decay d, as they ran.
NO_WARMUP = 1 << 40


class GeneratorEMA:
    """An averaged copy of ``model`` with decay ``decay``, warmed up over the first updates."""

    def __init__(self, model: nn.Module, *, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    def current_decay(self) -> float:
        """d_t = min(d, (1 + t) / (10 + t)) for the next update, t updates so far."""
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        averaged = list(self.model.parameters())
        weight = 1.0 - self.current_decay()
        torch._foreach_lerp_(averaged, [p.detach() for p in model.parameters()], weight)
        for average_buffer, buffer in zip(self.model.buffers(), model.buffers(), strict=True):
            average_buffer.copy_(buffer)
        self.updates += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor], *, updates: int | None) -> None:
        """The averaged weights and the update count (None: a checkpoint from before warm-ups)."""
        self.model.load_state_dict(state)
        self.updates = NO_WARMUP if updates is None else updates

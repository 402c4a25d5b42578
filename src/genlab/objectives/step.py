"""One critic update, as every adversarial trainer in genlab performs it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genlab.objectives.adversarial import AdversarialObjective
from genlab.objectives.lipschitz import LipschitzMethod


@dataclass(frozen=True)
class CriticStep:
    """What one critic update computed (``loss`` includes the penalty, if any)."""

    loss: torch.Tensor
    penalty: torch.Tensor | None
    real_scores: torch.Tensor
    fake_scores: torch.Tensor


def critic_step(
    critic: nn.Module,
    optimiser: torch.optim.Optimizer,
    objective: AdversarialObjective,
    method: LipschitzMethod,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    penalty_scale: float = 1.0,
) -> CriticStep:
    """Score both batches, add the Lipschitz penalty, take one optimiser step, then apply the
    method's post-step hook (weight clipping). ``fake`` should carry no generator graph.

    ``penalty_scale`` multiplies the penalty in the loss; 0 skips computing it (lazy regularisation
    applies it on every k-th update with scale k). The returned ``penalty`` is unscaled.
    """
    real_scores, fake_scores = critic(real), critic(fake)
    loss = objective.critic_loss(real_scores, fake_scores)
    penalty = method.penalty(critic, real, fake) if penalty_scale else None
    if penalty is not None:
        loss = loss + penalty_scale * penalty
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    method.after_critic_step(critic)
    return CriticStep(loss.detach(), penalty, real_scores.detach(), fake_scores.detach())

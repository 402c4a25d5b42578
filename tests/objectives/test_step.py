"""One critic update: the loss it descends, its penalty scaled (lazy regularisation) or skipped."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.objectives.adversarial import make_adversarial_objective
from genlab.objectives.lipschitz import GradientPenalty, gradient_penalty
from genlab.objectives.step import critic_step


def _critic_and_batches(seed: int = 0):
    torch.manual_seed(seed)
    critic = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    return critic, torch.randn(10, 4), torch.randn(10, 4)


@pytest.mark.parametrize("scale", [0.0, 1.0, 4.0])
def test_critic_step_descends_the_loss_plus_the_scaled_penalty(scale):
    critic, real, fake = _critic_and_batches()
    reference = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    reference.load_state_dict(critic.state_dict())
    objective = make_adversarial_objective("wasserstein")
    # The loss written out by hand: E f(fake) - E f(real) + scale · λ · GP, with the same ε.
    torch.manual_seed(5)
    loss = reference(fake).mean() - reference(real).mean()
    if scale:
        loss = loss + scale * 10.0 * gradient_penalty(reference, real, fake)
    expected = torch.autograd.grad(loss, list(reference.parameters()))

    optimiser = torch.optim.SGD(critic.parameters(), lr=1.0)
    before = [p.detach().clone() for p in critic.parameters()]
    torch.manual_seed(5)
    update = critic_step(
        critic, optimiser, objective, GradientPenalty(weight=10.0), real, fake, penalty_scale=scale
    )
    for old, new, grad in zip(before, critic.parameters(), expected, strict=True):
        torch.testing.assert_close(old - new.detach(), grad, rtol=1e-5, atol=1e-6)
    assert (update.penalty is None) == (scale == 0.0)

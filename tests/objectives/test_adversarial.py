"""Each adversarial loss against a hand computation on fixed scores."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.errors import GenlabError
from genlab.objectives.adversarial import (
    Hinge,
    MinimaxGAN,
    NonSaturatingGAN,
    Wasserstein,
    make_adversarial_objective,
    wasserstein_estimate,
)

REAL = torch.tensor([1.0, -2.0, 0.25])
FAKE = torch.tensor([0.5, 3.0, -1.5])


def sigmoid(s: float) -> float:
    return 1.0 / (1.0 + math.exp(-s))


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def test_minimax_losses_match_the_log_formulas():
    d_real = [sigmoid(s) for s in REAL.tolist()]
    d_fake = [sigmoid(s) for s in FAKE.tolist()]
    expected_critic = -mean(math.log(d) for d in d_real) - mean(math.log(1 - d) for d in d_fake)
    expected_generator = mean(math.log(1 - d) for d in d_fake)
    objective = MinimaxGAN()
    assert objective.critic_loss(REAL, FAKE).item() == pytest.approx(expected_critic, rel=1e-6)
    assert objective.generator_loss(FAKE).item() == pytest.approx(expected_generator, rel=1e-6)


def test_non_saturating_generator_loss_is_minus_log_d():
    expected = -mean(math.log(sigmoid(s)) for s in FAKE.tolist())
    assert NonSaturatingGAN().generator_loss(FAKE).item() == pytest.approx(expected, rel=1e-6)
    # The discriminator's side is the same game as the minimax GAN.
    assert NonSaturatingGAN().critic_loss(REAL, FAKE) == MinimaxGAN().critic_loss(REAL, FAKE)


def test_wasserstein_losses_are_differences_of_means():
    assert Wasserstein().critic_loss(REAL, FAKE).item() == pytest.approx(
        mean(FAKE.tolist()) - mean(REAL.tolist())
    )
    assert Wasserstein().generator_loss(FAKE).item() == pytest.approx(-mean(FAKE.tolist()))
    assert wasserstein_estimate(REAL, FAKE).item() == pytest.approx(
        mean(REAL.tolist()) - mean(FAKE.tolist())
    )


def test_hinge_losses():
    expected = mean(max(0.0, 1 - s) for s in REAL.tolist()) + mean(
        max(0.0, 1 + s) for s in FAKE.tolist()
    )
    assert Hinge().critic_loss(REAL, FAKE).item() == pytest.approx(expected)
    assert Hinge().generator_loss(FAKE).item() == pytest.approx(-mean(FAKE.tolist()))


def test_minimax_generator_gradient_saturates_where_non_saturating_does_not():
    # A discriminator that confidently rejects the fake (logit -10): the saturating loss's
    # gradient is σ(s) ≈ 4.5e-5, the non-saturating one's is σ(s) - 1 ≈ -1.
    score = torch.tensor([-10.0], requires_grad=True)
    MinimaxGAN().generator_loss(score).backward()
    saturating = score.grad.abs().item()
    score.grad = None
    NonSaturatingGAN().generator_loss(score).backward()
    non_saturating = score.grad.abs().item()
    assert saturating == pytest.approx(sigmoid(-10.0), rel=1e-4)
    assert non_saturating == pytest.approx(1 - sigmoid(-10.0), rel=1e-4)


def test_losses_stay_finite_for_extreme_scores():
    extreme = torch.tensor([1e4, -1e4])
    for objective in (MinimaxGAN(), NonSaturatingGAN()):
        assert torch.isfinite(objective.critic_loss(extreme, extreme))
        assert torch.isfinite(objective.generator_loss(extreme))


def test_unknown_objective_lists_known_ones():
    with pytest.raises(GenlabError, match="hinge"):
        make_adversarial_objective("least-squares")

"""Lipschitz methods: clipping bounds weights, the penalty is its definition, SN normalises."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from genlab.errors import GenlabError
from genlab.models.dcgan import DCGANCritic
from genlab.models.mlp import MLPCritic
from genlab.objectives.lipschitz import (
    GradientPenalty,
    SpectralNormalization,
    WeightClipping,
    gradient_penalty,
    make_lipschitz_method,
)


@pytest.mark.parametrize("clip", [0.001, 0.01, 0.1])
def test_clipping_bounds_every_critic_parameter(clip):
    critic = DCGANCritic(channels=1, size=28, width=8, norm="batch")
    with torch.no_grad():
        for parameter in critic.parameters():
            parameter.normal_(0.0, 1.0)
    WeightClipping(clip=clip).after_critic_step(critic)
    bound = torch.tensor(clip, dtype=torch.float32)  # c as the weights' own dtype stores it
    for parameter in critic.parameters():
        assert parameter.abs().max() <= bound
    # Clipping saturates: with N(0, 1) weights almost every entry ends at ±c.
    weights = torch.cat([p.flatten() for p in critic.parameters()])
    assert (weights.abs() == clip).float().mean() > 0.9


def test_clipping_rejects_non_positive_c():
    with pytest.raises(GenlabError, match="c > 0"):
        WeightClipping(clip=0.0)


def test_gradient_penalty_of_a_linear_critic_is_exact():
    # f(x) = w·x + b has ∇f = w everywhere, so the penalty is (||w|| - 1)² whatever the mix ε.
    critic = nn.Linear(5, 1)
    real, fake = torch.randn(16, 5), torch.randn(16, 5)
    expected = (critic.weight.norm() - 1.0) ** 2
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(expected.item(), rel=1e-5)
    assert GradientPenalty(weight=10.0).penalty(critic, real, fake).item() == pytest.approx(
        10 * expected.item(), rel=1e-5
    )


def test_gradient_penalty_equals_its_definition_on_a_tiny_network():
    torch.manual_seed(3)
    critic = MLPCritic((3,), hidden=(7, 5), activation="tanh")
    real, fake = torch.randn(6, 3), torch.randn(6, 3)
    torch.manual_seed(11)
    value = gradient_penalty(critic, real, fake)
    # Redo the definition sample by sample, drawing the same ε.
    torch.manual_seed(11)
    epsilon = torch.rand(6, 1)
    terms = []
    for i in range(6):
        point = (epsilon[i] * real[i] + (1 - epsilon[i]) * fake[i]).unsqueeze(0).requires_grad_()
        (grad,) = torch.autograd.grad(critic(point).sum(), point)
        terms.append((grad.norm() - 1.0) ** 2)
    assert value.item() == pytest.approx(torch.stack(terms).mean().item(), rel=1e-5)


def test_gradient_penalty_warns_about_batch_norm():
    with pytest.warns(UserWarning, match="batch normalisation"):
        GradientPenalty().prepare(DCGANCritic(channels=1, size=28, width=8, norm="batch"))


def test_spectral_normalisation_brings_each_layer_to_unit_spectral_norm(spectral_norm_after):
    critic = SpectralNormalization().prepare(MLPCritic((4,), hidden=(16, 16)))
    layers = [m for m in critic.modules() if isinstance(m, nn.Linear)]
    assert len(layers) == 3
    assert all(parametrize.is_parametrized(layer, "weight") for layer in layers)
    # One power iteration per training-mode forward pass: after 30, each layer's norm lies
    # between 1 and what the power method guarantees from its starting vectors.
    converged = spectral_norm_after(critic, torch.randn(8, 4), 30)
    assert len(converged) == 3
    for norm, bound in converged:
        assert 1 - 1e-5 <= norm <= bound + 1e-5


def test_make_lipschitz_method_by_name():
    assert isinstance(make_lipschitz_method("clip", clip=0.001), WeightClipping)
    assert make_lipschitz_method("clip", clip=0.001).clip == 0.001
    assert make_lipschitz_method("gp", gp_weight=5.0).weight == 5.0
    with pytest.raises(GenlabError, match="none, clip, gp, sn"):
        make_lipschitz_method("lasso")

"""Shapes and ranges of every network, and the config round trip that rebuilds them."""

from __future__ import annotations

import pytest
import torch

from genlab.errors import GenlabError
from genlab.models.dcgan import spatial_plan
from genlab.models.registry import ModelConfig, build_critic, build_generator, build_vae

CASES = [
    ("dcgan", (1, 28, 28)),
    ("dcgan", (3, 32, 32)),
    ("dcgan", (3, 64, 64)),
    ("dcgan", (1, 8, 8)),
    ("resnet", (3, 32, 32)),
    ("mlp", (1, 8, 8)),
    ("mlp", (2,)),
]


@pytest.mark.parametrize(("arch", "shape"), CASES)
def test_generator_and_critic_shapes(arch, shape):
    config = ModelConfig(arch=arch, data_shape=shape, latent_dim=16, width=8, hidden=(32, 32))
    generator, critic = build_generator(config), build_critic(config)
    samples = generator(torch.randn(4, 16))
    assert samples.shape == (4, *shape)
    if len(shape) == 3:
        assert samples.abs().max() <= 1.0  # images come out through tanh
    assert critic(samples).shape == (4,)


@pytest.mark.parametrize(("arch", "shape"), [c for c in CASES if c[0] != "resnet"])
@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_vae_shapes_and_generation_range(arch, shape, likelihood):
    config = ModelConfig(
        arch=arch, data_shape=shape, latent_dim=6, width=8, hidden=(16,), likelihood=likelihood
    )
    vae = build_vae(config)
    x = torch.rand(3, *shape) * 2 - 1
    params, mu, log_var = vae(x)
    assert params.shape == x.shape
    assert mu.shape == log_var.shape == (3, 6)
    images = vae.generate(torch.randn(5, 6))
    assert images.shape == (5, *shape)
    assert images.min() >= -1
    assert images.max() <= 1


def test_config_round_trip_rebuilds_identical_networks():
    config = ModelConfig(arch="dcgan", data_shape=(1, 28, 28), width=8)
    torch.manual_seed(0)
    first = build_generator(config)
    rebuilt = build_generator(ModelConfig.from_dict(config.to_dict()))
    rebuilt.load_state_dict(first.state_dict())
    z = torch.randn(2, config.latent_dim)
    first.eval(), rebuilt.eval()
    torch.testing.assert_close(first(z), rebuilt(z))


@pytest.mark.parametrize(("size", "plan"), [(8, (4, 1)), (28, (7, 2)), (32, (4, 3)), (64, (4, 4))])
def test_spatial_plan(size, plan):
    assert spatial_plan(size) == plan


def test_unsupported_sizes_and_architectures_are_clear_errors():
    with pytest.raises(GenlabError, match="image side"):
        spatial_plan(30)
    with pytest.raises(GenlabError, match="32×32"):
        ModelConfig(arch="resnet", data_shape=(1, 28, 28))
    with pytest.raises(GenlabError, match="unknown architecture"):
        ModelConfig(arch="transformer")

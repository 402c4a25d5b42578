"""Shapes and ranges of every network, and the config round trip that rebuilds them."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from genlab.errors import GenlabError
from genlab.models.dcgan import (
    FoldConvTranspose2d,
    ProjectionConvTranspose2d,
    UnfoldConv2d,
    spatial_plan,
)
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


# The CPU matrix-product forms of three DCGAN layers against torch's own convolutions (the
# parent classes' forward) with the same parameters: values, input and weight gradients, and
# the second derivatives the gradient penalty takes through the critic.
# (layer, (C_in, C_out, kernel, stride, padding), input shape)
MATMUL_LAYERS = [
    (ProjectionConvTranspose2d, (16, 8, 7, 1, 0), (5, 16, 1, 1)),
    (ProjectionConvTranspose2d, (16, 8, 4, 1, 1), (5, 16, 1, 1)),  # padded: the convolution
    (ProjectionConvTranspose2d, (16, 8, 3, 1, 0), (5, 16, 2, 2)),  # not 1×1: the convolution
    (FoldConvTranspose2d, (8, 1, 4, 2, 1), (5, 8, 7, 7)),
    (FoldConvTranspose2d, (8, 3, 4, 2, 1), (5, 8, 4, 4)),
    (partial(FoldConvTranspose2d, output_padding=1), (4, 2, 3, 2, 0), (3, 4, 5, 6)),
    (UnfoldConv2d, (1, 8, 4, 2, 1), (5, 1, 28, 28)),
    (UnfoldConv2d, (1, 4, 3, 1, 0), (2, 1, 9, 7)),
]


@pytest.mark.parametrize(("make", "sizes", "shape"), MATMUL_LAYERS)
def test_matmul_layers_match_the_convolutions_they_replace(make, sizes, shape):
    torch.manual_seed(0)
    layer = make(*sizes, bias=make is not ProjectionConvTranspose2d).double()
    x = torch.randn(shape, dtype=torch.double, requires_grad=True)
    parent = type(layer).__mro__[1]
    ours, reference = layer(x), parent.forward(layer, x)
    assert type(reference.grad_fn).__name__ == "ConvolutionBackward0"
    fast = shape[-2:] == (1, 1) and sizes[-1] == 0 if make is ProjectionConvTranspose2d else True
    # The matrix-product path ran where it applies, the convolution elsewhere.
    assert (type(ours.grad_fn).__name__ != "ConvolutionBackward0") == fast
    torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-12)
    weight = torch.randn_like(ours)  # a random linear functional of the output

    def gradients(out):
        (grad_x,) = torch.autograd.grad((out * weight).sum(), x, create_graph=True)
        penalty = (grad_x.flatten(1).norm(dim=1) - 1).pow(2).mean()  # WGAN-GP's, through the layer
        return torch.autograd.grad(penalty + (out * weight).sum(), [x, *layer.parameters()])

    for ours_grad, reference_grad in zip(gradients(ours), gradients(reference), strict=True):
        torch.testing.assert_close(ours_grad, reference_grad, rtol=1e-10, atol=1e-12)


def test_the_dcgan_networks_use_the_matmul_layers_and_keep_their_parameter_names():
    config = ModelConfig(arch="dcgan", data_shape=(1, 28, 28), width=8)
    generator, critic = build_generator(config), build_critic(config)
    assert isinstance(generator.net[0], ProjectionConvTranspose2d)
    assert isinstance(generator.net[-2], FoldConvTranspose2d)
    assert isinstance(critic.net[0], UnfoldConv2d)
    # The subclasses add no parameters: checkpoints of the plain layers load as they were.
    assert sorted(generator.state_dict()) == [
        "net.0.weight", "net.1.bias", "net.1.num_batches_tracked", "net.1.running_mean",
        "net.1.running_var", "net.1.weight", "net.3.weight", "net.4.bias",
        "net.4.num_batches_tracked", "net.4.running_mean", "net.4.running_var", "net.4.weight",
        "net.6.bias", "net.6.weight",
    ]  # fmt: skip

"""DCGAN-style convolutional generator and critic (Radford et al. 2016) for 1- or 3-channel images.

The spatial plan is ``base · 2^k = size`` with base 4 (8, 16, 32, 64 px) or 7 (28 px, MNIST): the
generator starts from a base×base map and doubles k times with stride-2 transposed convolutions;
the critic mirrors it with stride-2 convolutions and ends with a base×base convolution to one score.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from genlab.errors import GenlabError

SUPPORTED_SIZES = (8, 16, 28, 32, 64)


def spatial_plan(size: int) -> tuple[int, int]:
    """(base, number of doublings) for an image side ``size``."""
    for base in (4, 7):
        doublings = 0
        side = size
        while side > base and side % 2 == 0:
            side //= 2
            doublings += 1
        if side == base and doublings >= 1:
            return base, doublings
    raise GenlabError(
        f"the DCGAN networks need an image side of 4·2^k or 7·2^k (e.g. {SUPPORTED_SIZES}), got "
        f"{size}; resize the images (folder option size=...) or pick --arch mlp"
    )


def _norm2d(kind: str, channels: int, side: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        # Per-sample normalisation over (C, H, W): keeps the gradient penalty valid (WGAN-GP §4).
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise GenlabError(f"unknown normalisation {kind!r}; choose batch, layer or none")


class DCGANGenerator(nn.Module):
    """z ∈ R^latent ↦ image in [-1, 1]^(C×size×size) through transposed convolutions and tanh."""

    def __init__(
        self, *, latent_dim: int = 128, channels: int = 1, size: int = 28, width: int = 64
    ) -> None:
        super().__init__()
        base, doublings = spatial_plan(size)
        self.latent_dim, self.out_shape = latent_dim, (channels, size, size)
        widths = [width * 2 ** (doublings - 1 - i) for i in range(doublings)]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], base, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for width_in, width_out in itertools.pairwise(widths):
            layers += [
                nn.ConvTranspose2d(width_in, width_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width_out),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


class DCGANCritic(nn.Module):
    """Image ↦ one raw score: stride-2 convolutions, LeakyReLU(0.2), a final base×base convolution.

    ``norm`` is ``batch`` (DCGAN, WGAN), ``layer`` (WGAN-GP) or ``none`` (spectral normalisation).
    """

    def __init__(
        self, *, channels: int = 1, size: int = 28, width: int = 64, norm: str = "batch"
    ) -> None:
        super().__init__()
        base, doublings = spatial_plan(size)
        self.in_shape = (channels, size, size)
        widths = [width * 2**i for i in range(doublings)]
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        side = size // 2
        for width_in, width_out in itertools.pairwise(widths):
            side //= 2
            layers += [
                nn.Conv2d(width_in, width_out, 4, 2, 1, bias=norm == "none"),
                _norm2d(norm, width_out, side),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(widths[-1], 1, base, 1, 0))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()

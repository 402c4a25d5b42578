"""DCGAN-style convolutional generator and critic (Radford et al. 2016) for 1- or 3-channel images.

The spatial plan is ``base · 2^k = size`` with base 4 (8, 16, 32, 64 px) or 7 (28 px, MNIST): the
generator starts from a base×base map and doubles k times with stride-2 transposed convolutions;
the critic mirrors it with stride-2 convolutions and ends with a base×base convolution to one score.

Three layers of these networks are computed on the CPU as the matrix products they are, with the
same parameters (so checkpoints and weights files are unchanged): oneDNN runs them far below its
speed on the other layers, because one side of each is tiny (a 1×1 input, one output channel,
one input channel). In float32 on one thread, batch 64, forward and backward: the generator's
first layer 12.4 → 3.4 ms, its last 9.6 → 5.6 ms, the critic's first 7.3 → 5.0 ms, and 1.08–1.24×
the training steps a second (2-core AMD EPYC, Zen 3; `benchmarks/matmul_layers.py`,
docs/results.md).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
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


class ProjectionConvTranspose2d(nn.ConvTranspose2d):
    """A k×k transposed convolution of a 1×1 map: the matrix product z·W, W as C_in × C_out·k².

    On the CPU it is computed as that product (3.6× faster there than oneDNN's transposed
    convolution of a 1×1 input); elsewhere, on a larger input, or with options that make the
    output other than k×k (padding, dilation, groups, a bias), as the convolution.
    """

    def _is_a_product(self, x: torch.Tensor) -> bool:
        """Whether this layer on ``x`` is exactly z·W: a 1×1 input, a k×k output, no bias."""
        plain = self.padding == self.output_padding == (0, 0) and self.dilation == (1, 1)
        return x.shape[-2:] == (1, 1) and plain and self.groups == 1 and self.bias is None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or not self._is_a_product(x):
            return super().forward(x)
        out = x.reshape(x.shape[0], self.in_channels) @ self.weight.reshape(self.in_channels, -1)
        return out.view(x.shape[0], self.out_channels, *self.kernel_size)


class FoldConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution with few output channels as a matrix product and a fold.

    Each input pixel x_ij ∈ R^C_in spreads Wᵀx_ij (C_out·k² values) over the k×k window it
    reaches; ``fold`` (col2im) sums the windows' overlaps into the output. On the CPU this is
    1.7× faster than oneDNN's transposed convolution for the generator's last layer on MNIST
    (C_out = 1, forward and backward).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or self.groups != 1 or self.dilation != (1, 1):
            return super().forward(x)
        n, _, height, width = x.shape
        (k_h, k_w), (s_h, s_w), (p_h, p_w) = self.kernel_size, self.stride, self.padding
        out_h = (height - 1) * s_h - 2 * p_h + k_h + self.output_padding[0]
        out_w = (width - 1) * s_w - 2 * p_w + k_w + self.output_padding[1]
        columns = self.weight.reshape(self.in_channels, -1).T @ x.reshape(n, self.in_channels, -1)
        out = F.fold(
            columns, (out_h, out_w), self.kernel_size, padding=self.padding, stride=self.stride
        )
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


class UnfoldConv2d(nn.Conv2d):
    """A convolution of a one-channel image as an unfold (im2col) and one matrix product.

    On the CPU, 1.5× faster than oneDNN's convolution for the critic's first layer on MNIST
    (forward and backward); elsewhere, or with more input channels, the convolution.
    """

    def _unfolds(self) -> bool:
        """One input channel, zero padding given in pixels, no groups or dilation."""
        plain = self.groups == 1 and self.dilation == (1, 1) and self.padding_mode == "zeros"
        return self.in_channels == 1 and plain and not isinstance(self.padding, str)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or not self._unfolds():
            return super().forward(x)
        n, _, height, width = x.shape
        (k_h, k_w), (s_h, s_w), (p_h, p_w) = self.kernel_size, self.stride, self.padding
        out_h, out_w = (height + 2 * p_h - k_h) // s_h + 1, (width + 2 * p_w - k_w) // s_w + 1
        columns = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)
        out = (self.weight.reshape(self.out_channels, -1) @ columns).view(
            n, self.out_channels, out_h, out_w
        )
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


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
            ProjectionConvTranspose2d(latent_dim, widths[0], base, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for width_in, width_out in itertools.pairwise(widths):
            layers += [
                nn.ConvTranspose2d(width_in, width_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width_out),
                nn.ReLU(True),
            ]
        layers += [FoldConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
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
        layers: list[nn.Module] = [
            UnfoldConv2d(channels, widths[0], 4, 2, 1),
            nn.LeakyReLU(0.2, True),
        ]
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

"""ResNet generator and critic for 32×32 images: the CIFAR-10 architecture of WGAN-GP.

Gulrajani et al. 2017, appendix: generator = linear to 4×4×128, three up-sampling residual blocks
(nearest ×2, 3×3 convolutions, batch norm), then BN-ReLU-conv3×3-tanh; critic = four residual blocks
of 128 channels (the first two down-sample by mean pooling), ReLU, global mean pool, linear. The
critic has no normalisation, so the gradient penalty stays per-sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _UpBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(channels), nn.BatchNorm2d(channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.shortcut = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=2.0, mode="nearest")
        h = self.conv1(F.interpolate(F.relu(self.bn1(x)), scale_factor=2.0, mode="nearest"))
        h = self.conv2(F.relu(self.bn2(h)))
        return h + self.shortcut(up)


class _DownBlock(nn.Module):
    def __init__(self, channels_in: int, channels: int, *, downsample: bool, first: bool) -> None:
        super().__init__()
        self.first, self.downsample = first, downsample
        self.conv1 = nn.Conv2d(channels_in, channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)
        needs_projection = downsample or channels_in != channels
        self.shortcut = nn.Conv2d(channels_in, channels, 1) if needs_projection else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        skip = self.shortcut(x)
        if self.downsample:
            h, skip = F.avg_pool2d(h, 2), F.avg_pool2d(skip, 2)
        return h + skip


class ResNetGenerator(nn.Module):
    """z ↦ 32×32 image in [-1, 1]."""

    def __init__(self, *, latent_dim: int = 128, channels: int = 3, width: int = 128) -> None:
        super().__init__()
        self.latent_dim, self.out_shape, self.width = latent_dim, (channels, 32, 32), width
        self.linear = nn.Linear(latent_dim, 4 * 4 * width)
        self.blocks = nn.Sequential(*(_UpBlock(width) for _ in range(3)))
        self.out = nn.Sequential(
            nn.BatchNorm2d(width), nn.ReLU(True), nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh()
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.linear(z).view(z.shape[0], self.width, 4, 4)
        return self.out(self.blocks(h))


class ResNetCritic(nn.Module):
    """32×32 image ↦ one raw score."""

    def __init__(self, *, channels: int = 3, width: int = 128) -> None:
        super().__init__()
        self.in_shape = (channels, 32, 32)
        self.blocks = nn.Sequential(
            _DownBlock(channels, width, downsample=True, first=True),
            _DownBlock(width, width, downsample=True, first=False),
            _DownBlock(width, width, downsample=False, first=False),
            _DownBlock(width, width, downsample=False, first=False),
        )
        self.linear = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.blocks(x)).mean(dim=(2, 3))
        return self.linear(h).flatten()

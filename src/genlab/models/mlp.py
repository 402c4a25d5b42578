"""Fully connected networks: generator and critic for the 2-D toy sets and for tiny images."""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh}


class MLP(nn.Module):
    """x ↦ Linear → act → … → Linear, with ``hidden`` widths; every activation is 1-Lipschitz.

    Keeping the net a plain chain of affine maps and 1-Lipschitz activations lets the product of
    layer spectral norms bound its Lipschitz constant (`genlab.divergences.lipschitz`).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        hidden: tuple[int, ...] = (512, 512, 512),
        activation: str = "relu",
    ) -> None:
        super().__init__()
        widths = (in_dim, *hidden)
        layers: list[nn.Module] = []
        for width_in, width_out in itertools.pairwise(widths):
            layers += [nn.Linear(width_in, width_out), _ACTIVATIONS[activation]()]
        layers.append(nn.Linear(widths[-1], out_dim))
        self.net = nn.Sequential(*layers)
        self.in_dim, self.out_dim = in_dim, out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class MLPGenerator(nn.Module):
    """z ↦ image or point; images come out through tanh in [-1, 1] with ``out_shape`` (C, H, W)."""

    def __init__(
        self,
        latent_dim: int,
        out_shape: tuple[int, ...],
        *,
        hidden: tuple[int, ...] = (512, 512, 512),
        tanh: bool = True,
    ) -> None:
        super().__init__()
        self.latent_dim, self.out_shape = latent_dim, tuple(out_shape)
        self.body = MLP(latent_dim, math.prod(out_shape), hidden=hidden)
        self.tanh = tanh

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.body(z).view(z.shape[0], *self.out_shape)
        return torch.tanh(x) if self.tanh else x


class MLPCritic(nn.Module):
    """Image or point ↦ one score per sample (no sigmoid: objectives take raw scores)."""

    def __init__(
        self,
        in_shape: tuple[int, ...],
        *,
        hidden: tuple[int, ...] = (512, 512, 512),
        activation: str = "leaky_relu",
    ) -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.body = MLP(math.prod(in_shape), 1, hidden=hidden, activation=activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(1)

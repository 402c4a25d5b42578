r"""Variational auto-encoder: encoder q_φ(z|x) = N(μ_φ(x), diag σ²_φ(x)) and decoder p_θ(x|z).

The decoder outputs the parameters of p_θ(x|z) for data in [-1, 1]: the mean of a Gaussian
(likelihood ``gaussian``) or the logits of independent Bernoullis over the pixel intensities mapped
to [0, 1] (likelihood ``bernoulli``). `VAE.generate` turns those parameters into images in [-1, 1],
so a VAE samples like any generator: z ~ N(0, I), x = generate(z).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from genlab.models.dcgan import DCGANGenerator, _norm2d, spatial_plan
from genlab.models.mlp import MLP


class ConvEncoder(nn.Module):
    """Image ↦ (μ, log σ²) through stride-2 convolutions (mirror of the DCGAN generator)."""

    def __init__(self, *, channels: int, size: int, latent_dim: int, width: int = 64) -> None:
        super().__init__()
        base, doublings = spatial_plan(size)
        widths = [width * 2**i for i in range(doublings)]
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for width_in, width_out in itertools.pairwise(widths):
            layers += [
                nn.Conv2d(width_in, width_out, 4, 2, 1, bias=False),
                _norm2d("batch", width_out, 0),
                nn.LeakyReLU(0.2, True),
            ]
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(widths[-1] * base * base, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_var = self.head(self.features(x)).chunk(2, dim=1)
        return mu, log_var


class MLPEncoder(nn.Module):
    """Image or vector ↦ (μ, log σ²) through a fully connected network."""

    def __init__(
        self, *, in_shape: tuple[int, ...], latent_dim: int, hidden: tuple[int, ...] = (512, 256)
    ) -> None:
        super().__init__()
        self.body = MLP(math.prod(in_shape), 2 * latent_dim, hidden=hidden)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_var = self.body(x).chunk(2, dim=1)
        return mu, log_var


class ConvDecoder(nn.Module):
    """z ↦ decoder parameters of shape (C, size, size): a DCGAN generator without its tanh."""

    def __init__(self, *, channels: int, size: int, latent_dim: int, width: int = 64) -> None:
        super().__init__()
        generator = DCGANGenerator(latent_dim=latent_dim, channels=channels, size=size, width=width)
        self.net = generator.net[:-1]  # the distribution's parameters are unbounded
        self.latent_dim = latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


class MLPDecoder(nn.Module):
    """z ↦ decoder parameters of shape ``out_shape`` through a fully connected network."""

    def __init__(
        self, *, out_shape: tuple[int, ...], latent_dim: int, hidden: tuple[int, ...] = (256, 512)
    ) -> None:
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.body = MLP(latent_dim, math.prod(out_shape), hidden=hidden)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z).view(z.shape[0], *self.out_shape)


class VAE(nn.Module):
    """q_φ(z|x) and p_θ(x|z) with the reparametrisation z = μ + σ·ε, ε ~ N(0, I)."""

    def __init__(
        self, encoder: nn.Module, decoder: nn.Module, *, latent_dim: int, likelihood: str
    ) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.latent_dim, self.likelihood = latent_dim, likelihood

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(decoder parameters, μ, log σ²) for a batch, sampling z by reparametrisation."""
        mu, log_var = self.encode(x)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        return self.decoder(z), mu, log_var

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] from latents: the decoder's mean (Gaussian) or 2σ(logits) - 1."""
        params = self.decoder(z)
        if self.likelihood == "bernoulli":
            return torch.sigmoid(params) * 2.0 - 1.0
        return params.clamp(-1.0, 1.0)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic reconstruction in [-1, 1]: decode the posterior mean μ_φ(x)."""
        mu, _ = self.encode(x)
        return self.generate(mu)

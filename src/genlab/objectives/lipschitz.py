r"""Ways to keep a critic (approximately) Lipschitz, each applied at its own moment.

A method has three hooks, called by the training loop:

- ``prepare(critic)`` once, at construction (spectral normalisation reparametrises the layers);
- ``penalty(critic, real, fake)`` inside the critic loss (gradient penalty);
- ``after_critic_step(critic)`` after every critic optimiser step (weight clipping).

Weight clipping bounds every layer's spectral norm by c·sqrt(m·n) (see
`genlab.divergences.lipschitz`), so the network is K-Lipschitz for some K that depends on c and the
architecture, not 1-Lipschitz (Arjovsky et al. 2017). The gradient penalty pushes ||∇f|| to 1 on
random interpolates between real and fake points, where the optimal critic has unit gradient
(Gulrajani et al. 2017). Spectral normalisation divides each weight by a power-iteration estimate of
its largest singular value (Miyato et al. 2018).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn

from genlab.errors import GenlabError

_NORMALISABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@dataclass(frozen=True)
class LipschitzMethod:
    """No constraint: the base of every method, and the choice of plain GANs."""

    name: str = "none"

    def prepare(self, critic: nn.Module) -> nn.Module:
        return critic

    def penalty(
        self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor
    ) -> torch.Tensor | None:
        return None

    @torch.no_grad()
    def after_critic_step(self, critic: nn.Module) -> None:
        return None


@dataclass(frozen=True)
class WeightClipping(LipschitzMethod):
    """w ← clip(w, -c, c) for every critic parameter after each critic step (WGAN: c = 0.01)."""

    name: str = "clip"
    clip: float = 0.01

    def __post_init__(self) -> None:
        if not self.clip > 0:
            raise GenlabError(f"weight clipping needs a clip value c > 0, got {self.clip}")

    @torch.no_grad()
    def after_critic_step(self, critic: nn.Module) -> None:
        for parameter in critic.parameters():
            parameter.clamp_(-self.clip, self.clip)


@dataclass(frozen=True)
class GradientPenalty(LipschitzMethod):
    r"""WGAN-GP: λ · E_{x̂}[(||∇_x̂ f(x̂)||_2 - 1)^2], x̂ = εx + (1 - ε)x̃, ε ~ U[0, 1] per sample."""

    name: str = "gp"
    weight: float = 10.0
    target: float = 1.0

    def prepare(self, critic: nn.Module) -> nn.Module:
        if any(isinstance(module, _BATCH_NORMS) for module in critic.modules()):
            # The penalty is per-sample; batch norm couples samples, so the WGAN-GP paper drops it.
            warnings.warn(
                "the critic has batch normalisation, which makes the gradient penalty invalid "
                "(it couples samples); use layer norm or no normalisation in the critic",
                stacklevel=2,
            )
        return critic

    def penalty(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return self.weight * gradient_penalty(critic, real, fake, target=self.target)


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, *, target: float = 1.0
) -> torch.Tensor:
    r"""E_{x̂}[(||∇_x̂ f(x̂)||_2 - target)^2] on random interpolates x̂ (no weight λ applied)."""
    fake = fake.detach()
    shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    epsilon = torch.rand(shape, device=real.device, dtype=real.dtype)
    interpolates = (epsilon * real + (1.0 - epsilon) * fake).requires_grad_(True)
    scores = critic(interpolates)
    (gradients,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    norms = gradients.flatten(1).norm(2, dim=1)
    return ((norms - target) ** 2).mean()


@dataclass(frozen=True)
class SpectralNormalization(LipschitzMethod):
    """Reparametrise every linear and convolutional layer as W / σ(W) (power iteration)."""

    name: str = "sn"
    power_iterations: int = 1

    def prepare(self, critic: nn.Module) -> nn.Module:
        layers = [m for m in critic.modules() if isinstance(m, _NORMALISABLE)]
        for layer in layers:
            if not _has_spectral_norm(layer):
                nn.utils.parametrizations.spectral_norm(
                    layer, n_power_iterations=self.power_iterations
                )
        return critic


def _has_spectral_norm(layer: nn.Module) -> bool:
    parametrizations = getattr(layer, "parametrizations", None)
    return parametrizations is not None and "weight" in parametrizations


def make_lipschitz_method(
    name: str, *, clip: float = 0.01, gp_weight: float = 10.0
) -> LipschitzMethod:
    """Build a method by name: ``none``, ``clip`` (value c), ``gp`` (weight λ) or ``sn``."""
    if name == "none":
        return LipschitzMethod()
    if name == "clip":
        return WeightClipping(clip=clip)
    if name == "gp":
        return GradientPenalty(weight=gp_weight)
    if name == "sn":
        return SpectralNormalization()
    raise GenlabError(f"unknown Lipschitz method {name!r}; choose one of: none, clip, gp, sn")

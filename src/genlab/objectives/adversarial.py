r"""Adversarial objectives, each a pair of losses on the critic's raw scores.

Scores are the critic's outputs before any sigmoid: for the GAN objectives s = logit D(x), so
D(x) = σ(s); for Wasserstein and hinge, s = f(x). Writing log σ(s) = -softplus(-s) and
log(1 - σ(s)) = -softplus(s) keeps every loss finite for any score.

=====================  =====================================  ==============================
objective              critic (discriminator) loss            generator loss
=====================  =====================================  ==============================
minimax (saturating)   -E log D(x) - E log(1 - D(G(z)))       E log(1 - D(G(z)))
non-saturating         same                                   -E log D(G(z))
wasserstein            E f(G(z)) - E f(x)                     -E f(G(z))
hinge                  E max(0, 1 - f(x)) + E max(0, 1 + f(G(z)))   -E f(G(z))
=====================  =====================================  ==============================

References: Goodfellow et al. 2014 (minimax, and the non-saturating heuristic of its section 3);
Arjovsky et al. 2017 (Wasserstein); Lim & Ye 2017 and Miyato et al. 2018 (hinge).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genlab.errors import GenlabError


def wasserstein_estimate(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    r"""The critic's dual estimate E_P[f(x)] - E_Q[f(x)], logged for every objective.

    For a 1-Lipschitz f this lower-bounds W_1(P, Q) (Kantorovich–Rubinstein duality); for a
    K-Lipschitz critic it lower-bounds K·W_1.
    """
    return real_scores.mean() - fake_scores.mean()


@dataclass(frozen=True)
class AdversarialObjective:
    """Base: ``critic_loss(real, fake)`` and ``generator_loss(fake)`` on raw critic scores."""

    name: str = "abstract"

    def critic_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class MinimaxGAN(AdversarialObjective):
    """The original GAN game: the generator minimises E log(1 - D(G(z))), which saturates."""

    name: str = "minimax"

    def critic_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        # log(1 - σ(s)) = -softplus(s); its gradient σ(s) vanishes when D rejects fakes confidently.
        return -F.softplus(fake_scores).mean()


@dataclass(frozen=True)
class NonSaturatingGAN(MinimaxGAN):
    """Same discriminator; the generator maximises log D(G(z)) instead, keeping strong gradients."""

    name: str = "non-saturating"

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake_scores).mean()


@dataclass(frozen=True)
class Wasserstein(AdversarialObjective):
    """WGAN: the critic maximises E f(x) - E f(G(z)); needs a Lipschitz constraint on f."""

    name: str = "wasserstein"

    def critic_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return fake_scores.mean() - real_scores.mean()

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return -fake_scores.mean()


@dataclass(frozen=True)
class Hinge(AdversarialObjective):
    """Hinge loss of SN-GAN: the critic's margin is 1 on each side."""

    name: str = "hinge"

    def critic_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return -fake_scores.mean()


ADVERSARIAL_OBJECTIVES: dict[str, type[AdversarialObjective]] = {
    cls.name: cls for cls in (MinimaxGAN, NonSaturatingGAN, Wasserstein, Hinge)
}


def make_adversarial_objective(name: str) -> AdversarialObjective:
    """The objective registered under ``name``; an unknown name lists the known ones."""
    if name not in ADVERSARIAL_OBJECTIVES:
        known = ", ".join(sorted(ADVERSARIAL_OBJECTIVES))
        raise GenlabError(f"unknown adversarial objective {name!r}; choose one of: {known}")
    return ADVERSARIAL_OBJECTIVES[name]()

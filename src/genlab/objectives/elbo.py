r"""The VAE objective: the negative evidence lower bound, per image, in nats.

    -ELBO(x) = E_{q_φ(z|x)}[-log p_θ(x|z)] + β · KL(q_φ(z|x) || N(0, I))

with, for q_φ = N(μ, diag σ²),  KL = ½ Σ_j (μ_j² + σ_j² - 1 - log σ_j²)  (Kingma & Welling 2014,
appendix B). β = 1 is the true bound; β ≠ 1 is the β-VAE of Higgins et al. 2017.

Likelihoods, for data x in [-1, 1] with D values per image:

- ``gaussian`` with fixed σ_x: -log p(x|z) = ||x - x̂||²₂ / (2σ_x²) + (D/2) log(2πσ_x²). The
  reconstruction term is the squared distance ||in - out||₂² between the reference image and the
  decoded one, scaled by 1/(2σ_x²); we also report ||in - out||₂ itself.
- ``bernoulli``: pixel intensities mapped to [0, 1] are the targets of independent Bernoullis with
  logits x̂: -log p(x|z) = Σ BCE(logits, (x + 1)/2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genlab.errors import GenlabError

LIKELIHOODS = ("gaussian", "bernoulli")


def gaussian_kl_to_standard_normal(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) || N(0, I)) per sample: ½ Σ (μ² + σ² - 1 - log σ²)."""
    return 0.5 * (mu.pow(2) + log_var.exp() - 1.0 - log_var).sum(dim=1)


@dataclass(frozen=True)
class ELBO:
    """Negative ELBO with a ``gaussian`` (fixed σ_x) or ``bernoulli`` likelihood and KL weight β."""

    likelihood: str = "gaussian"
    beta: float = 1.0
    sigma: float = 0.1

    def __post_init__(self) -> None:
        if self.likelihood not in LIKELIHOODS:
            known = ", ".join(LIKELIHOODS)
            raise GenlabError(f"unknown VAE likelihood {self.likelihood!r}; choose one of {known}")
        if not self.sigma > 0:
            raise GenlabError(f"the Gaussian likelihood needs sigma > 0, got {self.sigma}")

    def negative_log_likelihood(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p_θ(x|z) per sample for decoder output ``params`` and data ``x`` in [-1, 1]."""
        if self.likelihood == "bernoulli":
            targets = (x + 1.0) / 2.0
            bce = F.binary_cross_entropy_with_logits(params, targets, reduction="none")
            return bce.flatten(1).sum(dim=1)
        dims = x[0].numel()
        squared = (x - params).pow(2).flatten(1).sum(dim=1)
        return squared / (2.0 * self.sigma**2) + 0.5 * dims * math.log(
            2.0 * math.pi * self.sigma**2
        )

    def __call__(
        self, params: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Batch means of ``loss`` (-ELBO with β), ``reconstruction``, ``kl`` and ``l2``."""
        reconstruction = self.negative_log_likelihood(params, x)
        kl = gaussian_kl_to_standard_normal(mu, log_var)
        mean = params if self.likelihood == "gaussian" else torch.sigmoid(params) * 2.0 - 1.0
        l2 = (x - mean).flatten(1).norm(dim=1)
        return {
            "loss": (reconstruction + self.beta * kl).mean(),
            "reconstruction": reconstruction.mean(),
            "kl": kl.mean(),
            "l2": l2.detach().mean(),
        }

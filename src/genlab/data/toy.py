"""Two-dimensional toy distributions, sampled as float32 (n, 2) tensors.

The first three are the toy sets of WGAN-GP (Gulrajani et al., 2017, "Improved Training of
Wasserstein GANs", code ``gan_toy.py``), with that code's constants:

- ``8gaussians``: a uniform mixture of 8 Gaussians with standard deviation 0.02 centred at
  2·(cos kπ/4, sin kπ/4), k = 0..7, the whole then divided by 1.414;
- ``25gaussians``: a uniform mixture of 25 Gaussians with standard deviation 0.05 centred on the
  grid (2i, 2j), i, j ∈ {-2, ..., 2}, divided by 2.828;
- ``swissroll``: scikit-learn's swiss roll with noise 0.25, keeping its (x, z) coordinates,
  divided by 7.5: t = 1.5π(1 + 2u) with u ~ U[0, 1], (x, z) = (t cos t, t sin t) + 0.25·ε,
  ε ~ N(0, I).

``parallel_lines`` is the lecture's example of distributions with disjoint supports:
P_θ is the law of (θ, Z) with Z ~ U[0, 1], so P_0 and P_θ are parallel vertical segments. Their
Wasserstein-1 distance is |θ| while their JS divergence is log 2 and their KL divergence is
infinite for every θ ≠ 0 (Arjovsky et al., 2017, "Wasserstein GAN", Example 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from genlab.errors import GenlabError

# Divisors from gan_toy.py ("stdev" there): they bring each set to roughly unit scale.
_EIGHT_SCALE, _EIGHT_STD, _EIGHT_DIVISOR = 2.0, 0.02, 1.414
_GRID_SPACING, _GRID_STD, _GRID_DIVISOR = 2.0, 0.05, 2.828
_ROLL_NOISE, _ROLL_DIVISOR = 0.25, 7.5


def _check_count(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise GenlabError(f"the number of samples must be a non-negative integer, got {n!r}")


def eight_gaussian_centres() -> torch.Tensor:
    """The 8 mixture centres, after the 1/1.414 scaling: float32 (8, 2)."""
    angles = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
    centres = _EIGHT_SCALE * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return (centres / _EIGHT_DIVISOR).to(torch.float32)


def twenty_five_gaussian_centres() -> torch.Tensor:
    """The 25 grid centres, after the 1/2.828 scaling: float32 (25, 2)."""
    steps = torch.arange(-2, 3, dtype=torch.float64) * _GRID_SPACING
    grid = torch.cartesian_prod(steps, steps)
    return (grid / _GRID_DIVISOR).to(torch.float32)


def _mixture(
    centres: torch.Tensor, std: float, n: int, generator: torch.Generator | None
) -> torch.Tensor:
    """n points from the uniform mixture of N(centre, std²·I), centres already scaled."""
    which = torch.randint(len(centres), (n,), generator=generator)
    noise = torch.randn(n, 2, generator=generator, dtype=torch.float32)
    return centres[which] + std * noise


def sample_8gaussians(n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP's 8 Gaussians on a circle (see the module documentation)."""
    _check_count(n)
    return _mixture(eight_gaussian_centres(), _EIGHT_STD / _EIGHT_DIVISOR, n, generator)


def sample_25gaussians(n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP's 5×5 grid of Gaussians (see the module documentation)."""
    _check_count(n)
    return _mixture(twenty_five_gaussian_centres(), _GRID_STD / _GRID_DIVISOR, n, generator)


def sample_swissroll(n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP's 2-D swiss roll (see the module documentation)."""
    _check_count(n)
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator, dtype=torch.float64))
    roll = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1)
    noise = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return ((roll + _ROLL_NOISE * noise) / _ROLL_DIVISOR).to(torch.float32)


def parallel_lines(
    theta: float, n: int, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """n points (θ, z), z ~ U[0, 1]: the lecture's P_θ (P_0 is ``theta=0``). float32 (n, 2)."""
    _check_count(n)
    if not math.isfinite(float(theta)):
        raise GenlabError(f"theta must be a finite number, got {theta!r}")
    z = torch.rand(n, generator=generator, dtype=torch.float32)
    return torch.stack([torch.full((n,), float(theta), dtype=torch.float32), z], dim=1)


@dataclass(frozen=True)
class ToyDistribution:
    """A registered toy distribution: ``sample(n, generator=...)`` gives float32 (n, 2)."""

    name: str
    sample: Callable[..., torch.Tensor]
    description: str


TOY_DISTRIBUTIONS: dict[str, ToyDistribution] = {
    toy.name: toy
    for toy in (
        ToyDistribution("8gaussians", sample_8gaussians, "8 Gaussians on a circle (WGAN-GP)"),
        ToyDistribution("25gaussians", sample_25gaussians, "5×5 grid of Gaussians (WGAN-GP)"),
        ToyDistribution("swissroll", sample_swissroll, "2-D swiss roll, noise 0.25 (WGAN-GP)"),
        ToyDistribution(
            "parallel_lines",
            lambda n, *, generator=None: parallel_lines(0.0, n, generator=generator),
            "P_0 of the parallel lines: (0, z), z ~ U[0,1]; parallel_lines(theta, n) for P_θ",
        ),
    )
}


def list_toy() -> list[str]:
    """Names of the registered toy distributions, sorted."""
    return sorted(TOY_DISTRIBUTIONS)


def is_toy(name: str) -> bool:
    """Whether ``name`` is a registered toy distribution (2-D points, not images)."""
    return name in TOY_DISTRIBUTIONS


def sample_toy(name: str, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """n samples of the registered toy distribution ``name``, float32 (n, 2)."""
    if name not in TOY_DISTRIBUTIONS:
        raise GenlabError(f"unknown toy distribution {name!r}; known: {', '.join(list_toy())}")
    return TOY_DISTRIBUTIONS[name].sample(n, generator=generator)

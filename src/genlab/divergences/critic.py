r"""The dual view of W_1: a trained Lipschitz critic estimates the Wasserstein distance.

Kantorovich–Rubinstein duality (Villani, *Optimal Transport: Old and New*, 2009, Theorem 5.10;
Arjovsky et al., "Wasserstein GAN", ICML 2017, eq. (2)):

.. math::

    W_1(P, Q) = \sup_{\lVert f \rVert_L \le 1}
                \mathbb{E}_{x \sim P} f(x) - \mathbb{E}_{y \sim Q} f(y),

with ground cost ‖x - y‖_2. Any 1-Lipschitz f gives a lower bound; a K-Lipschitz f gives a lower
bound on K·W_1. A neural critic trained to maximise the gap under a Lipschitz method approximates
the supremum: with the gradient penalty (Gulrajani et al. 2017) the scale is close to 1, so the gap
estimates W_1 itself; with weight clipping it estimates K·W_1 for an unknown K (see
`genlab.divergences.lipschitz.clip_bound`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from genlab.arrays import check_integer
from genlab.divergences._backend import ArrayLike, as_generator, as_points, same_dimension
from genlab.divergences.wasserstein import exact_wasserstein
from genlab.errors import GenlabError
from genlab.models.mlp import MLPCritic
from genlab.objectives.adversarial import Wasserstein, wasserstein_estimate
from genlab.objectives.lipschitz import LipschitzMethod, make_lipschitz_method
from genlab.objectives.step import critic_step


@dataclass(frozen=True)
class CriticFit:
    """A trained critic and its dual estimate.

    Attributes
    ----------
    critic
        The trained network f (in eval mode), mapping (N, d) points to (N,) scores.
    estimate
        E_P f - E_Q f over all the given points after training.
    history
        The minibatch gap E_P f - E_Q f at each step (before its update).
    method
        Name of the Lipschitz method used.
    """

    critic: nn.Module
    estimate: float
    history: tuple[float, ...]
    method: str


@dataclass(frozen=True)
class W1Estimate:
    """The critic's W_1 estimate next to the exact value on a subsample.

    Attributes
    ----------
    estimate
        The critic's dual estimate E_P f - E_Q f.
    exact
        Exact W_1 (POT network simplex) between subsamples of at most ``exact_size`` points; for a
        subsample of a larger set this is itself an estimate of the population value (biased
        upwards, like every empirical W_1).
    relative_error
        (estimate - exact) / exact, signed: negative when the critic falls short of the supremum.
    exact_size
        Points per set used by the exact computation.
    fit
        The `CriticFit` behind the estimate.
    """

    estimate: float
    exact: float
    relative_error: float
    exact_size: int
    fit: CriticFit


def critic_wasserstein(
    critic: nn.Module, p: ArrayLike, q: ArrayLike, *, batch_size: int = 4096
) -> float:
    r"""E_{x~P} f(x) - E_{y~Q} f(y) for the critic f on two samples, without gradients.

    A lower bound on K·W_1(P, Q) when f is K-Lipschitz (Kantorovich–Rubinstein). Points go
    through the critic in batches of ``batch_size``, in the dtype and on the device of its first
    parameter.
    """
    p_points, q_points = as_points(p, name="p"), as_points(q, name="q")
    same_dimension(p_points, q_points, names=("p", "q"))
    return _mean_score(critic, p_points, batch_size) - _mean_score(critic, q_points, batch_size)


def fit_critic(
    p: ArrayLike,
    q: ArrayLike,
    *,
    method: LipschitzMethod | str = "gp",
    steps: int = 500,
    lr: float = 1e-3,
    hidden: tuple[int, ...] = (64, 64),
    seed: int = 0,
    batch_size: int = 256,
    clip: float = 0.01,
    gp_weight: float = 10.0,
) -> CriticFit:
    r"""Train an `MLPCritic` f to maximise E_P f - E_Q f under a Lipschitz method.

    Each step draws ``batch_size`` points of each sample (with replacement), takes one Adam step
    (β = (0.5, 0.9), as in WGAN-GP) on the WGAN critic loss E_Q f - E_P f plus the method's
    penalty, then applies the method's post-step hook (clipping). The gradient-penalty critic's
    gap estimates W_1(P, Q) with ground cost ‖x - y‖_2; a clipped critic's gap estimates K·W_1.

    The penalty is soft, so the gradient-penalty gap overshoots W_1 by a predictable factor: a
    critic with slope g along the transport direction earns g·W_1 and pays about λ(g - 1)², which
    is best at g = 1 + W_1/(2λ). The gap is therefore near W_1·(1 + W_1/(2λ)), and scoring the
    critic on the points it was trained on adds a few percent more. Measured on two 2-D Gaussians
    2000 points each, 300 steps: W_1 = 1.5, λ = 10 gives +9% to +12%; W_1 = 2.24 gives +10% to
    +17% with λ = 10 and ±1.3% with λ = 100 (a stiffer penalty converges more slowly, though).

    Parameters
    ----------
    p, q
        Samples of shapes (n, d) and (m, d); numpy or torch.
    method
        A `LipschitzMethod`, or a name for `make_lipschitz_method`: ``"gp"`` (default),
        ``"clip"``, ``"sn"`` or ``"none"`` (unconstrained: the gap then grows without bound).
    steps, lr, hidden, batch_size
        Adam steps, learning rate, hidden widths of the critic, points per set per step.
    seed
        Seeds initialisation, minibatches and penalty interpolates (global RNGs untouched).
    clip, gp_weight
        Clip value c and penalty weight λ, used only when ``method`` is a name.

    Returns
    -------
    CriticFit
        The critic, its gap on all points, and the training history.
    """
    if isinstance(method, str):
        method = make_lipschitz_method(method, clip=clip, gp_weight=gp_weight)
    check_integer(steps, "steps")
    p_points, q_points = as_points(p, name="p"), as_points(q, name="q")
    same_dimension(p_points, q_points, names=("p", "q"))
    p_tensor = torch.from_numpy(p_points).float()
    q_tensor = torch.from_numpy(q_points).float()
    objective = Wasserstein()
    history = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        critic = method.prepare(MLPCritic((p_points.shape[1],), hidden=hidden))
        optimiser = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.9))
        for _ in range(steps):
            real = p_tensor[torch.randint(len(p_tensor), (batch_size,))]
            fake = q_tensor[torch.randint(len(q_tensor), (batch_size,))]
            update = critic_step(critic, optimiser, objective, method, real, fake)
            history.append(wasserstein_estimate(update.real_scores, update.fake_scores).item())
    critic.eval()
    estimate = critic_wasserstein(critic, p_points, q_points)
    return CriticFit(critic=critic, estimate=estimate, history=tuple(history), method=method.name)


def estimate_w1(
    p: ArrayLike,
    q: ArrayLike,
    *,
    method: LipschitzMethod | str = "gp",
    steps: int = 500,
    lr: float = 1e-3,
    hidden: tuple[int, ...] = (64, 64),
    seed: int = 0,
    batch_size: int = 256,
    clip: float = 0.01,
    gp_weight: float = 10.0,
    exact_size: int = 1000,
) -> W1Estimate:
    """Fit a critic (`fit_critic`) and set its W_1 estimate beside the exact W_1 of subsamples.

    The exact value is `exact_wasserstein` (p = 1, Euclidean cost) between random subsamples of at
    most ``exact_size`` points of each set (drawn with ``seed``); see `W1Estimate` for its bias.
    """
    fit = fit_critic(
        p,
        q,
        method=method,
        steps=steps,
        lr=lr,
        hidden=hidden,
        seed=seed,
        batch_size=batch_size,
        clip=clip,
        gp_weight=gp_weight,
    )
    p_points, q_points = as_points(p, name="p"), as_points(q, name="q")
    rng = as_generator(seed)
    p_sub, q_sub = _subsample(p_points, exact_size, rng), _subsample(q_points, exact_size, rng)
    exact = exact_wasserstein(p_sub, q_sub, p=1)
    if exact == 0:
        raise GenlabError("the two samples coincide (exact W_1 = 0), so no relative error exists")
    return W1Estimate(
        estimate=fit.estimate,
        exact=exact,
        relative_error=(fit.estimate - exact) / exact,
        exact_size=max(len(p_sub), len(q_sub)),
        fit=fit,
    )


def _subsample(points: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    if len(points) <= size:
        return points
    return points[rng.choice(len(points), size=size, replace=False)]


def _mean_score(critic: nn.Module, points: np.ndarray, batch_size: int) -> float:
    parameter = next(critic.parameters())
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(points), batch_size):
            batch = torch.from_numpy(points[start : start + batch_size])
            scores = critic(batch.to(parameter.device, parameter.dtype))
            total += scores.double().sum().item()
    return total / len(points)

r"""The GAN view of Jensen–Shannon: a trained discriminator gives a lower bound on JS(P, Q).

For any discriminator D: R^d → (0, 1) the GAN value

.. math::

    V(D) = \log 2 + \tfrac12 \mathbb{E}_{x \sim P} \log D(x)
                 + \tfrac12 \mathbb{E}_{y \sim Q} \log\big(1 - D(y)\big)

satisfies V(D) ≤ JS(P, Q), with equality at the optimal D*(x) = p(x) / (p(x) + q(x))
(Goodfellow et al., "Generative adversarial nets", NeurIPS 2014, Proposition 1 and Theorem 1:
max_D of their value function is -log 4 + 2·JS; V here is half of it plus log 2). Training D to
minimise the minimax critic loss -E_P log D - E_Q log(1 - D) = 2(log 2 - V) is exactly maximising V.
The lower bound holds for every D, so it is also a variational estimate of JS from samples
(Nowozin et al., "f-GAN", NeurIPS 2016).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

from genlab.arrays import check_integer
from genlab.divergences._backend import ArrayLike, as_points, same_dimension
from genlab.errors import GenlabError
from genlab.models.mlp import MLPCritic
from genlab.objectives.adversarial import MinimaxGAN

# Early stopping checks the validation value this often (steps).
_VALIDATE_EVERY = 10


@dataclass(frozen=True)
class ClassifierJSResult:
    """Outcome of `classifier_js_lower_bound`; values in nats.

    Attributes
    ----------
    estimate
        V(D) on the held-out test points: an unbiased estimate of V(D) ≤ JS(P, Q) for the trained D
        (so at most JS in expectation; it can be slightly negative when P = Q).
    train_estimate
        V(D) on the training points (optimistic: D was fitted to them).
    heldout_accuracy
        Balanced accuracy of the rule D > ½ on the held-out test points.
    history
        Training V(D) at each step (before its update).
    discriminator
        The trained network; it sees inputs standardised with the training mean and std.
    test_counts
        Held-out test points of x and of y (the denominators of ``heldout_accuracy``).
    test_correct
        Of those, the points the rule D > ½ classified correctly (x as P, y as Q), for exact
        binomial intervals and tests (`genlab.metrics.judges.c2st`).
    """

    estimate: float
    train_estimate: float
    heldout_accuracy: float
    history: tuple[float, ...]
    discriminator: torch.nn.Module
    test_counts: tuple[int, int] = (0, 0)
    test_correct: tuple[int, int] = (0, 0)


def classifier_js_lower_bound(
    x: ArrayLike,
    y: ArrayLike,
    *,
    hidden: tuple[int, ...] = (32, 32),
    steps: int = 500,
    lr: float = 3e-3,
    holdout: float = 0.5,
    seed: int = 0,
) -> ClassifierJSResult:
    r"""Train a discriminator between x ~ P and y ~ Q and report the GAN value, a JS lower bound.

    Each sample is split at random into a training part and a held-out part (fraction
    ``holdout``), the held-out part halved into validation and test points. D = σ(s), with s an
    `MLPCritic` (leaky ReLU, ``hidden`` widths; ``hidden=()`` is logistic regression), is trained
    by full-batch Adam on the minimax discriminator loss; the weights with the best validation
    V(D) (checked every 10 steps) are kept — early stopping, so an over-fitted D does not drag the
    value below what a simpler D achieves — and V(D) = log 2 - ½·loss is evaluated on the test
    points, which played no part in training or selection. Classes are weighted equally
    whatever n and m (each expectation is a mean over its own sample), as the formula assumes.

    Inputs are standardised with the pooled training mean and standard deviation first; D composed
    with an affine map is still a discriminator, so the bound is unaffected.

    Parameters
    ----------
    x, y
        Samples of shapes (n, d), (m, d) (at least 4 points each); numpy or torch.
    hidden
        Hidden widths of the discriminator.
    steps
        Adam steps (full batch).
    lr
        Adam learning rate.
    holdout
        Fraction of each sample held out (half validation, half test), in (0, 1).
    seed
        Seeds the split and the initialisation (the global torch RNG is left untouched).

    Returns
    -------
    ClassifierJSResult
        Held-out estimate, training estimate, accuracy, history and the network.
    """
    if not 0 < holdout < 1:
        raise GenlabError(f"holdout must lie in (0, 1), got {holdout}")
    check_integer(steps, "steps")
    x_points = as_points(x, name="x", min_count=4)
    y_points = as_points(y, name="y", min_count=4)
    same_dimension(x_points, y_points)
    # One seed for both splits: equal-sized samples are split by the same permutation, so when
    # x and y share points (a set compared with itself, or y derived from x row by row) each
    # point and its twin land in the same part, and no test point was trained on with the other
    # label (which would push the held-out accuracy below ½).
    x_train, x_val, x_test = _split(x_points, holdout, np.random.default_rng(seed))
    y_train, y_val, y_test = _split(y_points, holdout, np.random.default_rng(seed))
    mean = np.concatenate([x_train, y_train]).mean(0)
    std = np.concatenate([x_train, y_train]).std(0) + 1e-12  # constant coordinates stay finite

    def tensor(points: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((points - mean) / std).float()

    objective = MinimaxGAN()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        discriminator = MLPCritic((x_points.shape[1],), hidden=hidden)
    optimiser = torch.optim.Adam(discriminator.parameters(), lr=lr)
    xt, yt, xv, yv = tensor(x_train), tensor(y_train), tensor(x_val), tensor(y_val)
    history: list[float] = []
    best_value, best_state = -math.inf, copy.deepcopy(discriminator.state_dict())
    for step in range(steps):
        loss = objective.critic_loss(discriminator(xt), discriminator(yt))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        history.append(math.log(2.0) - 0.5 * loss.item())  # V(D) before this step
        if step % _VALIDATE_EVERY == _VALIDATE_EVERY - 1 or step == steps - 1:
            with torch.no_grad():
                value = _gan_value(objective, discriminator(xv), discriminator(yv))
            if value > best_value:
                best_value, best_state = value, copy.deepcopy(discriminator.state_dict())
    discriminator.load_state_dict(best_state)
    discriminator.eval()
    with torch.no_grad():
        train_value = _gan_value(objective, discriminator(xt), discriminator(yt))
        x_scores, y_scores = discriminator(tensor(x_test)), discriminator(tensor(y_test))
        test_value = _gan_value(objective, x_scores, y_scores)
        x_correct, y_correct = int((x_scores > 0).sum()), int((y_scores <= 0).sum())
        accuracy = 0.5 * (x_correct / len(x_scores) + y_correct / len(y_scores))
    return ClassifierJSResult(
        estimate=test_value,
        train_estimate=train_value,
        heldout_accuracy=accuracy,
        history=tuple(history),
        discriminator=discriminator,
        test_counts=(len(x_scores), len(y_scores)),
        test_correct=(x_correct, y_correct),
    )


def _gan_value(objective: MinimaxGAN, x_scores: torch.Tensor, y_scores: torch.Tensor) -> float:
    """V(D) = log 2 - ½·(minimax discriminator loss), from the logits s with D = σ(s)."""
    return math.log(2.0) - 0.5 * objective.critic_loss(x_scores, y_scores).item()


def _split(
    points: np.ndarray, holdout: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random (train, validation, test) parts; validation and test share the held-out fraction."""
    order = rng.permutation(points.shape[0])
    held = min(max(2, round(holdout * points.shape[0])), points.shape[0] - 1)
    validation = held // 2
    return (
        points[order[held:]],
        points[order[:validation]],
        points[order[validation:held]],
    )

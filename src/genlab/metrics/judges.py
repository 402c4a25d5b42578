r"""The lecture's learned judges as metrics: a classifier two-sample test and a held-out critic W_1.

"How to assess quality? Find a function — a network — that judges, and train it as a GAN's
discriminator." Two such judges, each trained on one part of the features of A (real) and B
(generated) and scored on the other part, so the number is not inflated by fitting:

- `c2st`: the classifier two-sample test of Lopez-Paz & Oquab ("Revisiting Classifier Two-Sample
  Tests", ICLR 2017). A small discriminator (the one of
  `genlab.divergences.classifier.classifier_js_lower_bound`) learns to tell A from B on half of
  each; its accuracy t̂ on held-out points is the statistic. t̂ ≈ ½ when the two are
  indistinguishable to it, → 1 when they are told apart. Under P = Q the held-out labels are
  independent of the classifier's decisions, so the number correct is exactly Binomial(N, ½):
  the p-value of ``t̂ > ½`` is a binomial tail and the interval is Clopper–Pearson's.
- `critic_w1`: a gradient-penalty critic (Gulrajani et al. 2017;
  `genlab.divergences.critic.fit_critic`) fitted on one half of each set, its gap
  E_A f − E_B f measured on the other half. By Kantorovich–Rubinstein any 1-Lipschitz f gives a
  lower bound on W_1(A, B); the held-out gap of the fitted f is an unbiased estimate of that f's
  population gap, with a normal interval from the per-point scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

from genlab.divergences.classifier import classifier_js_lower_bound
from genlab.divergences.critic import fit_critic
from genlab.errors import GenlabError
from genlab.metrics import keys
from genlab.metrics.registry import MetricInputs
from genlab.metrics.validation import ArrayLike, as_feature_pair

#: Fewest images per side for a judge: with fewer, the held-out part is a handful of points and
#: the interval spans most of [0, 1].
MIN_IMAGES = 20

#: Defaults of the metrics (recorded in every result's settings).
C2ST_HIDDEN = (32, 32)
C2ST_STEPS = 300
C2ST_LR = 3e-3
CRITIC_HIDDEN = (64, 64)
CRITIC_STEPS = 500
CRITIC_LR = 1e-3
CRITIC_BATCH = 256
CRITIC_GP_WEIGHT = 10.0


@dataclass(frozen=True)
class C2STResult:
    """A classifier two-sample test.

    Attributes
    ----------
    accuracy
        Held-out accuracy t̂ = correct / n_test (classes equal in size, so also the balanced one).
    low, high
        Clopper–Pearson interval of the classifier's accuracy at ``confidence``.
    p_value
        P(Binomial(n_test, ½) ≥ correct): the test of A = B against a classifier doing better.
    correct, n_test
        Held-out points classified correctly, and held-out points (both classes together).
    """

    accuracy: float
    low: float
    high: float
    p_value: float
    correct: int
    n_test: int


@dataclass(frozen=True)
class CriticW1Result:
    """A held-out gradient-penalty critic's estimate of W_1.

    Attributes
    ----------
    estimate
        mean f(A_eval) − mean f(B_eval), in feature units.
    low, high
        estimate ∓ z · √(Var f(A_eval)/n_A + Var f(B_eval)/n_B), the normal interval at
        ``confidence`` of the fitted critic's population gap.
    fit_estimate
        The same gap on the points it was fitted to (optimistic, for comparison).
    scale
        The factor the features were divided by before fitting (see `critic_w1`).
    n_eval
        Held-out points per side (A, B).
    """

    estimate: float
    low: float
    high: float
    fit_estimate: float
    scale: float
    n_eval: tuple[int, int]


def c2st(
    real: ArrayLike,
    fake: ArrayLike,
    *,
    hidden: tuple[int, ...] = C2ST_HIDDEN,
    steps: int = C2ST_STEPS,
    lr: float = C2ST_LR,
    seed: int = 0,
    confidence: float = 0.95,
) -> C2STResult:
    r"""Classifier two-sample test (Lopez-Paz & Oquab 2017) of features ``real`` against ``fake``.

    The larger set is first subsampled (with ``seed``) to the size n of the smaller, as the test
    assumes equal classes. `classifier_js_lower_bound` then splits each set into halves: one to
    train a discriminator (an MLP with ``hidden`` widths, full-batch Adam, ``steps`` steps, on
    standardised inputs), the other into validation points (early stopping) and test points.
    With c correct of the N test points,

    .. math::

        \hat t = c / N, \qquad
        p = P(\mathrm{Bin}(N, \tfrac12) \ge c), \qquad
        [\,B^{-1}(\tfrac{\alpha}{2}; c, N - c + 1),\; B^{-1}(1 - \tfrac{\alpha}{2}; c + 1, N - c)\,]

    (Clopper & Pearson 1934, with B⁻¹ the beta quantile). The test points play no part in
    training or early stopping, so given the trained classifier each is an independent Bernoulli
    trial; with P = Q its success rate is exactly ½.

    Raises
    ------
    GenlabError
        With fewer than `MIN_IMAGES` rows on either side, or bad features.
    """
    x, y = _pair(real, fake)
    rng = np.random.default_rng(seed)
    n = min(len(x), len(y))
    # Equal classes: the test's null is Binomial(N, 1/2) only when both are equally represented.
    x, y = _subsample(x, n, rng), _subsample(y, n, rng)
    fit = classifier_js_lower_bound(x, y, hidden=hidden, steps=steps, lr=lr, seed=seed)
    correct, n_test = sum(fit.test_correct), sum(fit.test_counts)
    low, high = clopper_pearson(correct, n_test, confidence=confidence)
    p_value = float(stats.binomtest(correct, n_test, 0.5, alternative="greater").pvalue)
    return C2STResult(correct / n_test, low, high, p_value, correct, n_test)


def critic_w1(
    real: ArrayLike,
    fake: ArrayLike,
    *,
    hidden: tuple[int, ...] = CRITIC_HIDDEN,
    steps: int = CRITIC_STEPS,
    lr: float = CRITIC_LR,
    batch_size: int = CRITIC_BATCH,
    gp_weight: float = CRITIC_GP_WEIGHT,
    seed: int = 0,
    confidence: float = 0.95,
) -> CriticW1Result:
    r"""W_1(A, B) by a gradient-penalty critic fitted on one half and scored on the other.

    Each set is split at random into halves (equal-sized sets by one permutation). The
    features are divided by one number, the root mean squared distance s of the fitting halves'
    points to their pooled mean, and a critic f is fitted there (`fit_critic`, ``"gp"``, weight
    λ = ``gp_weight``); the estimate is

    .. math::

        \hat W_1 = s \, \big(\overline{f(A_{\mathrm{eval}}/s)}
                            - \overline{f(B_{\mathrm{eval}}/s)}\big),

    which is W_1's dual with f(·/s)·s, a 1-Lipschitz function when f is (W_1 is homogeneous:
    W_1(A/s, B/s) = W_1(A, B)/s). The rescaling matters because the penalty is soft: a critic
    pays λ(g − 1)² for slope g and earns g·W_1, so its gap overshoots by about W_1/(2λ) in the
    units it sees (`fit_critic`); at unit scale W_1 is O(1) and the overshoot a few per cent,
    whatever the extractor's units (Inception features have norms in the tens).

    The interval is ``estimate ± z·se`` with se² = Var f(A_eval)/n_A + Var f(B_eval)/n_B (the
    held-out gap is a difference of two independent means). It covers the sampling noise of the
    held-out halves for this critic, not the variation between fits, and the gap is a lower bound
    on W_1 up to the overshoot above.

    Raises
    ------
    GenlabError
        With fewer than `MIN_IMAGES` rows on either side, or bad features.
    """
    x, y = _pair(real, fake)
    # The same permutation for both sides (as in `c2st`): a point shared by A and B falls in
    # the same half on both, so the critic is never scored on a point it was fitted to.
    x_fit, x_eval = _halves(x, np.random.default_rng(seed))
    y_fit, y_eval = _halves(y, np.random.default_rng(seed))
    pooled = np.concatenate([x_fit, y_fit])
    scale = float(np.sqrt(((pooled - pooled.mean(0)) ** 2).sum(1).mean()))
    if scale == 0:
        raise GenlabError("every feature vector is the same, so W_1 is 0 and no critic is needed")
    fit = fit_critic(
        x_fit / scale,
        y_fit / scale,
        method="gp",
        steps=steps,
        lr=lr,
        hidden=hidden,
        seed=seed,
        batch_size=batch_size,
        gp_weight=gp_weight,
    )
    with torch.no_grad():
        fx = fit.critic(torch.from_numpy(x_eval / scale).float()).double().numpy() * scale
        fy = fit.critic(torch.from_numpy(y_eval / scale).float()).double().numpy() * scale
    estimate = float(fx.mean() - fy.mean())
    se = math.sqrt(fx.var(ddof=1) / len(fx) + fy.var(ddof=1) / len(fy))
    half = float(stats.norm.ppf(0.5 + confidence / 2)) * se
    return CriticW1Result(
        estimate=estimate,
        low=estimate - half,
        high=estimate + half,
        fit_estimate=fit.estimate * scale,
        scale=scale,
        n_eval=(len(x_eval), len(y_eval)),
    )


def clopper_pearson(
    successes: int, trials: int, *, confidence: float = 0.95
) -> tuple[float, float]:
    """The exact (Clopper–Pearson 1934) interval of a binomial proportion, ``(low, high)``."""
    if trials < 1 or not 0 <= successes <= trials:
        raise GenlabError(f"need 0 <= successes <= trials, trials >= 1; got {successes}/{trials}")
    alpha = 1.0 - confidence
    failures = trials - successes
    low = 0.0 if successes == 0 else stats.beta.ppf(alpha / 2, successes, failures + 1)
    high = 1.0 if failures == 0 else stats.beta.ppf(1 - alpha / 2, successes + 1, failures)
    return float(low), float(high)


def _pair(real: ArrayLike, fake: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both feature sets as float64 NumPy arrays, each with at least `MIN_IMAGES` rows."""
    a, b = as_feature_pair(real, fake, what_a="features of A", what_b="features of B")
    for what, t in (("A", a), ("B", b)):
        if t.shape[0] < MIN_IMAGES:
            raise GenlabError(
                f"{what} has {t.shape[0]} images; a learned judge trains on half and scores the "
                f"other half, which needs at least {MIN_IMAGES} per side (pass a larger --n)"
            )
    return a.detach().cpu().double().numpy(), b.detach().cpu().double().numpy()


def _subsample(points: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    if len(points) == size:
        return points
    return points[np.sort(rng.choice(len(points), size=size, replace=False))]


def _halves(points: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(len(points))
    half = len(points) // 2
    return points[order[:half]], points[order[half:]]


# --- The metrics' compute functions (`genlab.metrics.registry` records name them) -------------


def c2st_metric(inputs: MetricInputs) -> dict[str, float]:
    """`c2st` of A's and B's features, with its Clopper–Pearson interval and p-value."""
    result = c2st(inputs.a.features, inputs.b.features, seed=inputs.options.seed)
    return {
        keys.C2ST: result.accuracy,
        keys.C2ST + keys.CI_LOW_SUFFIX: result.low,
        keys.C2ST + keys.CI_HIGH_SUFFIX: result.high,
        keys.C2ST_P_VALUE: result.p_value,
    }


def critic_w1_metric(inputs: MetricInputs) -> dict[str, float]:
    """`critic_w1` of A's and B's features, with its normal interval."""
    result = critic_w1(inputs.a.features, inputs.b.features, seed=inputs.options.seed)
    return {
        keys.CRITIC_W1: result.estimate,
        keys.CRITIC_W1 + keys.CI_LOW_SUFFIX: result.low,
        keys.CRITIC_W1 + keys.CI_HIGH_SUFFIX: result.high,
    }

"""The learned judges against known answers: c2st (Bayes accuracy, binomial null) and the held-out
critic's W_1 (closed form for shifted Gaussians)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from genlab.errors import GenlabError
from genlab.metrics import judges, registry
from genlab.metrics.judges import c2st, clopper_pearson, critic_w1


def _gaussians(seed: int, n: int, d: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(n, d))
    y[:, 0] += shift
    return x, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_c2st_of_one_distribution_is_one_half(seed):
    # 800 per side: 400 held-out test points, so the accuracy's sd under the null is 0.025;
    # the band is 4 sd.
    x, y = _gaussians(seed, 800, 8, shift=0.0)
    result = c2st(x, y, seed=seed)
    assert result.n_test == 400
    assert abs(result.accuracy - 0.5) < 0.1
    assert result.p_value > 1e-3
    assert result.low <= result.accuracy <= result.high


def test_c2st_of_identical_sets_is_exactly_one_half():
    # Both sets are split by one permutation, so the test points of A and of B are the same
    # points: whatever the classifier says of a point is right for one copy and wrong for the
    # other.
    x, _ = _gaussians(0, 800, 8, shift=0.0)
    result = c2st(x, torch.from_numpy(x))
    assert result.accuracy == 0.5
    assert result.correct == result.n_test // 2


@pytest.mark.parametrize("seed", [0, 1])
def test_c2st_of_shifted_gaussians_reaches_the_bayes_accuracy(seed):
    # N(0, I) against N(δe₁, I) with equal priors: the best rule thresholds x₁ at δ/2 and is right
    # with probability Φ(δ/2). A trained classifier can only fall short of it (by a little).
    shift = 1.5
    x, y = _gaussians(seed, 1000, 2, shift=shift)
    result = c2st(x, y, seed=seed)
    bayes = stats.norm.cdf(shift / 2)
    assert abs(result.accuracy - bayes) < 0.06
    assert result.p_value < 1e-10


def test_c2st_equalises_the_classes_and_refuses_too_few():
    x, y = _gaussians(0, 400, 3, shift=0.0)
    assert c2st(x, y[:100]).n_test == c2st(x[:100], y[:100]).n_test
    with pytest.raises(GenlabError, match="at least 20 per side"):
        c2st(x[:10], y)


@pytest.mark.parametrize(("successes", "trials"), [(0, 10), (3, 10), (37, 50), (50, 50)])
def test_clopper_pearson_bounds_solve_the_binomial_tails(successes, trials):
    # The interval's defining property: at its lower bound P(X ≥ c) = α/2, at its upper P(X ≤ c).
    low, high = clopper_pearson(successes, trials, confidence=0.9)
    if successes > 0:
        assert stats.binom.sf(successes - 1, trials, low) == pytest.approx(0.05, rel=1e-6)
    else:
        assert low == 0.0
    if successes < trials:
        assert stats.binom.cdf(successes, trials, high) == pytest.approx(0.05, rel=1e-6)
    else:
        assert high == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_critic_w1_of_shifted_gaussians_is_the_closed_form(seed):
    # W₁(N(0, I), N(μ, I)) = ‖μ‖: translation is an optimal coupling (cost ‖μ‖ for every pair)
    # and E‖X − Y‖ ≥ ‖E(X − Y)‖ = ‖μ‖ for any coupling. The soft penalty overshoots by about
    # W₁/(2λ) at unit scale (+5 % here) and the critic's fit varies: within 20 % per seed.
    shift = 1.5
    x, y = _gaussians(seed, 2000, 2, shift=shift)
    result = critic_w1(x, y, seed=seed)
    assert abs(result.estimate - shift) / shift < 0.2
    assert result.low < result.estimate < result.high
    assert result.high - result.low < 0.5
    assert result.n_eval == (1000, 1000)


@pytest.mark.parametrize("seed", [0, 1])
def test_critic_w1_of_one_distribution_is_near_zero(seed):
    x, y = _gaussians(seed, 1000, 2, shift=0.0)
    result = critic_w1(x, y, seed=seed, steps=300)
    # Held out, the fitted critic's gap has mean exactly 0 here; its se is about 0.05.
    assert abs(result.estimate) < 0.2
    assert result.fit_estimate >= result.estimate - 0.2


def test_critic_w1_of_identical_sets_is_zero():
    # One permutation for both: the held-out halves are the same points, scored by one critic.
    x, _ = _gaussians(0, 400, 3, shift=0.0)
    assert critic_w1(x, x.copy(), steps=50).estimate == 0.0


def test_critic_w1_is_in_the_features_units():
    # W₁(cP, cQ) = c·W₁(P, Q), and the critic sees the features divided by their own scale, so
    # the estimate scales exactly (up to float32 round-off in the network).
    x, y = _gaussians(0, 400, 3, shift=1.0)
    small = critic_w1(x, y, steps=100)
    large = critic_w1(x * 40.0, y * 40.0, steps=100)
    assert large.estimate == pytest.approx(40.0 * small.estimate, rel=1e-3)
    assert large.scale == pytest.approx(40.0 * small.scale, rel=1e-12)


def test_registry_settings_are_the_functions_defaults():
    options = registry.MetricOptions()
    c2st_settings = registry.get("c2st").settings(options)
    assert tuple(c2st_settings["c2st_hidden"]) == judges.C2ST_HIDDEN
    assert c2st_settings["c2st_steps"] == judges.C2ST_STEPS
    critic_settings = registry.get("critic-w1").settings(options)
    assert tuple(critic_settings["critic_hidden"]) == judges.CRITIC_HIDDEN
    assert critic_settings["critic_steps"] == judges.CRITIC_STEPS
    assert critic_settings["critic_gp"] == judges.CRITIC_GP_WEIGHT
    assert math.isclose(c2st_settings["c2st_holdout"], 0.5)

"""Inception Score against its closed-form extremes and a direct scipy.stats.entropy computation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special
import scipy.stats

from genlab.errors import GenlabError
from genlab.metrics.isc import inception_score


def _scipy_inception_score(logits: np.ndarray, splits: int) -> tuple[float, float]:
    probs = scipy.special.softmax(logits.astype(np.float64), axis=1)
    scores = []
    n = len(probs)
    for index in range(splits):  # Salimans et al.'s split boundaries: i·N // splits
        part = probs[index * n // splits : (index + 1) * n // splits]
        marginal = part.mean(axis=0)
        kl = [scipy.stats.entropy(row, marginal) for row in part]
        scores.append(np.exp(np.mean(kl)))
    return float(np.mean(scores)), float(np.std(scores))


def test_matches_scipy_entropy_on_random_logits(backend):
    logits = np.random.default_rng(0).normal(scale=3.0, size=(103, 20)).astype(backend.dtype)
    expected_mean, expected_std = _scipy_inception_score(logits, splits=10)
    mean, std = inception_score(backend(logits), splits=10)
    assert mean == pytest.approx(expected_mean, rel=1e-10)
    assert std == pytest.approx(expected_std, rel=1e-8)


def test_uniform_predictions_score_one():
    mean, std = inception_score(np.zeros((50, 1008)), splits=5)  # equal logits: uniform softmax
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("classes", [1, 4, 10])
def test_confident_predictions_spread_evenly_score_the_class_count(classes):
    labels = np.tile(np.arange(classes), 20)
    probs = np.eye(10)[labels]  # one-hot over 10 outputs, only `classes` of them used
    mean, std = inception_score(probs, splits=2, from_logits=False)
    assert mean == pytest.approx(classes, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_confident_logits_approach_the_class_count():
    logits = 50.0 * np.eye(8)[np.tile(np.arange(8), 5)]
    mean, _ = inception_score(logits, splits=1)
    assert mean == pytest.approx(8.0, rel=1e-6)


def test_all_images_one_class_score_one():
    probs = np.tile(np.eye(5)[2], (30, 1))
    assert inception_score(probs, splits=3, from_logits=False)[0] == pytest.approx(1.0)


def test_splits_use_consecutive_rows():
    # First half all class 0, second half evenly spread over 2 classes: with 2 splits, the scores
    # are exactly 1 and 2, so the mean is 1.5 and the std (ddof=0) 0.5.
    probs = np.concatenate([np.tile(np.eye(2)[0], (10, 1)), np.eye(2)[np.tile([0, 1], 5)]])
    mean, std = inception_score(probs, splits=2, from_logits=False)
    assert mean == pytest.approx(1.5)
    assert std == pytest.approx(0.5)


def test_bad_probabilities_are_rejected():
    with pytest.raises(GenlabError, match="must sum to 1"):
        inception_score(np.full((10, 4), 0.5), splits=1, from_logits=False)
    with pytest.raises(GenlabError, match="non-negative"):
        inception_score(np.array([[1.5, -0.5]] * 4), splits=1, from_logits=False)


def test_fewer_rows_than_splits_is_rejected():
    with pytest.raises(GenlabError, match="5 rows but at least 10"):
        inception_score(np.zeros((5, 3)))
    with pytest.raises(GenlabError, match="splits must be at least 1"):
        inception_score(np.zeros((5, 3)), splits=0)


def test_non_finite_logits_are_rejected():
    logits = np.zeros((20, 3))
    logits[4, 0] = np.nan
    with pytest.raises(GenlabError, match="logits has 1 of 20 rows with NaN"):
        inception_score(logits)

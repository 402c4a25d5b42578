"""Mode coverage against hand computations, scipy.stats.entropy and naive loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from genlab.data.mnist import load_mnist
from genlab.errors import GenlabError
from genlab.metrics.modes import (
    MODE_CONFIDENCE,
    MODE_COUNTS,
    MODE_KL_UNIFORM,
    MODES_COVERED,
    mode_coverage,
)


def one_hot(classes, num_classes=10) -> np.ndarray:
    return np.eye(num_classes)[np.asarray(classes)]


def test_all_samples_in_one_class(backend):
    result = mode_coverage(backend(one_hot([3] * 50)))
    assert result[MODES_COVERED] == 1
    assert result[MODE_KL_UNIFORM] == pytest.approx(math.log(10), rel=1e-12)
    assert result[MODE_CONFIDENCE] == pytest.approx(1.0)
    assert result[MODE_COUNTS] == [0, 0, 0, 50, 0, 0, 0, 0, 0, 0]


def test_even_spread_covers_every_mode_with_zero_kl(backend):
    result = mode_coverage(backend(one_hot(np.arange(70) % 10)))
    assert result[MODES_COVERED] == 10
    assert result[MODE_KL_UNIFORM] == pytest.approx(0.0, abs=1e-15)
    assert result[MODE_COUNTS] == [7] * 10


def test_hand_computed_two_class_split():
    # 3 samples of class 0, 1 of class 1 among K = 4: KL = 3/4 log 3 + 1/4 log 1 (q·K = 3, 1).
    probabilities = np.array(
        [[0.7, 0.1, 0.1, 0.1], [0.4, 0.3, 0.2, 0.1], [0.9, 0.1, 0.0, 0.0], [0.2, 0.5, 0.3, 0.0]]
    )
    result = mode_coverage(probabilities, num_classes=4)
    assert result[MODES_COVERED] == 2
    assert result[MODE_KL_UNIFORM] == pytest.approx(0.75 * math.log(3))
    assert result[MODE_CONFIDENCE] == pytest.approx((0.7 + 0.4 + 0.9 + 0.5) / 4)
    assert result[MODE_COUNTS] == [3, 1, 0, 0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_probabilities_against_scipy_and_loops(backend, seed):
    rng = np.random.default_rng(seed)
    # Skewed Dirichlet draws: some classes common, some rare, some possibly absent.
    probabilities = rng.dirichlet(np.geomspace(0.05, 3.0, 10), size=300)
    result = mode_coverage(backend(probabilities))

    counts = [0] * 10
    for row in probabilities:
        counts[max(range(10), key=lambda k: row[k])] += 1
    histogram = np.array(counts) / len(probabilities)
    assert result[MODE_COUNTS] == counts
    assert result[MODES_COVERED] == sum(c > 0 for c in counts)
    expected_kl = scipy.stats.entropy(histogram, np.full(10, 0.1))
    assert result[MODE_KL_UNIFORM] == pytest.approx(expected_kl, rel=1e-10, abs=1e-12)
    assert result[MODE_CONFIDENCE] == pytest.approx(
        sum(max(row) for row in probabilities) / len(probabilities), rel=1e-6
    )


def test_thresholds_ignore_rarely_predicted_classes():
    # counts: class 0 → 90, class 1 → 8, class 2 → 2 (of 100).
    probabilities = one_hot([0] * 90 + [1] * 8 + [2] * 2)
    assert mode_coverage(probabilities)[MODES_COVERED] == 3
    assert mode_coverage(probabilities, min_count=3)[MODES_COVERED] == 2
    assert mode_coverage(probabilities, min_count=8)[MODES_COVERED] == 2
    assert mode_coverage(probabilities, min_count=9)[MODES_COVERED] == 1
    assert mode_coverage(probabilities, min_fraction=0.02)[MODES_COVERED] == 3
    assert mode_coverage(probabilities, min_fraction=0.05)[MODES_COVERED] == 2
    assert mode_coverage(probabilities, min_fraction=0.5)[MODES_COVERED] == 1
    # The threshold only changes the count, never the histogram or its KL.
    assert mode_coverage(probabilities, min_count=50)[MODE_KL_UNIFORM] == pytest.approx(
        mode_coverage(probabilities)[MODE_KL_UNIFORM]
    )


def test_ties_go_to_the_lowest_class():
    probabilities = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    assert mode_coverage(probabilities, num_classes=3)[MODE_COUNTS] == [1, 1, 0]


def test_mnist_test_labels_as_predictions_cover_all_ten_modes(mnist_dir):
    labels = load_mnist("test", data_dir=mnist_dir.parent, download=False).labels.numpy()
    result = mode_coverage(one_hot(labels))
    assert result[MODES_COVERED] == 10
    frequencies = np.bincount(labels, minlength=10) / len(labels)
    assert result[MODE_KL_UNIFORM] == pytest.approx(
        scipy.stats.entropy(frequencies, np.full(10, 0.1)), rel=1e-10
    )
    # MNIST's classes are nearly balanced (8.9% to 11.4% of the test set): KL well under 0.01.
    assert 0 < result[MODE_KL_UNIFORM] < 0.01
    # Even a threshold of 8% of the samples per class keeps all ten digits.
    assert mode_coverage(one_hot(labels), min_fraction=0.08)[MODES_COVERED] == 10


@pytest.mark.parametrize(
    ("probabilities", "match"),
    [
        (np.full((4, 9), 1 / 9), r"shape \(N, 10\)"),
        (np.zeros((0, 10)), r"shape \(N, 10\)"),
        (np.full(10, 0.1), r"shape \(N, 10\)"),
        (np.ones((3, 10), dtype=np.int64), "must be floats"),
        (np.full((3, 10), np.nan), "NaN"),
        (np.random.default_rng(0).normal(size=(3, 10)), "softmax"),
        (np.full((3, 10), 0.2), "rows summing to 1"),
    ],
)
def test_invalid_probabilities_are_rejected(probabilities, match):
    with pytest.raises(GenlabError, match=match):
        mode_coverage(probabilities)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"num_classes": 0}, "num_classes"),
        ({"min_count": 0}, "min_count"),
        ({"min_fraction": 1.5}, "min_fraction"),
        ({"min_fraction": -0.1}, "min_fraction"),
    ],
)
def test_invalid_options_are_rejected(options, match):
    with pytest.raises(GenlabError, match=match):
        mode_coverage(one_hot([0, 1]), **options)

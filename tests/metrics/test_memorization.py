"""Memorisation against known answers: copies → 1, unseen real images → at most α (1 %) on
average, and each piece (neighbours, threshold, Z_U) against a direct scipy computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.spatial.distance import cdist

from genlab.errors import GenlabError
from genlab.metrics import memorization as memorization_module
from genlab.metrics import registry
from genlab.metrics.memorization import mann_whitney_z, memorization, nearest_neighbours


def _real(seed: int, n: int, d: int = 6, offset: float = 5.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)) + offset


def test_exact_copies_are_all_memorised():
    train = _real(0, 500)
    chosen = np.random.default_rng(1).choice(500, size=200)
    result = memorization(train, train[chosen])
    assert result.fraction == 1.0
    assert result.copies == 200
    assert torch.equal(result.nearest, torch.from_numpy(chosen))
    assert result.pairs[0][2] == 0.0
    assert result.z < -10  # far closer to the training set than unseen real images


def test_near_copies_are_memorised_and_shown_closest_first():
    train = _real(0, 500)
    noise = np.random.default_rng(2).normal(scale=1e-3, size=(100, 6))
    generated = np.concatenate([train[:100] + noise, _real(3, 100)])
    result = memorization(train, generated)
    # The 100 copies are flagged; the 100 fresh images at most at the rate of unseen real ones.
    assert 100 <= result.copies <= 105
    assert all(b < 100 and a == b for b, a, _ in result.pairs)
    distances = [distance for _, _, distance in result.pairs]
    assert distances == sorted(distances)


@pytest.mark.parametrize("with_heldout", [False, True])
def test_unseen_real_images_are_flagged_at_most_at_rate_alpha(with_heldout):
    # The bound: for an image exchangeable with the null's, P(d < τ) ≤ k/(m + 1) ≤ α = 1 %,
    # averaged over everything random (τ included). Five draws of 1000: the mean stays below
    # 2 % (its sd from the threshold's noise is about 0.15 %).
    fractions = []
    for seed in range(5):
        train, fresh = _real(10 * seed, 1000), _real(10 * seed + 1, 1000)
        heldout = _real(10 * seed + 2, 1000) if with_heldout else None
        result = memorization(train, fresh, heldout=heldout, seed=seed)
        fractions.append(result.fraction)
        assert abs(result.z) < 4
    assert np.mean(fractions) <= 0.02


def test_threshold_is_the_kth_smallest_leave_one_out_distance():
    train, generated = _real(0, 300), _real(1, 50)
    result = memorization(train, generated, alpha=0.05)
    distances = cdist(train, train)
    np.fill_diagonal(distances, np.inf)
    null = np.sort(distances.min(axis=1))
    k = math.floor(0.05 * 301)
    assert result.threshold == pytest.approx(null[k - 1], rel=1e-12)
    nearest = cdist(generated, train).min(axis=1)
    assert result.copies == int((nearest < null[k - 1]).sum())
    assert result.fraction == result.copies / 50


def test_heldout_null_is_the_heldout_distances():
    train, generated, heldout = _real(0, 300), _real(1, 50), _real(2, 200)
    result = memorization(train, generated, heldout=heldout, alpha=0.05)
    null = np.sort(cdist(heldout, train).min(axis=1))
    np.testing.assert_allclose(result.null.numpy(), null, rtol=1e-12)
    assert result.threshold == pytest.approx(null[math.floor(0.05 * 201) - 1], rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nearest_neighbours_match_brute_force(dtype, monkeypatch):
    monkeypatch.setattr(memorization_module, "_CHUNK", 7)  # several chunks
    queries, reference = _real(0, 30, offset=100.0), _real(1, 40, offset=100.0)
    q, r = torch.from_numpy(queries).to(dtype), torch.from_numpy(reference).to(dtype)
    distances, indices = nearest_neighbours(q, r)
    full = cdist(queries, reference)
    np.testing.assert_array_equal(indices.numpy(), full.argmin(axis=1))
    tolerance = 1e-4 if dtype == torch.float32 else 1e-10
    np.testing.assert_allclose(distances.numpy(), full.min(axis=1), rtol=tolerance)
    # Leave-one-out: each row may not match itself, yet an exact duplicate still counts.
    with_duplicate = np.concatenate([reference, reference[:1]])
    rows = np.arange(len(with_duplicate))
    t = torch.from_numpy(with_duplicate).double()
    loo, _ = nearest_neighbours(t, t, exclude=rows)
    brute = cdist(with_duplicate, with_duplicate)
    np.fill_diagonal(brute, np.inf)
    np.testing.assert_allclose(loo.numpy(), brute.min(axis=1), atol=1e-10)
    assert loo[0] == 0
    assert loo[-1] == 0


def test_z_is_the_standardised_mann_whitney_statistic():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=40), rng.normal(0.3, size=70)
    u = stats.mannwhitneyu(x, y).statistic  # U of x
    expected = (u - 40 * 70 / 2) / math.sqrt(40 * 70 * (40 + 70 + 1) / 12)
    assert mann_whitney_z(x, y) == pytest.approx(expected, rel=1e-12)
    assert mann_whitney_z(x, y) < 0  # x tends to be smaller


def test_too_few_images_for_the_threshold_is_a_clear_error():
    with pytest.raises(GenlabError, match="needs at least 99 images of A"):
        memorization(_real(0, 50), _real(1, 50))
    with pytest.raises(GenlabError, match="alpha must lie in"):
        memorization(_real(0, 50), _real(1, 50), alpha=1.5)


def test_registry_settings_are_the_functions_defaults():
    settings = registry.get("memorization").settings(registry.MetricOptions())
    assert settings["memorization_alpha"] == memorization_module.ALPHA
    assert settings["memorization_null_size"] == memorization_module.NULL_SIZE

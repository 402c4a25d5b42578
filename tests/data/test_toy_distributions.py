"""Toy 2-D distributions against their definitions and against scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.cluster import KMeans
from sklearn.datasets import make_swiss_roll

from genlab.data.toy import (
    TOY_DISTRIBUTIONS,
    list_toy,
    parallel_lines,
    sample_toy,
)
from genlab.errors import GenlabError


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", sorted(TOY_DISTRIBUTIONS))
def test_shape_dtype_and_determinism(name):
    first = sample_toy(name, 500, generator=seeded(3))
    assert first.shape == (500, 2)
    assert first.dtype == torch.float32
    assert torch.isfinite(first).all()
    assert torch.equal(first, sample_toy(name, 500, generator=seeded(3)))
    assert not torch.equal(first, sample_toy(name, 500, generator=seeded(4)))
    assert sample_toy(name, 0, generator=seeded(0)).shape == (0, 2)


def test_eight_gaussians_modes_found_by_clustering():
    points = sample_toy("8gaussians", 8000, generator=seeded(0)).numpy()
    found = KMeans(n_clusters=8, n_init=10, random_state=0).fit(points).cluster_centers_
    # Independent construction of the WGAN-GP centres: scale 2 on the unit circle, / 1.414.
    s = 1 / math.sqrt(2)
    known = 2 * np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s), (-s, -s)])
    known = known / 1.414
    distance = np.linalg.norm(found[:, None] - known[None], axis=2)
    assert distance.min(axis=1).max() < 0.005  # each found centre sits on a known one
    assert sorted(distance.argmin(axis=1)) == list(range(8))  # and every known one is found
    spread = points - known[np.linalg.norm(points[:, None] - known[None], axis=2).argmin(axis=1)]
    assert spread.std() == pytest.approx(0.02 / 1.414, rel=0.05)


def test_twenty_five_gaussians_on_the_grid_with_equal_weights():
    points = sample_toy("25gaussians", 25000, generator=seeded(1)).numpy()
    grid = np.array([(2 * i, 2 * j) for i in range(-2, 3) for j in range(-2, 3)]) / 2.828
    nearest = np.linalg.norm(points[:, None] - grid[None], axis=2).argmin(axis=1)
    offsets = points - grid[nearest]
    assert np.abs(offsets).max() < 6 * 0.05 / 2.828
    counts = np.bincount(nearest, minlength=25)
    assert stats.chisquare(counts).pvalue > 1e-4


def test_swissroll_matches_scikit_learn():
    ours = sample_toy("swissroll", 20000, generator=seeded(2)).numpy().astype(np.float64)
    reference = make_swiss_roll(20000, noise=0.25, random_state=0)[0][:, [0, 2]] / 7.5
    for axis in range(2):
        assert stats.ks_2samp(ours[:, axis], reference[:, axis]).pvalue > 1e-4
    radius_ours, radius_ref = np.linalg.norm(ours, axis=1), np.linalg.norm(reference, axis=1)
    assert stats.ks_2samp(radius_ours, radius_ref).pvalue > 1e-4


@pytest.mark.parametrize("theta", [0.0, 0.3, -1.75, 1e-3])
def test_parallel_lines(theta):
    points = parallel_lines(theta, 5000, generator=seeded(5))
    assert points.dtype == torch.float32
    assert (points[:, 0] == torch.tensor(theta, dtype=torch.float32)).all()
    z = points[:, 1].numpy()
    assert z.min() >= 0.0
    assert z.max() <= 1.0
    assert stats.kstest(z, "uniform").pvalue > 1e-4


def test_parallel_lines_registered_as_p0():
    assert torch.equal(
        sample_toy("parallel_lines", 10, generator=seeded(1)),
        parallel_lines(0.0, 10, generator=seeded(1)),
    )


def test_unknown_name_and_bad_arguments():
    with pytest.raises(GenlabError, match="unknown toy distribution 'moons'; known: 25gaussians"):
        sample_toy("moons", 10)
    with pytest.raises(GenlabError, match="non-negative integer"):
        sample_toy("8gaussians", -1)
    with pytest.raises(GenlabError, match="finite"):
        parallel_lines(float("nan"), 3)
    assert list_toy() == ["25gaussians", "8gaussians", "parallel_lines", "swissroll"]

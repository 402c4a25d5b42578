"""PRDC against a direct full-matrix implementation with scipy's cdist, for several chunk sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from genlab.errors import GenlabError
from genlab.metrics import prdc as prdc_module
from genlab.metrics.keys import COVERAGE, DENSITY, PRECISION, RECALL
from genlab.metrics.prdc import density_coverage, kth_neighbour_distances, prdc, precision_recall


def _naive_radii(x: np.ndarray, k: int) -> np.ndarray:
    distances = cdist(x, x)
    np.fill_diagonal(distances, np.inf)  # a point is not its own neighbour
    return np.sort(distances, axis=1)[:, k - 1]


def _naive_prdc(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """The four definitions written directly on the full M×N distance matrix (closed balls)."""
    real_radii, fake_radii = _naive_radii(real, k), _naive_radii(fake, k)
    distances = cdist(real, fake)  # [i, j] = ‖x_i − y_j‖
    inside_real = distances <= real_radii[:, None]
    return {
        PRECISION: inside_real.any(axis=0).mean(),
        RECALL: (distances <= fake_radii[None, :]).any(axis=1).mean(),
        DENSITY: inside_real.sum() / (k * len(fake)),
        COVERAGE: (distances.min(axis=1) <= real_radii).mean(),
    }


def _backend(values: np.ndarray, backend: str, dtype: str):
    values = values.astype(dtype)
    return values if backend == "numpy" else torch.from_numpy(values)


def _data(seed: int = 0, m: int = 120, n: int = 90, d: int = 6):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(m, d)) + 10.0  # an offset, as real features have
    fake = rng.normal(size=(n, d)) * 1.3 + 10.4
    return real, fake


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_prdc_matches_naive_full_matrix(k, chunk_size):
    real, fake = _data()
    result = prdc(real, fake, k=k, chunk_size=chunk_size)
    expected = _naive_prdc(real, fake, k)
    assert result.keys() == expected.keys()
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-12), key


@pytest.mark.parametrize(
    ("backend", "dtype"), [("numpy", "float32"), ("torch", "float32"), ("torch", "float64")]
)
def test_prdc_backends_match_naive(backend, dtype):
    real, fake = _data(seed=1)
    real, fake = real.astype(dtype), fake.astype(dtype)
    result = prdc(_backend(real, backend, dtype), _backend(fake, backend, dtype), chunk_size=50)
    expected = _naive_prdc(real.astype(np.float64), fake.astype(np.float64), 5)
    # float32 distances may put a point exactly on a ball's edge on the other side: allow one
    # sample's worth of difference (1/N) there, and none in float64.
    tolerance = 1e-12 if dtype == "float64" else 1.0 / len(fake) + 1e-9
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=tolerance), key


def test_precision_recall_and_density_coverage_use_their_own_k():
    real, fake = _data(seed=2)
    pr = precision_recall(real, fake, k=3, chunk_size=16)
    dc = density_coverage(real, fake, k=5, chunk_size=16)
    naive_3, naive_5 = _naive_prdc(real, fake, 3), _naive_prdc(real, fake, 5)
    assert pr == {
        PRECISION: pytest.approx(naive_3[PRECISION]),
        RECALL: pytest.approx(naive_3[RECALL]),
    }
    assert dc == {
        DENSITY: pytest.approx(naive_5[DENSITY]),
        COVERAGE: pytest.approx(naive_5[COVERAGE]),
    }


def test_identical_sets_are_perfect():
    real, _ = _data(seed=3)
    result = prdc(real, real.copy(), k=5, chunk_size=32)
    assert result[PRECISION] == result[RECALL] == result[COVERAGE] == 1.0
    # Each sample lies in its own ball and in those of the real points that count it among their
    # k nearest neighbours: on average exactly k + 1 balls, so density = (k + 1) / k.
    assert result[DENSITY] == pytest.approx(6 / 5)


def test_far_apart_sets_score_zero():
    real, fake = _data(seed=4)
    result = prdc(real, fake + 1000.0)
    assert result == {PRECISION: 0.0, RECALL: 0.0, DENSITY: 0.0, COVERAGE: 0.0}


def test_mode_dropping_lowers_recall_and_coverage_not_precision():
    rng = np.random.default_rng(5)
    centres = np.array([[0.0, 0.0], [20.0, 0.0]])
    real = np.concatenate([rng.normal(size=(200, 2)) + c for c in centres])
    fake = rng.normal(size=(400, 2)) + centres[0]  # only the first mode
    result = prdc(real, fake, k=5)
    assert result[PRECISION] > 0.9
    assert result[RECALL] < 0.55
    assert result[COVERAGE] < 0.55


def test_kth_neighbour_distances_match_naive():
    x = np.random.default_rng(6).normal(size=(50, 4))
    np.testing.assert_allclose(
        kth_neighbour_distances(x, k=3, chunk_size=8).numpy(), _naive_radii(x, 3), rtol=1e-10
    )


def test_duplicates_are_neighbours_but_a_point_is_not_its_own():
    x = np.array([[0.0], [0.0], [3.0], [7.0]])
    np.testing.assert_allclose(
        kth_neighbour_distances(x, k=1).numpy(), [0.0, 0.0, 3.0, 4.0], atol=1e-12
    )


def test_distance_chunks_never_exceed_chunk_size(monkeypatch):
    shapes = []
    original = prdc_module._squared_distances

    def recording(x, y, y_norms):
        result = original(x, y, y_norms)
        shapes.append(tuple(result.shape))
        return result

    monkeypatch.setattr(prdc_module, "_squared_distances", recording)
    real, fake = _data(seed=7, m=100, n=80)
    prdc(real, fake, chunk_size=16)
    # Self distances come as 16 × 100 (real) and 16 × 80 (fake) blocks, cross distances as 16 × 80:
    # never a full 100 × 80 or 100 × 100 matrix.
    assert max(rows for rows, _ in shapes) == 16
    assert {columns for _, columns in shapes} == {100, 80}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k": 0}, "at least 1"),
        ({"k": 90}, "fake has 90 samples"),
        ({"chunk_size": 0}, "chunk_size"),
    ],
)
def test_bad_options_are_rejected(options, message):
    real, fake = _data()
    with pytest.raises(GenlabError, match=message):
        prdc(real, fake, **options)


def test_dimension_mismatch_is_rejected():
    with pytest.raises(GenlabError, match="real has 3 features per sample but fake has 2"):
        prdc(np.zeros((10, 3)), np.zeros((10, 2)))

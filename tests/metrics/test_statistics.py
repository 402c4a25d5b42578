"""Streaming mean/covariance against numpy.mean / numpy.cov, and the checksummed .npz format."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.errors import ChecksumError, GenlabError
from genlab.metrics.statistics import (
    FeatureStatistics,
    RunningStatistics,
    statistics_from_features,
)


def test_statistics_from_features_matches_numpy(backend):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 7)) @ rng.normal(size=(7, 7)) + rng.normal(size=7)
    x = x.astype(backend.dtype)
    stats = statistics_from_features(backend(x))
    reference = x.astype(np.float64)
    np.testing.assert_allclose(stats.mu, reference.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(stats.sigma, np.cov(reference, rowvar=False), rtol=1e-10, atol=1e-12)
    assert stats.n == 300
    assert stats.mu.dtype == stats.sigma.dtype == np.float64
    np.testing.assert_array_equal(stats.sigma, stats.sigma.T)


def test_uneven_batches_match_numpy(backend):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1001, 5)).astype(backend.dtype)
    running = RunningStatistics(5)
    for start, stop in [(0, 1), (1, 4), (4, 4), (4, 500), (500, 1001)]:
        running.update(backend(x[start:stop]))
    stats = running.finalize()
    np.testing.assert_allclose(stats.mu, x.astype(np.float64).mean(0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        stats.sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-11, atol=1e-14
    )
    assert stats.n == 1001


def test_merged_halves_equal_one_pass():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(800, 6))
    first = RunningStatistics(6).update(x[:123]).update(x[123:300])
    second = RunningStatistics(6).update(x[300:])
    merged = first.merge(second).finalize()
    np.testing.assert_allclose(merged.mu, x.mean(0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(merged.sigma, np.cov(x, rowvar=False), rtol=1e-11, atol=1e-14)
    assert merged.n == 800


def test_merge_with_empty_sides():
    x = np.random.default_rng(3).normal(size=(50, 3))
    into_empty = RunningStatistics(3).merge(RunningStatistics(3).update(x)).finalize()
    from_empty = RunningStatistics(3).update(x).merge(RunningStatistics(3)).finalize()
    np.testing.assert_allclose(into_empty.sigma, np.cov(x, rowvar=False), rtol=1e-12)
    np.testing.assert_allclose(from_empty.sigma, np.cov(x, rowvar=False), rtol=1e-12)


def test_large_offset_keeps_precision_where_naive_sums_do_not():
    rng = np.random.default_rng(4)
    x = 1e6 + rng.normal(size=(4000, 4))
    running = RunningStatistics(4)
    for start in range(0, 4000, 333):
        running.update(x[start : start + 333])
    stats = running.finalize()
    reference = np.cov(x, rowvar=False)  # two-pass: subtracts the mean first
    np.testing.assert_allclose(stats.sigma, reference, rtol=1e-8, atol=1e-8)
    # The naive one-pass formula from Σx and Σxxᵀ would fail the same tolerance by orders of
    # magnitude, so this data really exercises the cancellation the accumulator avoids.
    naive = (x.T @ x - len(x) * np.outer(x.mean(0), x.mean(0))) / (len(x) - 1)
    assert np.abs(naive - reference).max() > 1e-6


def test_fewer_than_two_samples_cannot_finalize():
    with pytest.raises(GenlabError, match="at least 2 samples, got 1"):
        RunningStatistics(3).update(np.zeros((1, 3))).finalize()
    with pytest.raises(GenlabError, match="at least 2"):
        statistics_from_features(np.zeros((1, 3)))


def test_wrong_dimension_batch_is_rejected():
    running = RunningStatistics(3)
    with pytest.raises(GenlabError, match="batch has 4 features per sample"):
        running.update(np.zeros((2, 4)))
    with pytest.raises(GenlabError, match="4 features"):
        running.merge(RunningStatistics(4))


def test_non_finite_batch_is_rejected():
    batch = np.zeros((3, 2))
    batch[1, 1] = np.nan
    with pytest.raises(GenlabError, match="1 of 3 rows with NaN"):
        RunningStatistics(2).update(batch)


def _stats() -> FeatureStatistics:
    x = np.random.default_rng(5).normal(size=(40, 4))
    return statistics_from_features(x, protocol={"extractor": "pixels", "size": 8})


def test_save_load_round_trip(tmp_path):
    stats = _stats()
    path = tmp_path / "stats.npz"
    stats.save(path)
    loaded = FeatureStatistics.load(path)
    np.testing.assert_array_equal(loaded.mu, stats.mu)
    np.testing.assert_array_equal(loaded.sigma, stats.sigma)
    assert loaded.n == stats.n == 40
    assert loaded.protocol == {"extractor": "pixels", "size": 8}
    with np.load(path, allow_pickle=False) as archive:  # plain arrays only, no pickles
        assert archive["protocol"].dtype.kind == "U"


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "stats.npz"
    _stats().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(GenlabError, match="not a readable statistics file"):
        FeatureStatistics.load(path)


def test_tampered_values_fail_the_checksum(tmp_path):
    stats = _stats()
    path = tmp_path / "stats.npz"
    tampered = dict(
        format=np.array("genlab-feature-statistics-v1"),
        mu=stats.mu + 1e-9,
        sigma=stats.sigma,
        n=np.array(stats.n),
        protocol=np.array('{"extractor":"pixels","size":8}'),
    )
    stats.save(path)
    with np.load(path, allow_pickle=False) as archive:
        tampered["sha256"] = archive["sha256"]
    np.savez(path, **tampered)
    with pytest.raises(ChecksumError, match="does not match its stored SHA-256"):
        FeatureStatistics.load(path)


def test_tampered_protocol_fails_the_checksum(tmp_path):
    stats = _stats()
    path = tmp_path / "stats.npz"
    stats.save(path)
    with np.load(path, allow_pickle=False) as archive:
        fields = {key: archive[key] for key in archive.files}
    fields["protocol"] = np.array('{"extractor":"pixels","size":16}')
    np.savez(path, **fields)
    with pytest.raises(ChecksumError):
        FeatureStatistics.load(path)


def test_missing_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(GenlabError, match="no such statistics file"):
        FeatureStatistics.load(tmp_path / "absent.npz")
    np.savez(tmp_path / "other.npz", images=np.zeros(3))
    with pytest.raises(GenlabError, match="missing"):
        FeatureStatistics.load(tmp_path / "other.npz")


def test_bad_statistics_are_rejected_at_construction():
    with pytest.raises(GenlabError, match="sigma of shape"):
        FeatureStatistics(mu=np.zeros(3), sigma=np.eye(2), n=5)
    with pytest.raises(GenlabError, match="NaN"):
        FeatureStatistics(mu=np.array([np.nan]), sigma=np.eye(1), n=5)
    with pytest.raises(GenlabError, match="JSON"):
        FeatureStatistics(mu=np.zeros(1), sigma=np.eye(1), n=5, protocol={"f": object()})
    with pytest.raises(GenlabError, match="positive sample count"):
        FeatureStatistics(mu=np.zeros(1), sigma=np.eye(1), n=0)


def test_torch_statistics_are_converted_to_float64_numpy():
    stats = FeatureStatistics(mu=torch.zeros(2), sigma=torch.eye(2), n=3)
    assert isinstance(stats.mu, np.ndarray)
    assert stats.sigma.dtype == np.float64
    assert stats.dim == 2

"""The feature cache: keys of everything that matters, hits without recomputing, damage detected."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from genlab.data.imageio import write_npz
from genlab.errors import GenlabError
from genlab.metrics import keys
from genlab.metrics.cache import (
    FEATURES,
    LOGITS,
    STATISTICS,
    CacheCorruptedWarning,
    FeatureCache,
    cache_key,
)
from genlab.metrics.evaluate import evaluate
from genlab.metrics.features.pixels import PixelExtractor
from genlab.metrics.statistics import statistics_from_features

SOURCE = {"kind": "npz", "sha256": "ab" * 32, "n": 100}
PROTOCOL = {"extractor": "pixels", "resize": "none", "size": None}


def test_key_is_stable_and_ignores_dict_order():
    reordered = dict(reversed(list(SOURCE.items())))
    first = cache_key(kind=FEATURES, source_identity=SOURCE, extractor_protocol=PROTOCOL)
    assert first == cache_key(kind=FEATURES, source_identity=reordered, extractor_protocol=PROTOCOL)
    assert len(first) == 64


@pytest.mark.parametrize(
    ("kind", "source", "protocol"),
    [
        (LOGITS, SOURCE, PROTOCOL),
        (STATISTICS, SOURCE, PROTOCOL),
        (FEATURES, {**SOURCE, "n": 101}, PROTOCOL),
        (FEATURES, {**SOURCE, "sha256": "cd" * 32}, PROTOCOL),
        (FEATURES, SOURCE, {**PROTOCOL, "size": 16}),
        (FEATURES, SOURCE, {**PROTOCOL, "weights_sha256": "00"}),
    ],
)
def test_key_changes_with_every_part(kind, source, protocol):
    base = cache_key(kind=FEATURES, source_identity=SOURCE, extractor_protocol=PROTOCOL)
    assert cache_key(kind=kind, source_identity=source, extractor_protocol=protocol) != base


def test_key_changes_with_the_genlab_version(monkeypatch):
    import genlab

    base = cache_key(kind=FEATURES, source_identity=SOURCE, extractor_protocol=PROTOCOL)
    monkeypatch.setattr(genlab, "__version__", "99.0")
    assert cache_key(kind=FEATURES, source_identity=SOURCE, extractor_protocol=PROTOCOL) != base


def test_unknown_kind_is_refused():
    with pytest.raises(GenlabError, match="unknown cache entry kind"):
        cache_key(kind="pixels", source_identity=SOURCE, extractor_protocol=PROTOCOL)


def _key(name: str = FEATURES) -> str:
    return cache_key(kind=name, source_identity=SOURCE, extractor_protocol=PROTOCOL)


def test_array_round_trip_is_exact(tmp_path):
    cache = FeatureCache(tmp_path)
    array = torch.randn(50, 7, dtype=torch.float32)
    assert cache.load_array(_key()) is None
    cache.save_array(_key(), array)
    loaded = cache.load_array(_key())
    assert loaded.dtype == torch.float32
    torch.testing.assert_close(loaded, array, rtol=0, atol=0)
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed over


def _edit_member(path, name: str) -> None:
    """Change one value of an array inside a valid .npz, leaving its stored checksum as it was.

    Flipping raw bytes would already be caught by the zip CRC; an edit that rewrites a valid
    archive is what only the content checksum can catch.
    """
    with np.load(path, allow_pickle=False) as archive:
        fields = {key: archive[key] for key in archive.files}
    fields[name] = fields[name].copy()
    fields[name].flat[0] += 1
    np.savez(path, **fields)


def test_edited_array_is_not_trusted(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.save_array(_key(), torch.ones(40, 3))
    _edit_member(cache.path(_key()), "array")
    with pytest.warns(CacheCorruptedWarning, match="does not match its SHA-256"):
        assert cache.load_array(_key()) is None


def test_flipped_byte_is_not_trusted(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.save_array(_key(), torch.ones(40, 3))
    path = cache.path(_key())
    data = bytearray(path.read_bytes())
    data[data.find(b"array.npy") + 200] ^= 0x01  # inside the array member's data
    path.write_bytes(bytes(data))
    with pytest.warns(CacheCorruptedWarning):
        assert cache.load_array(_key()) is None


def test_truncated_array_is_not_trusted(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.save_array(_key(), torch.ones(40, 3))
    path = cache.path(_key())
    path.write_bytes(path.read_bytes()[:300])
    with pytest.warns(CacheCorruptedWarning, match="unreadable"):
        assert cache.load_array(_key()) is None


def test_file_copied_under_another_key_is_not_trusted(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.save_array(_key(FEATURES), torch.ones(40, 3))
    cache.path(_key(LOGITS)).write_bytes(cache.path(_key(FEATURES)).read_bytes())
    with pytest.warns(CacheCorruptedWarning, match="another key"):
        assert cache.load_array(_key(LOGITS)) is None


def test_statistics_round_trip_and_tampering(tmp_path):
    cache = FeatureCache(tmp_path)
    stats = statistics_from_features(np.random.default_rng(0).normal(size=(30, 4)))
    cache.save_statistics(_key(STATISTICS), stats)
    np.testing.assert_array_equal(cache.load_statistics(_key(STATISTICS)).sigma, stats.sigma)
    _edit_member(cache.path(_key(STATISTICS)), "sigma")
    with pytest.warns(CacheCorruptedWarning, match="SHA-256"):
        assert cache.load_statistics(_key(STATISTICS)) is None


# --- The cache inside `evaluate` --------------------------------------------------------------


class CountingPixels(PixelExtractor):
    """The pixel extractor, counting the images it is asked to process."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.images_seen = 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.images_seen += images.shape[0]
        return super().__call__(images)


@pytest.fixture
def two_sets(tmp_path):
    generator = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (120, 1, 6, 6), generator=generator).to(torch.uint8)
    b = (a.int() // 2 + 60).to(torch.uint8)
    write_npz(tmp_path / "a.npz", a)
    write_npz(tmp_path / "b.npz", b)
    return str(tmp_path / "a.npz"), str(tmp_path / "b.npz")


def _run(two_sets, cache, extractor, **options):
    return evaluate(
        *two_sets, features=extractor, cache=cache, progress=False, batch_size=50, **options
    )


@pytest.mark.parametrize("metrics", ["fid", "fid,kid"])
def test_second_evaluation_is_served_from_the_cache(two_sets, tmp_path, metrics):
    cache = FeatureCache(tmp_path / "cache")
    first_extractor, second_extractor = CountingPixels(), CountingPixels()
    first = _run(two_sets, cache, first_extractor, metrics=metrics)
    assert first_extractor.images_seen == 240
    second = _run(two_sets, cache, second_extractor, metrics=metrics)
    assert second_extractor.images_seen == 0
    assert second[keys.FID] == first[keys.FID]
    assert {k: v for k, v in second.items() if k != "protocol"} == {
        k: v for k, v in first.items() if k != "protocol"
    }


def test_cached_features_serve_a_later_fid_only_evaluation(two_sets, tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    _run(two_sets, cache, CountingPixels(), metrics="kid")
    extractor = CountingPixels()
    result = _run(two_sets, cache, extractor, metrics="fid")
    assert extractor.images_seen == 0
    uncached = _run(two_sets, False, CountingPixels(), metrics="fid")
    assert result[keys.FID] == pytest.approx(uncached[keys.FID], rel=1e-12)


def test_damaged_cache_entry_is_recomputed_with_a_warning(two_sets, tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    first = _run(two_sets, cache, CountingPixels(), metrics="fid,kid")
    for path in cache.root.glob("*.npz"):
        path.write_bytes(path.read_bytes()[:-40])  # truncate every entry
    extractor = CountingPixels()
    with pytest.warns(CacheCorruptedWarning):
        second = _run(two_sets, cache, extractor, metrics="fid,kid")
    assert extractor.images_seen == 240
    assert second[keys.FID] == first[keys.FID]
    assert second[keys.KID_MEAN] == first[keys.KID_MEAN]
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheCorruptedWarning)  # rewritten: intact again
        _run(two_sets, cache, CountingPixels(), metrics="fid,kid")


@pytest.mark.parametrize(
    "change",
    [
        {"n": 100},  # sample count
        {"extractor": CountingPixels(size=3)},  # extractor protocol
        {"swap_b": True},  # source content
    ],
)
def test_a_change_of_count_extractor_or_source_misses_the_cache(two_sets, tmp_path, change):
    cache = FeatureCache(tmp_path / "cache")
    _run(two_sets, cache, CountingPixels(), metrics="fid")
    extractor = change.get("extractor", CountingPixels())
    sets = two_sets
    if change.get("swap_b"):
        write_npz(tmp_path / "c.npz", torch.zeros(120, 1, 6, 6, dtype=torch.uint8) + 7)
        sets = (two_sets[0], str(tmp_path / "c.npz"))
        _run(sets, cache, extractor, metrics="fid")
        assert extractor.images_seen == 120  # A from the cache, the new B extracted
        return
    _run(sets, cache, extractor, metrics="fid", n=change.get("n"))
    assert extractor.images_seen == 2 * change.get("n", 120)


def test_two_spellings_of_one_source_share_entries(tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    common = dict(metrics="fid", n=200, cache=cache, progress=False)
    first = evaluate("digits", "digits:train", features=CountingPixels(), **common)
    extractor = CountingPixels()
    again = evaluate("digits:train", "digits", features=extractor, **common)
    assert extractor.images_seen == 0
    assert again[keys.FID] == first[keys.FID]
    assert again.protocol["source_a"]["spec"] == "digits:train"


def test_cache_lives_under_the_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "c"))
    assert FeatureCache().root == tmp_path / "c" / "features"

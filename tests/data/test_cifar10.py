"""CIFAR-10: the pickle archive (on a small fake of the same structure) and the JPEG tar."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.data import cifar10
from genlab.data.cifar10 import (
    CIFAR10_CLASSES,
    load_cifar10,
    load_cifar10_jpeg,
    load_restricted_pickle,
    parse_cifar10_archive,
)
from genlab.errors import ChecksumError, DataUnavailableError, GenlabError

PER_BATCH = 4


def fake_batches(seed: int = 0) -> dict[str, dict]:
    """Dicts shaped like CIFAR-10's: bytes keys, uint8 N×3072 data, list-of-int labels."""
    rng = np.random.default_rng(seed)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = {
            b"batch_label": name.encode(),
            b"labels": rng.integers(0, 10, PER_BATCH).tolist(),
            b"data": rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8),
            b"filenames": [f"img{i}.png".encode() for i in range(PER_BATCH)],
        }
    return batches


def add_member(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def write_archive(path: Path, batches: dict, *, protocol: int = 4, meta: bool = True) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, batch in batches.items():
            add_member(archive, f"cifar-10-batches-py/{name}", pickle.dumps(batch, protocol))
        if meta:
            names = {b"label_names": [c.encode() for c in CIFAR10_CLASSES]}
            add_member(archive, "cifar-10-batches-py/batches.meta", pickle.dumps(names, protocol))
        add_member(archive, "cifar-10-batches-py/readme.html", b"<html></html>")
    return path


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_parse_fake_archive(tmp_path, protocol):
    batches = fake_batches()
    path = write_archive(tmp_path / "c.tar.gz", batches, protocol=protocol)
    train = parse_cifar10_archive(path, "train")
    assert train.images.shape == (5 * PER_BATCH, 3, 32, 32)
    assert train.images.dtype == torch.uint8
    assert train.labels.dtype == torch.int64
    assert train.classes == CIFAR10_CLASSES
    assert train.name == "cifar10:train"
    # Independent layout check: row r holds R plane, G plane, B plane, each 32×32 row-major.
    first = batches["data_batch_1"][b"data"][1]
    assert int(train.images[1, 0, 0, 0]) == first[0]
    assert int(train.images[1, 1, 0, 0]) == first[1024]
    assert int(train.images[1, 2, 31, 31]) == first[3071]
    assert int(train.images[1, 0, 1, 2]) == first[32 + 2]
    expected_labels = [v for i in range(1, 6) for v in batches[f"data_batch_{i}"][b"labels"]]
    assert train.labels.tolist() == expected_labels
    test = parse_cifar10_archive(path, "test")
    np.testing.assert_array_equal(
        test.images.reshape(PER_BATCH, -1).numpy(), batches["test_batch"][b"data"]
    )


def test_classes_default_without_meta(tmp_path):
    path = write_archive(tmp_path / "c.tar.gz", fake_batches(), meta=False)
    assert parse_cifar10_archive(path, "test").classes == CIFAR10_CLASSES


class _Payload:
    """Pickles as a call to os.getcwd: what a tampered batch would smuggle in."""

    def __reduce__(self):
        return (os.getcwd, ())


def test_restricted_unpickler_refuses_code(tmp_path):
    with pytest.raises(GenlabError, match=r"refused to load global posix\.getcwd"):
        load_restricted_pickle(pickle.dumps({b"data": _Payload()}), "evil")
    batches = fake_batches()
    batches["test_batch"][b"labels"] = _Payload()
    path = write_archive(tmp_path / "c.tar.gz", batches)
    with pytest.raises(GenlabError, match=r"test_batch: refused to load global"):
        parse_cifar10_archive(path, "test")


def test_restricted_unpickler_refuses_other_codecs():
    class Smuggle:
        def __reduce__(self):
            import codecs

            return (codecs.encode, ("x", "rot13"))

    with pytest.raises(GenlabError, match="refused to load codec 'rot13'"):
        load_restricted_pickle(pickle.dumps(Smuggle(), 2), "codec")


def test_restricted_unpickler_reads_plain_values():
    value = {b"a": [1, 2.5, b"x", "y", None, (True,)], "arr": np.arange(6, dtype=np.int16)}
    loaded = load_restricted_pickle(pickle.dumps(value, 2), "plain")
    assert loaded[b"a"] == value[b"a"]
    np.testing.assert_array_equal(loaded["arr"], value["arr"])


def test_damaged_and_incomplete_archives(tmp_path):
    batches = fake_batches()
    del batches["data_batch_3"]
    with pytest.raises(GenlabError, match="no data_batch_3 inside"):
        parse_cifar10_archive(write_archive(tmp_path / "a.tar.gz", batches), "train")
    batches = fake_batches()
    batches["test_batch"][b"data"] = batches["test_batch"][b"data"][:, :100]
    with pytest.raises(GenlabError, match="rows hold 100 values"):
        parse_cifar10_archive(write_archive(tmp_path / "b.tar.gz", batches), "test")
    truncated = tmp_path / "c.tar.gz"
    data = write_archive(truncated, fake_batches()).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(GenlabError, match="cannot read the archive"):
        parse_cifar10_archive(truncated, "train")
    with pytest.raises(GenlabError, match="unknown CIFAR-10 split 'val'"):
        parse_cifar10_archive(truncated, "val")


def test_load_cifar10_verifies_the_checksum(tmp_path):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    fake = write_archive(folder / "cifar-10-python.tar.gz", fake_batches())
    with pytest.raises(ChecksumError, match=cifar10.CIFAR10_SHA256):
        load_cifar10("train", data_dir=tmp_path, download=False)
    fake.unlink()
    with pytest.raises(DataUnavailableError) as info:
        load_cifar10("train", data_dir=tmp_path, download=False)
    assert str(fake) in str(info.value)


# ------------------------------------------------------------------------------------------
# JPEG tar


def write_jpeg_tar(path: Path, per_class: int = 2, classes=CIFAR10_CLASSES) -> Path:
    rng = np.random.default_rng(1)
    with tarfile.open(path, "w") as archive:
        for split in ("test", "train"):
            for cls in classes:
                for i in range(per_class):
                    buffer = io.BytesIO()
                    pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                    Image.fromarray(pixels).save(buffer, format="JPEG")
                    add_member(archive, f"{split}/{cls}/{i:04d}.jpg", buffer.getvalue())
        add_member(archive, "README.md", b"# CIFAR-10 images")
    return path


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def fake_jpeg_dir(tmp_path):
    (tmp_path / "data" / "cifar10-jpeg").mkdir(parents=True)
    write_jpeg_tar(tmp_path / "data" / "cifar10-jpeg" / "CIFAR-10-images.tar")
    return tmp_path / "data"


def test_jpeg_split_decoded_then_served_from_cache(fake_jpeg_dir, cache_dir, monkeypatch):
    first = load_cifar10_jpeg("train", data_dir=fake_jpeg_dir)
    assert first.images.shape == (20, 3, 32, 32)
    assert first.labels.tolist() == [c for c in range(10) for _ in range(2)]
    assert first.classes == CIFAR10_CLASSES
    assert first.name == "cifar10-jpeg:train"
    cached = list((cache_dir / "cifar10-jpeg").glob("train-*.npz"))
    assert len(cached) == 1
    assert not list((cache_dir / "cifar10-jpeg").glob(".*"))  # no temporary file left

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(cifar10, "load_image_folder", no_decoding)
    second = load_cifar10_jpeg("train", data_dir=fake_jpeg_dir)
    assert torch.equal(second.images, first.images)
    assert torch.equal(second.labels, first.labels)
    limited = load_cifar10_jpeg("train", data_dir=fake_jpeg_dir, limit=3)
    assert torch.equal(limited.images, first.images[:3])
    # Any change to the tar misses the cache.
    tar = fake_jpeg_dir / "cifar10-jpeg" / "CIFAR-10-images.tar"
    os.utime(tar, ns=(time.time_ns(), time.time_ns() + 10**9))
    with pytest.raises(AssertionError, match="decoded again"):
        load_cifar10_jpeg("train", data_dir=fake_jpeg_dir)


def test_jpeg_damaged_cache_is_rebuilt(fake_jpeg_dir, cache_dir):
    first = load_cifar10_jpeg("test", data_dir=fake_jpeg_dir)
    (cached,) = (cache_dir / "cifar10-jpeg").glob("test-*.npz")
    cached.write_bytes(b"garbage")
    again = load_cifar10_jpeg("test", data_dir=fake_jpeg_dir)
    assert torch.equal(again.images, first.images)


def test_jpeg_unwritable_cache_warns_and_still_loads(fake_jpeg_dir, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should go")
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(blocker))
    with pytest.warns(RuntimeWarning, match="could not cache decoded CIFAR-10 JPEGs"):
        data = load_cifar10_jpeg("test", data_dir=fake_jpeg_dir)
    assert len(data) == 20


def test_jpeg_wrong_layout(tmp_path, cache_dir):
    (tmp_path / "cifar10-jpeg").mkdir()
    write_jpeg_tar(tmp_path / "cifar10-jpeg" / "CIFAR-10-images.tar", 1, ("cat", "dog"))
    with pytest.raises(GenlabError, match=r"expected test/<class>/\*\.jpg with the 10 CIFAR-10"):
        load_cifar10_jpeg("test", data_dir=tmp_path)


def test_jpeg_missing_tar(tmp_path, cache_dir):
    with pytest.raises(DataUnavailableError) as info:
        load_cifar10_jpeg("train", data_dir=tmp_path)
    assert str(tmp_path / "cifar10-jpeg" / "CIFAR-10-images.tar") in str(info.value)


@pytest.mark.needs_data
def test_real_jpeg_tar_with_limit(shared_data_dir, cifar10_jpeg_tar, cache_dir):
    data = load_cifar10_jpeg("test", data_dir=shared_data_dir, limit=12)
    assert data.images.shape == (12, 3, 32, 32)
    assert data.classes == CIFAR10_CLASSES
    assert data.labels.tolist() == [0] * 12  # sorted order: airplanes first
    with tarfile.open(cifar10_jpeg_tar) as archive:  # stop at the member: a full listing is slow
        member = next(m for m in archive if m.name == "test/airplane/0000.jpg")
        raw = archive.extractfile(member).read()
    expected = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB")).transpose(2, 0, 1)
    np.testing.assert_array_equal(data.images[0].numpy(), expected)
    assert not cache_dir.exists()  # a partial decode is not cached


@pytest.mark.slow
@pytest.mark.needs_data
def test_real_jpeg_test_split_full_and_cached(shared_data_dir, cache_dir, monkeypatch):
    data = load_cifar10_jpeg("test", data_dir=shared_data_dir)
    assert data.images.shape == (10000, 3, 32, 32)
    assert torch.bincount(data.labels, minlength=10).tolist() == [1000] * 10
    # Lossy JPEG of natural images: pixel mean near CIFAR-10's published 0.47-0.49 per channel.
    means = data.images.double().mean(dim=(0, 2, 3)) / 255
    assert means.tolist() == pytest.approx([0.494, 0.485, 0.450], abs=0.02)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(cifar10, "load_image_folder", no_decoding)
    again = load_cifar10_jpeg("test", data_dir=shared_data_dir)
    assert torch.equal(again.images, data.images)
    assert torch.equal(again.labels, data.labels)

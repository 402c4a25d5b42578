"""IDX parsing on hand-made bytes, and MNIST from the real files."""

from __future__ import annotations

import gzip
import shutil
import struct

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genlab.data import download, mnist
from genlab.data.mnist import MNIST_FILES, load_mnist, read_idx
from genlab.errors import ChecksumError, DataUnavailableError, GenlabError

# Published MNIST class counts (LeCun et al.; widely reproduced).
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    """An IDX file written independently of the reader, with struct."""
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize(
    ("dtype", "code"),
    [
        (np.uint8, 0x08),
        (np.int8, 0x09),
        (np.int16, 0x0B),
        (np.int32, 0x0C),
        (np.float32, 0x0D),
        (np.float64, 0x0E),
    ],
)
def test_read_idx_every_type_code(dtype, code):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    parsed = read_idx(idx_bytes(array, code))
    assert parsed.dtype == np.dtype(dtype)
    assert parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, array)
    assert parsed.flags.writeable


def test_read_idx_gzip_and_path(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "a.idx.gz"
    path.write_bytes(gzip.compress(idx_bytes(array, 0x08)))
    np.testing.assert_array_equal(read_idx(path), array)
    np.testing.assert_array_equal(read_idx(str(path)), array)
    np.testing.assert_array_equal(read_idx(path.read_bytes()), array)


def test_read_idx_empty_dimension():
    assert read_idx(idx_bytes(np.zeros((0, 28, 28), np.uint8), 0x08)).shape == (0, 28, 28)


def test_read_idx_wrong_magic(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(b"\x01\x00\x08\x01" + struct.pack(">I", 2) + b"ab")
    with pytest.raises(GenlabError, match=r"x\.idx: not an IDX file .*01000801"):
        read_idx(path)


def test_read_idx_unknown_type_code():
    with pytest.raises(GenlabError, match="unknown IDX type code 0x07"):
        read_idx(b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"a")


def test_read_idx_truncated_and_padded(tmp_path):
    good = idx_bytes(np.zeros((10, 4), np.uint8), 0x08)
    path = tmp_path / "t.idx"
    path.write_bytes(good[:-3])
    with pytest.raises(GenlabError, match=r"t\.idx: IDX file truncated.*\(10, 4\).*37 follow"):
        read_idx(path)
    with pytest.raises(GenlabError, match="trailing bytes"):
        read_idx(good + b"\x00")
    with pytest.raises(GenlabError, match="truncated IDX header"):
        read_idx(good[:9])
    with pytest.raises(GenlabError, match="not an IDX file"):
        read_idx(b"")


def test_read_idx_damaged_gzip(tmp_path):
    data = gzip.compress(idx_bytes(np.zeros((100, 4), np.uint8), 0x08))
    path = tmp_path / "d.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(GenlabError, match=r"d\.gz: damaged gzip data"):
        read_idx(path)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(GenlabError, match="cannot read the IDX file"):
        read_idx(tmp_path / "nope.gz")


@pytest.mark.needs_data
@pytest.mark.parametrize(
    ("split", "count", "counts", "first"),
    [("train", 60000, TRAIN_COUNTS, 5), ("test", 10000, TEST_COUNTS, 7)],
)
def test_load_real_mnist(shared_data_dir, split, count, counts, first):
    data = load_mnist(split, data_dir=shared_data_dir, download=False)
    assert data.images.shape == (count, 1, 28, 28)
    assert data.images.dtype == torch.uint8
    assert data.labels.dtype == torch.int64
    assert data.classes == tuple("0123456789")
    assert data.name == f"mnist:{split}"
    assert torch.bincount(data.labels, minlength=10).tolist() == counts
    assert int(data.labels[0]) == first
    if split == "train":
        # The normalisation constants everyone uses for MNIST: mean 0.1307, std 0.3081.
        pixels = data.images.double() / 255
        assert float(pixels.mean()) == pytest.approx(0.1307, abs=5e-5)
        assert float(pixels.std()) == pytest.approx(0.3081, abs=5e-5)


@pytest.mark.needs_data
def test_repeated_load_reuses_the_parsed_arrays_and_is_independent(shared_data_dir, monkeypatch):
    first = load_mnist("test", data_dir=shared_data_dir, download=False)
    first.images[0] = 0  # must not leak into the next load

    def again(*args, **kwargs):
        raise AssertionError("read or hashed the files again instead of reusing them")

    # What makes a second load cheap, checked directly (how fast it is, is benchmarks' business).
    monkeypatch.setattr(mnist, "read_idx", again)
    monkeypatch.setattr(download, "sha256_file", again)
    second = load_mnist("test", data_dir=shared_data_dir, download=False)
    assert int(second.images[0].sum()) > 0
    assert torch.equal(second.images[1:], first.images[1:])


@pytest.mark.needs_data
def test_corrupted_copy_fails_checksum(mnist_dir, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(mnist_dir / name, folder / name)
    damaged = folder / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(damaged.read_bytes())
    data[100] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(ChecksumError) as info:
        load_mnist("test", data_dir=tmp_path, download=False)
    assert str(damaged) in str(info.value)
    assert MNIST_FILES["t10k-labels-idx1-ubyte.gz"] in str(info.value)


def test_missing_files_without_download(tmp_path):
    with pytest.raises(DataUnavailableError) as info:
        load_mnist("train", data_dir=tmp_path, download=False)
    assert str(tmp_path / "mnist" / "train-images-idx3-ubyte.gz") in str(info.value)


def test_unknown_split(tmp_path):
    with pytest.raises(GenlabError, match="unknown MNIST split 'val'"):
        load_mnist("val", data_dir=tmp_path)


# --- Fuzzing: any bytes give an array that agrees with its header, or a GenlabError ---------

_VALID_IDX = struct.pack(">BBBBIII", 0, 0, 0x08, 3, 2, 3, 4) + bytes(range(24))


def _check_outcome(data: bytes) -> None:
    try:
        array = read_idx(data)
    except GenlabError as error:
        message = str(error)
    else:
        message = None
    if message is not None:
        assert message.startswith("IDX data:")  # names what it read
        return
    header = 4 + 4 * array.ndim
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    assert array.size * array.itemsize == len(raw) - header


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_random_bytes(data):
    _check_outcome(data)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(_VALID_IDX) - 1), st.integers(0, 255)), max_size=4),
    st.integers(0, len(_VALID_IDX)),
    st.binary(max_size=8),
    st.booleans(),
)
def test_fuzz_damaged_idx_files(flips, keep, tail, compress):
    data = bytearray(_VALID_IDX)
    for position, value in flips:
        data[position] = value
    data = bytes(data[:keep]) + tail
    _check_outcome(gzip.compress(data) if compress else data)


def test_huge_declared_dimensions_do_not_overflow():
    header = struct.pack(">BBBB", 0, 0, 0x08, 4) + struct.pack(">IIII", *[0xFFFFFFFF] * 4)
    with pytest.raises(GenlabError, match="truncated"):
        read_idx(header + b"\x00" * 16)

"""MNIST from its four original IDX files, checksummed, downloaded on demand.

The IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/) is a big-endian header followed
by the raw array: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
0x0D float32, 0x0E float64), the number of dimensions, then each dimension as a uint32. The files
are distributed gzip-compressed; `read_idx` reads either form.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np
import torch

from genlab.data.base import ImageDataset
from genlab.data.dirs import resolve_data_dir
from genlab.data.download import cached_sha256, ensure_file
from genlab.errors import GenlabError

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# file name -> SHA-256 of the official gzip file (MD5s as published by LeCun match these files).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
    ),
    "train-labels-idx1-ubyte.gz": (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
    ),
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
# split -> (images file, labels file, number of examples)
MNIST_SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60000),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10000),
}
MNIST_CLASSES = tuple(str(digit) for digit in range(10))

_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"

# (split, identities of both files) -> (images, labels): repeated loads skip gunzip and parsing.
_LOADED: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _read_source(source: str | os.PathLike | bytes) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "IDX data"
    path = Path(source)
    try:
        return path.read_bytes(), str(path)
    except OSError as exc:
        raise GenlabError(f"{path}: cannot read the IDX file ({exc.strerror or exc})") from None


def _gunzip(raw: bytes, name: str) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise GenlabError(f"{name}: damaged gzip data ({exc}); download the file again") from None


def read_idx(source: str | os.PathLike | bytes) -> np.ndarray:
    """Parse an IDX file (path or bytes, gzip-compressed or not) into a native-endian array.

    Raises
    ------
    GenlabError
        The data is not IDX (wrong magic, unknown type code) or its size disagrees with the
        dimensions its header declares (a truncated or padded file); the message names the file.
    """
    raw, name = _read_source(source)
    data = _gunzip(raw, name) if raw[:2] == _GZIP_MAGIC else raw
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise GenlabError(
            f"{name}: not an IDX file (the first 4 bytes are {data[:4].hex() or 'missing'}, "
            "expected 00 00 <type> <ndim>); check that this is an MNIST-style .idx/.gz file"
        )
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise GenlabError(f"{name}: unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise GenlabError(f"{name}: IDX header declares 0 dimensions; the file is damaged")
    header_bytes = 4 + 4 * ndim
    if len(data) < header_bytes:
        raise GenlabError(
            f"{name}: truncated IDX header ({len(data)} bytes, {header_bytes} needed for "
            f"{ndim} dimensions); download the file again"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    # Python integers: a damaged header's dimensions (up to 2³² − 1 each) must not overflow.
    expected = math.prod(shape) * dtype.itemsize
    actual = len(data) - header_bytes
    if actual != expected:
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise GenlabError(
            f"{name}: IDX file {problem}: header declares shape {shape} ({expected} data bytes) "
            f"but {actual} follow; download the file again"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_bytes).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)  # native order, writable


def _mnist_file(folder: Path, name: str, *, download: bool) -> Path:
    return ensure_file(
        folder / name,
        urls=[mirror + name for mirror in MNIST_MIRRORS],
        sha256=MNIST_FILES[name],
        what="MNIST",
        download=download,
    )


def _parse_split(
    images_path: Path, labels_path: Path, count: int
) -> tuple[torch.Tensor, torch.Tensor]:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.shape != (count, 28, 28) or images.dtype != np.uint8:
        raise GenlabError(f"{images_path}: expected {count}×28×28 uint8, got {images.shape}")
    if labels.shape != (count,) or labels.dtype != np.uint8 or labels.max() > 9:
        raise GenlabError(f"{labels_path}: expected {count} labels 0..9, got {labels.shape}")
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def load_mnist(
    split: str = "train", *, data_dir: str | os.PathLike | None = None, download: bool = True
) -> ImageDataset:
    """MNIST as a uint8 N×1×28×28 data set with int64 labels 0..9 (N = 60000 train, 10000 test).

    Files live under ``<data_dir>/mnist/`` with their original names; each is verified against its
    pinned SHA-256 and downloaded from the mirrors when absent (unless ``download=False``).
    A second load in the same process reuses the parsed arrays (keyed by the files' identity).
    """
    if split not in MNIST_SPLITS:
        raise GenlabError(f"unknown MNIST split {split!r}; use one of {sorted(MNIST_SPLITS)}")
    images_name, labels_name, count = MNIST_SPLITS[split]
    folder = resolve_data_dir(data_dir) / "mnist"
    images_path = _mnist_file(folder, images_name, download=download)
    labels_path = _mnist_file(folder, labels_name, download=download)
    # ensure_file verified both hashes; cached_sha256 now costs nothing and keys the cache.
    key = (split, cached_sha256(images_path), cached_sha256(labels_path))
    if key not in _LOADED:
        _LOADED[key] = _parse_split(images_path, labels_path, count)
    images, labels = _LOADED[key]
    # Copies, so that a caller editing its tensors in place cannot change the next load.
    return ImageDataset(images.clone(), labels.clone(), MNIST_CLASSES, f"mnist:{split}")

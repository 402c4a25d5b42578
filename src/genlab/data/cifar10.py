"""CIFAR-10 (Krizhevsky, 2009) from its standard python archive, or from a tar of JPEG files.

Standard archive
    ``cifar-10-python.tar.gz`` holds ``cifar-10-batches-py/data_batch_1`` .. ``data_batch_5``
    (10,000 training images each), ``test_batch`` and ``batches.meta``: Python pickles of dicts
    whose ``data`` is a uint8 array of shape (10000, 3072) (1024 red, then 1024 green, then 1024
    blue values, each plane row-major) and whose ``labels`` is a list of ints. The pickles are read
    with a restricted unpickler that can only rebuild numpy arrays and plain containers, so a
    tampered file cannot run code. Checksum verification (`load_cifar10`) is separate from parsing
    (`parse_cifar10_archive`).

JPEG tar
    ``CIFAR-10-images.tar`` holds ``train/<class>/NNNN.jpg`` and ``test/<class>/NNNN.jpg``: the same
    images, JPEG-compressed (lossy, roughly quality 75), so FIDs against it are NOT comparable to
    published CIFAR-10 numbers. It is not an official distribution, so no checksum is pinned; its
    layout (the ten classes, 32×32 colour images) is checked instead. Decoding 60,000 JPEGs takes
    a while, so a full split is cached as an uncompressed .npz under `resolve_cache_dir()`, keyed
    by the tar's size, modification time and SHA-256 (any change to the tar misses the cache).
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import warnings
import zlib
from pathlib import Path

import numpy as np
import torch

from genlab.data.base import ImageDataset
from genlab.data.dirs import resolve_cache_dir, resolve_data_dir
from genlab.data.download import cached_sha256, ensure_file
from genlab.data.folder import load_image_folder
from genlab.errors import DataUnavailableError, GenlabError
from genlab.fileio import atomic_write

try:  # numpy >= 2 keeps the array internals here; 1.x under numpy.core
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_URLS = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
# 170,498,071 bytes; the official MD5 is c58f30108f718f92721af3b95e74349a.
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CIFAR10_BATCHES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
CIFAR10_JPEG_TAR = "CIFAR-10-images.tar"
_BATCH_FOLDER = "cifar-10-batches-py"
_CACHE_VERSION = 1


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """What Python 3 protocol-2 pickles call to rebuild bytes; any other codec is refused."""
    if encoding.replace("-", "").lower() != "latin1":
        raise pickle.UnpicklingError(f"refused to load codec {encoding!r}")
    return text.encode("latin-1")


# The only globals a pickled dict of numpy arrays needs, mapped to the objects to use. Both the
# numpy 1.x and 2.x module paths appear in pickles made by either version.
_ALLOWED_GLOBALS = {
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _numeric._frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _numeric._frombuffer,
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Rebuilds dicts, lists, numbers, bytes and numpy arrays; refuses any other global."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load global {module}.{name}") from None


def load_restricted_pickle(data: bytes, what: str) -> object:
    """Unpickle ``data`` allowing only plain containers and numpy arrays.

    CIFAR-10's pickles were written by Python 2, so strings come back as bytes
    (``encoding="bytes"``).

    Raises
    ------
    GenlabError
        The pickle asks for anything else (a class, a function) or is damaged.
    """
    try:
        return _ArraysOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise GenlabError(
            f"{what}: {exc}; it is not a CIFAR-10 batch (or was tampered with): download the "
            "archive again"
        ) from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise GenlabError(f"{what}: damaged pickle ({exc}); download the archive again") from None


def _text_keys(batch: object, what: str) -> dict:
    if not isinstance(batch, dict):
        raise GenlabError(f"{what}: expected a dict, found {type(batch).__name__}")
    return {key.decode("latin-1") if isinstance(key, bytes) else key: v for key, v in batch.items()}


def _batch_arrays(batch: object, what: str) -> tuple[np.ndarray, np.ndarray]:
    fields = _text_keys(batch, what)
    data, labels = fields.get("data"), fields.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise GenlabError(f"{what}: 'data' must be a uint8 N×3072 array")
    if data.shape[1] != 3 * 32 * 32:
        raise GenlabError(f"{what}: 'data' rows hold {data.shape[1]} values, expected 3072")
    labels = np.asarray(labels if labels is not None else [], dtype=np.int64)
    if labels.shape != (len(data),) or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise GenlabError(f"{what}: expected {len(data)} labels in 0..9, got {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def _read_members(path: Path, names: set[str]) -> dict[str, bytes]:
    """The wanted members of a (compressed) tar, read in one front-to-back pass."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in names and base not in found:
                    found[base] = archive.extractfile(member).read()
    except (OSError, EOFError, tarfile.TarError, zlib.error) as exc:
        raise GenlabError(f"{path}: cannot read the archive ({exc}); download it again") from None
    return found


def parse_cifar10_archive(path: str | os.PathLike, split: str = "train") -> ImageDataset:
    """Parse the batches of ``split`` from a ``cifar-10-python.tar.gz``-shaped archive.

    No checksum is checked here (see `load_cifar10`), so a test can parse a small archive of the
    same structure. Images are uint8 N×3×32×32 in batch order; classes come from
    ``batches.meta`` when present.
    """
    if split not in CIFAR10_BATCHES:
        raise GenlabError(f"unknown CIFAR-10 split {split!r}; use one of {sorted(CIFAR10_BATCHES)}")
    path = Path(path)
    wanted = CIFAR10_BATCHES[split]
    members = _read_members(path, {*wanted, "batches.meta"})
    missing = [name for name in wanted if name not in members]
    if missing:
        raise GenlabError(
            f"{path}: no {', '.join(missing)} inside; expected the layout of {CIFAR10_ARCHIVE} "
            f"({_BATCH_FOLDER}/data_batch_1 ...)"
        )
    images, labels = [], []
    for name in wanted:
        what = f"{path}:{name}"
        batch_images, batch_labels = _batch_arrays(
            load_restricted_pickle(members[name], what), what
        )
        images.append(batch_images)
        labels.append(batch_labels)
    classes = _meta_classes(members.get("batches.meta"), f"{path}:batches.meta")
    return ImageDataset(
        torch.from_numpy(np.concatenate(images)),
        torch.from_numpy(np.concatenate(labels)),
        classes,
        f"cifar10:{split}",
    )


def _meta_classes(data: bytes | None, what: str) -> tuple[str, ...]:
    if data is None:
        return CIFAR10_CLASSES
    names = _text_keys(load_restricted_pickle(data, what), what).get("label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise GenlabError(f"{what}: expected 10 label_names")
    return tuple(n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names)


def load_cifar10(
    split: str = "train", *, data_dir: str | os.PathLike | None = None, download: bool = True
) -> ImageDataset:
    """CIFAR-10 as uint8 N×3×32×32 (N = 50000 train, 10000 test) with int64 labels 0..9.

    The archive lives at ``<data_dir>/cifar10/cifar-10-python.tar.gz``; it is verified against its
    pinned SHA-256 and downloaded (163 MiB) when absent, unless ``download=False``.
    """
    if split not in CIFAR10_BATCHES:
        raise GenlabError(f"unknown CIFAR-10 split {split!r}; use one of {sorted(CIFAR10_BATCHES)}")
    archive = ensure_file(
        resolve_data_dir(data_dir) / "cifar10" / CIFAR10_ARCHIVE,
        urls=CIFAR10_URLS,
        sha256=CIFAR10_SHA256,
        what="CIFAR-10",
        download=download,
    )
    return parse_cifar10_archive(archive, split)


# ---------------------------------------------------------------------------------------------
# JPEG tar


def _jpeg_tar(data_dir: str | os.PathLike | None) -> Path:
    path = resolve_data_dir(data_dir) / "cifar10-jpeg" / CIFAR10_JPEG_TAR
    if not path.is_file():
        raise DataUnavailableError(
            f"CIFAR-10 JPEG images: {path} not found and it cannot be downloaded; put "
            f"{CIFAR10_JPEG_TAR} (train/<class>/*.jpg and test/<class>/*.jpg) at {path}, or use "
            "the standard archive with load_dataset('cifar10')"
        )
    return path


def _cache_path(tar: Path, split: str) -> Path:
    stat = tar.stat()
    key = f"{stat.st_size}-{stat.st_mtime_ns}-{cached_sha256(tar)[:16]}"
    return resolve_cache_dir() / "cifar10-jpeg" / f"{split}-{key}-v{_CACHE_VERSION}.npz"


def _read_cache(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached arrays, or None when absent or unreadable (then it is simply rebuilt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as cached:
            images, labels = cached["images"], cached["labels"]
    except (OSError, ValueError, KeyError, EOFError, zlib.error):
        return None
    valid = images.dtype == np.uint8 and images.shape[1:] == (3, 32, 32)
    return (images, labels) if valid and labels.shape == (len(images),) else None


def _write_cache(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write atomically (temporary file, fsync, rename); a failure only costs speed later."""
    try:
        with atomic_write(path) as handle:
            np.savez(handle, images=images, labels=labels)
    except OSError as exc:
        warnings.warn(
            f"could not cache decoded CIFAR-10 JPEGs at {path} ({exc}); the next load decodes "
            "them again (set GENLAB_CACHE_DIR to a writable folder)",
            RuntimeWarning,
            stacklevel=3,
        )


def _decode_jpeg_split(tar: Path, split: str, limit: int | None) -> ImageDataset:
    data = load_image_folder(
        tar, subdir=split, mode="RGB", limit=limit, name=f"cifar10-jpeg:{split}"
    )
    if data.classes != CIFAR10_CLASSES or data.image_shape != (3, 32, 32):
        raise GenlabError(
            f"{tar}: expected {split}/<class>/*.jpg with the 10 CIFAR-10 classes of 32×32 images, "
            f"found classes {list(data.classes)} of shape {data.image_shape}"
        )
    return data


def load_cifar10_jpeg(
    split: str = "train", *, data_dir: str | os.PathLike | None = None, limit: int | None = None
) -> ImageDataset:
    """CIFAR-10 decoded from ``<data_dir>/cifar10-jpeg/CIFAR-10-images.tar`` (lossy JPEG copy).

    Images are uint8 N×3×32×32 in sorted path order (class by class), labels int64 0..9 in
    CIFAR-10's class order. A full split is cached after its first decode; ``limit`` takes the
    first ``limit`` images, from the cache when there is one, else by decoding only those.
    """
    if split not in CIFAR10_BATCHES:
        raise GenlabError(f"unknown CIFAR-10 split {split!r}; use one of {sorted(CIFAR10_BATCHES)}")
    tar = _jpeg_tar(data_dir)
    cache = _cache_path(tar, split)
    cached = _read_cache(cache)
    if cached is None:
        decoded = _decode_jpeg_split(tar, split, limit)
        if limit is not None:  # a partial decode is not worth caching
            return decoded
        cached = (decoded.images.numpy(), decoded.labels.numpy())
        _write_cache(cache, *cached)
    images, labels = cached if limit is None else (cached[0][:limit], cached[1][:limit])
    return ImageDataset(
        torch.from_numpy(np.ascontiguousarray(images)),
        torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)),
        CIFAR10_CLASSES,
        f"cifar10-jpeg:{split}",
    )

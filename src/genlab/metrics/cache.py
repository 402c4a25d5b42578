"""On-disk cache of features and feature statistics, keyed by everything that changes them.

Extracting Inception features of 10 000 reference images takes many minutes on a CPU, and the
reference side of an evaluation rarely changes, so features (N×d arrays: pool3 features, logits,
class logits) and statistics (mean and covariance) are stored under
``resolve_cache_dir()/features``.

The key (`cache_key`) is the SHA-256 of a canonical JSON document holding
- what is stored (``"features"``, ``"logits"`` or ``"statistics"``);
- the source's identity (`genlab.metrics.sources.Source.identity`: data set split and count,
  folder listing digest, file SHA-256, checkpoint SHA-256 with the sample count and seed);
- the extractor's protocol (name, weights SHA-256, resize mode, input size, normalisation, layer);
- the genlab version and this cache's format tag, so a release that changes the feature code
  never serves features made by the old code.

What is deliberately NOT in the key: the device and the batch size. They change features only by
floating-point round-off (about 1e-6 relative), far below any difference a metric can resolve.

Files are written atomically (temporary file, fsync, rename), so a crash leaves the old entry or
none. Each carries a SHA-256 of its content; a truncated, corrupt or edited file is never trusted:
`FeatureCache` warns (`CacheCorruptedWarning`) and reports a miss, and the caller recomputes and
overwrites it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

import genlab
from genlab.data.dirs import resolve_cache_dir
from genlab.errors import GenlabError
from genlab.metrics.statistics import FeatureStatistics

#: Format tag of the cache; part of every key and of every array file.
CACHE_FORMAT = "genlab-feature-cache-v1"

#: Kinds of entry. Arrays are (N, k) float tensors; statistics are `FeatureStatistics`.
FEATURES = "features"
LOGITS = "logits"
STATISTICS = "statistics"
ARRAY_KINDS = (FEATURES, LOGITS)
KINDS = (*ARRAY_KINDS, STATISTICS)


class CacheCorruptedWarning(UserWarning):
    """A cache file was unreadable or did not match its checksum; it will be recomputed."""


def cache_key(
    *, kind: str, source_identity: dict[str, Any], extractor_protocol: dict[str, Any]
) -> str:
    """SHA-256 hex key of one cache entry: a hash of everything that changes its content."""
    if kind not in KINDS:
        raise GenlabError(f"unknown cache entry kind {kind!r}; use one of {KINDS}")
    document = {
        "format": CACHE_FORMAT,
        "genlab": genlab.__version__,
        "kind": kind,
        "source": source_identity,
        "extractor": extractor_protocol,
    }
    return hashlib.sha256(_canonical_json(document).encode()).hexdigest()


class FeatureCache:
    """Features and statistics on disk, one checksummed .npz per key.

    Parameters
    ----------
    root : path, optional
        Folder of the cache; default ``resolve_cache_dir() / "features"`` (``GENLAB_CACHE_DIR``).
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else resolve_cache_dir() / "features"

    def path(self, key: str) -> Path:
        """The file of ``key`` (it need not exist)."""
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise GenlabError(f"cache keys are SHA-256 hex digests, got {key!r}")
        return self.root / f"{key}.npz"

    def load_array(self, key: str) -> torch.Tensor | None:
        """The cached array of ``key``, or None when absent or damaged (with a warning)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as archive:
                fields = {name: archive[name] for name in archive.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            return _corrupt(path, f"unreadable ({type(exc).__name__})")
        if set(fields) != {"format", "key", "array", "sha256"}:
            return _corrupt(path, "not a genlab cache file")
        if str(fields["format"]) != CACHE_FORMAT or str(fields["key"]) != key:
            return _corrupt(path, "written for another key or cache format")
        array = fields["array"]
        if str(fields["sha256"]) != _array_digest(key, array):
            return _corrupt(path, "content does not match its SHA-256")
        return torch.from_numpy(array)

    def save_array(self, key: str, array: torch.Tensor) -> None:
        """Store a 2-D float array under ``key`` atomically, with its SHA-256."""
        values = array.detach().cpu().numpy()
        if values.ndim != 2 or values.dtype.kind != "f":
            raise GenlabError(
                f"only 2-D float arrays are cached, got {values.dtype} {values.shape}"
            )
        values = np.ascontiguousarray(values)
        fields = {
            "format": np.array(CACHE_FORMAT),
            "key": np.array(key),
            "array": values,
            "sha256": np.array(_array_digest(key, values)),
        }
        _atomic_savez(self.path(key), fields)

    def load_statistics(self, key: str) -> FeatureStatistics | None:
        """The cached statistics of ``key``, or None when absent or damaged (with a warning)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            return FeatureStatistics.load(path)
        except GenlabError as exc:  # includes ChecksumError
            return _corrupt(path, str(exc).split(";")[0])

    def save_statistics(self, key: str, statistics: FeatureStatistics) -> None:
        """Store statistics under ``key`` (`FeatureStatistics.save`: atomic, checksummed)."""
        self.path(key).parent.mkdir(parents=True, exist_ok=True)
        statistics.save(self.path(key))


def _canonical_json(document: dict[str, Any]) -> str:
    try:
        return json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise GenlabError(f"cache key parts must be JSON-serialisable: {exc}") from None


def _array_digest(key: str, array: np.ndarray) -> str:
    """SHA-256 over the format, key, dtype, shape and bytes: any edit or truncation changes it."""
    digest = hashlib.sha256()
    header = f"{CACHE_FORMAT}\0{key}\0{array.dtype.str}\0{array.shape}\0".encode()
    digest.update(header)
    digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    return digest.hexdigest()


def _atomic_savez(path: Path, fields: dict[str, np.ndarray]) -> None:
    """np.savez straight to a temporary file in the target folder, fsync, rename over ``path``.

    Writing to the file (not to an in-memory buffer first) keeps peak memory at one copy of a
    60 000 × 2048 feature array.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **fields)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _corrupt(path: Path, reason: str) -> None:
    warnings.warn(
        f"feature cache file {path} is damaged ({reason}); ignoring it and recomputing",
        CacheCorruptedWarning,
        stacklevel=3,
    )
    return None

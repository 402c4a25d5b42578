"""Crash-safe file writes: a kill at any moment leaves either the old file or the new one.

Every file genlab writes for keeps (checkpoints, weights, caches, statistics, JSON) goes through
`atomic_write`: a temporary file in the same folder (so the rename stays on one file system),
fsync, the user's default permissions, rename over the target, then fsync of the folder so the
rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _default_file_mode() -> int:
    # mkstemp creates 0600 files; a finished file should get what open() would have given it.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """A binary handle whose contents replace ``path`` only if the ``with`` block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see `atomic_write`)."""
    with atomic_write(path) as handle:
        handle.write(data)


def write_json(path: str | os.PathLike, values: dict[str, Any]) -> None:
    """``values`` as indented JSON with sorted keys, atomically.

    Non-finite numbers (a perfect PSNR, an interval over one seed) are written as the strings
    ``"inf"``/``"nan"``: JSON has no such numbers, and Python's ``NaN`` token breaks other readers.
    """
    atomic_write_bytes(path, json_text(values).encode())


def json_text(values: dict[str, Any]) -> str:
    """``values`` as the JSON text `write_json` writes (for standard output, say)."""
    return json.dumps(_json_safe(values), indent=2, sort_keys=True) + "\n"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


@contextlib.contextmanager
def removed_on_failure(*paths: str | os.PathLike) -> Iterator[None]:
    """On an error in the block, remove what it created among ``paths`` and their missing
    parents, so a failed command leaves nothing half-made on disk.

    What existed before the block is never touched: for each path, only its outermost ancestor
    that did not exist yet (with everything below it) is removed.
    """
    created = [_outermost_missing(Path(path)) for path in paths]
    try:
        yield
    except BaseException:
        for path in created:
            if path is None:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise


def _outermost_missing(path: Path) -> Path | None:
    """The outermost of ``path`` and its parents that does not exist yet (None: it exists)."""
    path = path.absolute()
    if path.exists():
        return None
    while not path.parent.exists():
        path = path.parent
    return path

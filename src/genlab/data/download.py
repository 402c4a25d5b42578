"""Fetch pinned files: mirrors tried in turn, SHA-256 verified, written atomically.

A download streams into a temporary file next to its destination, is hashed on the way, fsynced,
and only then renamed over the destination (``os.replace`` is atomic on one file system). So an
interrupted or corrupt download never leaves a partial file where a loader would find it.

Hashing a large file costs time (about 0.3 s for 100 MB), so a file verified once is remembered for
the rest of the process by its path, size, inode and modification time; any change to the file
invalidates that memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from genlab.errors import ChecksumError, DataUnavailableError
from genlab.fileio import removed_on_failure
from genlab.progress import Progress

_CHUNK_BYTES = 1 << 20
_TIMEOUT_SECONDS = 60.0

# (resolved path, size, inode, mtime_ns) -> SHA-256 hex digest computed in this process.
_VERIFIED: dict[tuple[str, int, int, int], str] = {}

# Errors a mirror can produce that mean "try the next one": network, HTTP status, truncated
# response, bad URL scheme, local file missing for file:// URLs.
_MIRROR_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError, ValueError)


def _file_identity(path: Path) -> tuple[str, int, int, int]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_ino, stat.st_mtime_ns)


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks so any size fits in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def cached_sha256(path: str | os.PathLike) -> str:
    """`sha256_file`, remembered per process for as long as the file is unchanged."""
    path = Path(path)
    identity = _file_identity(path)
    if identity not in _VERIFIED:
        _VERIFIED[identity] = sha256_file(path)
    return _VERIFIED[identity]


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not possible on every platform (Windows), hence optional.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _stream_to_temp(url: str, folder: Path, name: str, *, progress: bool) -> tuple[Path, str]:
    """Download ``url`` into a new temporary file in ``folder``; return its path and SHA-256."""
    request = urllib.request.Request(url, headers={"User-Agent": "genlab"})
    fd, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    temp = Path(temp_name)
    try:
        digest = hashlib.sha256()
        with (
            os.fdopen(fd, "wb") as handle,
            urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response,
        ):
            header = response.headers.get("Content-Length")
            total = int(header) if header and header.isdigit() else None
            received = 0
            with Progress(
                total=total, unit="B", unit_scale=True, desc=name, enabled=progress, leave=False
            ) as bar:
                while chunk := response.read(_CHUNK_BYTES):
                    digest.update(chunk)
                    handle.write(chunk)
                    bar.update(len(chunk))
                    received += len(chunk)
            if total is not None and received != total:
                # urllib returns a short body silently when a server drops the connection.
                raise OSError(f"connection closed after {received} of {total} bytes")
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp, digest.hexdigest()


def _fetch_one(url: str, dest: Path, expected: str, *, progress: bool) -> None:
    temp, found = _stream_to_temp(url, dest.parent, dest.name, progress=progress)
    try:
        if found != expected:
            raise ChecksumError(
                f"{url} served a file with SHA-256 {found}, expected {expected}; "
                "the mirror holds a different or damaged file"
            )
        os.replace(temp, dest)
    finally:
        temp.unlink(missing_ok=True)
    _fsync_folder(dest.parent)
    _VERIFIED[_file_identity(dest)] = found


def download_file(
    urls: Sequence[str], dest: str | os.PathLike, *, sha256: str, progress: bool = True
) -> Path:
    """Download a file from the first mirror that serves it with the expected SHA-256.

    Each URL in ``urls`` is tried in order; a mirror that fails (network error, HTTP error, a
    truncated body, a wrong checksum) is passed over for the next. ``dest`` is replaced atomically
    and only by a verified file.

    Raises
    ------
    ChecksumError
        Every mirror answered, but none with the expected bytes.
    DataUnavailableError
        No mirror could be reached (for example offline); the message lists each failure.
    """
    dest = Path(dest)
    expected = sha256.lower()
    if not urls:
        raise DataUnavailableError(f"no download address is known for {dest.name}")
    # A failed download leaves no trace: not even the (empty) folders made for it.
    with removed_on_failure(dest.parent):
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataUnavailableError(
                f"cannot create {dest.parent} ({exc}); choose a writable data directory"
            ) from None
        return _fetch_from_mirrors(urls, dest, expected, progress=progress)


def _fetch_from_mirrors(urls: Sequence[str], dest: Path, expected: str, *, progress: bool) -> Path:
    failures: list[str] = []
    checksum_failures = 0
    for url in urls:
        try:
            _fetch_one(url, dest, expected, progress=progress)
            return dest
        except ChecksumError as exc:
            checksum_failures += 1
            failures.append(str(exc))
        except _MIRROR_ERRORS as exc:
            failures.append(f"{url}: {_describe(exc)}")
    summary = "; ".join(failures)
    if checksum_failures == len(urls):
        raise ChecksumError(f"no mirror served the expected {dest.name}: {summary}")
    raise DataUnavailableError(f"could not download {dest.name}: {summary}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return f"{type(exc).__name__}: {exc}"


def ensure_file(
    dest: str | os.PathLike,
    *,
    urls: Sequence[str],
    sha256: str,
    what: str,
    download: bool = True,
    progress: bool = True,
) -> Path:
    """Return ``dest`` once it holds the pinned file, downloading it if absent.

    Parameters
    ----------
    dest
        Where the file must be.
    urls
        Mirrors, tried in order (may be empty when the file cannot be downloaded).
    sha256
        Expected SHA-256 hex digest.
    what
        What the file is, for messages (``"MNIST training images"``).
    download
        When False, a missing file is an error instead of a download.

    Raises
    ------
    ChecksumError
        ``dest`` exists with other contents; the message names both hashes and the fix.
    DataUnavailableError
        ``dest`` is absent and cannot be downloaded; the message names the URLs and the path to
        put the file at.
    """
    dest = Path(dest)
    expected = sha256.lower()
    if dest.is_file():
        found = cached_sha256(dest)
        if found != expected:
            raise ChecksumError(
                f"{what}: {dest} has SHA-256 {found}, expected {expected}; the file is damaged or "
                f"a different version: delete it to download it again, or replace it with the "
                f"original{_from(urls)}"
            )
        return dest
    where = f"put {dest.name} at {dest} (or point GENLAB_DATA_DIR at a data folder holding it)"
    if not download:
        raise DataUnavailableError(
            f"{what}: {dest} not found and downloading is off; {where}{_from(urls)}"
        )
    try:
        return download_file(urls, dest, sha256=expected, progress=progress)
    except DataUnavailableError as exc:
        raise DataUnavailableError(f"{what}: {dest} not found and {exc}; {where}") from None


def _from(urls: Sequence[str]) -> str:
    return f", downloaded from {' or '.join(urls)}" if urls else ""

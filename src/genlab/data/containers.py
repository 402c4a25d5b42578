"""Containers of image files: a folder (searched recursively), a .zip, or a .tar[.gz|.bz2|.xz].

A container lists its image files and reads one file's encoded bytes; decoding them is
`genlab.data.decode`'s job, and turning them into a data set `genlab.data.folder`'s.

Files and order
    Files are found recursively; `genlab.data.folder` sorts them by their path inside the
    container, so the order (and with it ``limit``) is deterministic. Only files with an image
    extension (`IMAGE_EXTENSIONS`, case ignored) are images; other files, hidden files and folders
    (name starting with ``.``) and ``__MACOSX`` folders are listed as ignored. Symbolic links are
    followed, but a folder already visited is never entered again, so a link loop cannot hang the
    search; a broken or looping link to a file, or a non-regular file with an image extension, is
    listed as bad.

Archives
    A .zip or an uncompressed .tar is read member by member without extracting it. A compressed tar
    cannot be read at random, so its image members are read into memory (still encoded) once, when
    it is listed; prefer a folder or an uncompressed tar for very large sets. Symbolic links inside
    an archive are not followed, and a member above `MAX_ENCODED_BYTES` is bad.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from genlab.errors import DataUnavailableError, GenlabError, InvalidImageError

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
    | {".ppm", ".pgm", ".pbm", ".pnm"}
)
# An encoded image larger than this inside an archive is refused before it is read into memory.
MAX_ENCODED_BYTES = 1 << 30


def _ignored_name(parts: Sequence[str]) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


def _is_image_name(name: str) -> bool:
    return posixpath.splitext(name)[1].lower() in IMAGE_EXTENSIONS


@dataclass
class Listing:
    """What a container holds: image files (relative path -> reference), and the rest."""

    images: dict[str, object] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    bad: list[tuple[str, str]] = field(default_factory=list)


class DirectoryContainer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = str(root)

    def display(self, relative: str) -> str:
        return str(self.root / relative)

    def listing(self) -> Listing:
        listing = Listing()
        root_stat = os.stat(self.root)
        visited = {(root_stat.st_dev, root_stat.st_ino)}
        pending = [(self.root, "")]
        while pending:
            folder, prefix = pending.pop()
            try:
                entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
            except OSError as exc:
                listing.bad.append((prefix or ".", f"cannot list folder ({exc.strerror or exc})"))
                continue
            for entry in entries:
                relative = prefix + entry.name
                if _ignored_name([entry.name]):
                    listing.ignored.append(relative)
                    continue
                self._classify(entry, relative, listing, visited, pending)
        return listing

    @staticmethod
    def _classify(entry, relative, listing, visited, pending) -> None:
        try:
            info = os.stat(entry.path)  # follows links; a loop or a dangling link raises
        except OSError as exc:
            if _is_image_name(entry.name):
                reason = "broken or looping symbolic link" if entry.is_symlink() else "unreadable"
                listing.bad.append((relative, f"{reason} ({exc.strerror or exc})"))
            else:
                listing.ignored.append(relative)
            return
        if stat.S_ISDIR(info.st_mode):
            identity = (info.st_dev, info.st_ino)
            if identity not in visited:  # a folder reached twice (link loop) is read once
                visited.add(identity)
                pending.append((Path(entry.path), relative + "/"))
        elif not _is_image_name(entry.name):
            listing.ignored.append(relative)
        elif stat.S_ISREG(info.st_mode):
            listing.images[relative] = Path(entry.path)
        else:  # a FIFO or device named like an image: opening it could block forever
            listing.bad.append((relative, "not a regular file"))

    def read(self, reference: object) -> bytes | Path:
        return reference  # Pillow reads from the path, only as far as it needs


class _ArchiveContainer:
    """Shared by zip and tar: member names cleaned up, one open handle per process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = str(path)
        self._handle = None
        self._pid = -1
        self._lock = threading.Lock()

    def display(self, relative: str) -> str:
        return f"{self.path}:{relative}"

    def __getstate__(self) -> dict:
        # DataLoader workers receive a copy: they must open their own handle, never share one.
        state = dict(self.__dict__)
        state.update(_handle=None, _pid=-1, _lock=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def handle(self):
        if self._handle is None or self._pid != os.getpid():
            self._handle = self._open()
            self._pid = os.getpid()
        return self._handle

    @staticmethod
    def clean_name(name: str) -> str | None:
        """The member's path relative to the archive root, or None when it escapes the root."""
        cleaned = posixpath.normpath("/" + name).lstrip("/")
        return cleaned or None

    def _member(self, listing: Listing, name: str, *, kind: str, size: int) -> str | None:
        """File one member (``kind`` "file", "symlink" or "other") under the listing's rules.

        Returns its path relative to the archive root when it is an image to read, else None.
        """
        relative = self.clean_name(name)
        if relative is None or kind == "other":
            return None
        if _ignored_name(relative.split("/")) or not _is_image_name(relative):
            if kind == "file":
                listing.ignored.append(relative)
            return None
        if kind == "symlink":
            listing.bad.append((relative, "symbolic link inside an archive (not followed)"))
        elif size > MAX_ENCODED_BYTES:
            listing.bad.append((relative, f"{size} bytes is too large"))
        else:
            return relative
        return None


class ZipContainer(_ArchiveContainer):
    def _open(self):
        return zipfile.ZipFile(self.path)

    def listing(self) -> Listing:
        listing = Listing()
        for info in self.handle().infolist():
            kind = "other" if info.is_dir() else "file"
            relative = self._member(listing, info.filename, kind=kind, size=info.file_size)
            if relative is not None:
                listing.images[relative] = info
        return listing

    def read(self, reference: object) -> bytes:
        with self._lock, self.handle().open(reference) as member:
            return member.read(MAX_ENCODED_BYTES)


_TAR_BLOCK = 512
_TAR_REGULAR = (b"0", b"\0", b"7")
_TAR_NO_DATA = (b"1", b"2", b"3", b"4", b"5", b"6")
_TAR_PAX_GLOBAL = b"g"  # git archive writes one, holding the commit id as a comment
_TAR_PAX_NEXT = b"x"  # extended attributes of the next member (long path, exact mtime, ...)
_TAR_KNOWN = (*_TAR_REGULAR, *_TAR_NO_DATA, _TAR_PAX_GLOBAL, _TAR_PAX_NEXT)


def _octal(field: bytes) -> int:
    return int(field.strip(b" \0") or b"0", 8)


# pax keys this reader handles: "path" and "size" are applied, the others change nothing it
# uses. Any other key (sparse files, character sets, ...) sends the archive to `tarfile`.
_PAX_MEMBER_KEYS = frozenset(
    {"path", "size", "comment", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname"}
    | {"linkpath"}
)
_PAX_GLOBAL_KEYS = frozenset({"comment"})


def _pax_records(records: bytes) -> dict[str, bytes] | None:
    """Parse pax records (each ``b"<length> <key>=<value>\\n"``); None when malformed."""
    parsed: dict[str, bytes] = {}
    position = 0
    try:
        while position < len(records) and records[position] != 0:
            space = records.index(b" ", position)
            length = int(records[position:space])
            record = records[space + 1 : position + length]
            if length <= 0 or not record.endswith(b"\n") or b"=" not in record:
                return None
            key, value = record[:-1].split(b"=", 1)
            parsed[key.decode("utf-8")] = value
            position += length
    except (ValueError, UnicodeDecodeError):
        return None
    return parsed


def _scan_ustar(path: Path) -> list[tuple[str, str, int, int]] | None:
    """(name, kind, data offset, size) of each member of an uncompressed POSIX tar archive.

    Python's ``tarfile`` needs about 40 µs a member (2.4 s for CIFAR-10's 60,000 files); this
    reads the fixed 512-byte ustar headers directly, applying pax ``path`` and ``size`` records.
    It returns None for anything it does not handle (GNU headers, other pax keys, base-256
    sizes, a bad checksum, a truncated header), and `tarfile` then reads the archive instead.
    """
    members = []
    position = 0
    override: dict[str, bytes] = {}
    with open(path, "rb") as handle:
        while True:
            handle.seek(position)
            header = handle.read(_TAR_BLOCK)
            if not header or header.count(0) == _TAR_BLOCK:
                return members  # end of archive (tarfile also accepts a missing end marker)
            parsed = _parse_ustar_header(header)
            if parsed is None:
                return None
            kind_flag, name, size = parsed
            if kind_flag in (_TAR_PAX_GLOBAL, _TAR_PAX_NEXT):
                records = _pax_records(handle.read(size))
                allowed = _PAX_GLOBAL_KEYS if kind_flag == _TAR_PAX_GLOBAL else _PAX_MEMBER_KEYS
                if records is None or not set(records) <= allowed:
                    return None
                override = records if kind_flag == _TAR_PAX_NEXT else {}
                position += _TAR_BLOCK * (1 + -(-size // _TAR_BLOCK))
                continue
            try:
                size = int(override.get("size", size))
            except ValueError:
                return None
            name = override.get("path", name)
            override = {}
            regular = kind_flag in _TAR_REGULAR
            kind = "file" if regular else "symlink" if kind_flag == b"2" else "other"
            members.append(
                (name.decode("utf-8", "surrogateescape"), kind, position + _TAR_BLOCK, size)
            )
            position += _TAR_BLOCK * (1 + (-(-size // _TAR_BLOCK) if regular else 0))


def _parse_ustar_header(header: bytes) -> tuple[bytes, bytes, int] | None:
    """(type flag, name, size) of a POSIX ustar header block, or None if not one we handle."""
    if len(header) < _TAR_BLOCK or header[257:265] != b"ustar\x0000":
        return None
    kind_flag = header[156:157]
    if kind_flag not in _TAR_KNOWN or header[124] & 0x80:  # base-256 size: left to tarfile
        return None
    try:
        checksum, size = _octal(header[148:156]), _octal(header[124:136])
    except ValueError:
        return None
    if checksum != sum(header[:148]) + 8 * 32 + sum(header[156:]):
        return None
    name, prefix = header[:100].split(b"\0", 1)[0], header[345:500].split(b"\0", 1)[0]
    return kind_flag, (prefix + b"/" + name if prefix else name), size


class TarContainer(_ArchiveContainer):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        with open(path, "rb") as file:
            magic = file.read(6)
        # gzip, bzip2, xz: such a tar can only be read front to back.
        self.compressed = (
            magic[:2] == b"\x1f\x8b" or magic[:3] == b"BZh" or magic[:6] == b"\xfd7zXZ\x00"
        )

    def _open(self):
        return open(self.path, "rb")

    def listing(self) -> Listing:
        members = None if self.compressed else _scan_ustar(self.path)
        if members is None:
            return self._listing_with_tarfile()
        listing = Listing()
        for name, kind, offset, size in members:
            relative = self._member(listing, name, kind=kind, size=size)
            if relative is not None:
                listing.images[relative] = (offset, size)
        return listing

    def _listing_with_tarfile(self) -> Listing:
        listing = Listing()
        with tarfile.open(self.path, "r:*") as archive:
            for member in archive:
                kind = "file" if member.isfile() else "symlink" if member.issym() else "other"
                relative = self._member(listing, member.name, kind=kind, size=member.size)
                if relative is None:
                    continue
                if self.compressed:  # read now, in order: seeking back in a stream restarts it
                    listing.images[relative] = archive.extractfile(member).read()
                else:
                    listing.images[relative] = (member.offset_data, member.size)
            archive.members = []  # the listing keeps what it needs
        return listing

    def read(self, reference: object) -> bytes:
        if isinstance(reference, bytes):
            return reference
        offset, size = reference
        with self._lock:
            handle = self.handle()
            handle.seek(offset)
            data = handle.read(size)
        if len(data) != size:
            raise EOFError(f"the archive ends {size - len(data)} bytes into this member")
        return data


def container_kind(path: Path) -> str | None:
    """``"folder"``, ``"zip"`` or ``"tar"`` (compressed or not) for an existing path, else None."""
    if path.is_dir():
        return "folder"
    try:
        if zipfile.is_zipfile(path):
            return "zip"
        if tarfile.is_tarfile(path):
            return "tar"
    except OSError as exc:
        raise GenlabError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return None


_CONTAINERS = {"folder": DirectoryContainer, "zip": ZipContainer, "tar": TarContainer}


def open_container(path: str | os.PathLike) -> DirectoryContainer | ZipContainer | TarContainer:
    """The container at ``path``: a folder, a .zip or a .tar."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataUnavailableError(f"{path}: no such file or folder; check the path")
    kind = container_kind(path)
    if kind is None:
        raise GenlabError(
            f"{path}: not a folder, .zip or .tar archive; pass a folder of images or an archive "
            "of one"
        )
    return _CONTAINERS[kind](path)


_READ_ERRORS = (
    OSError,
    EOFError,
    RuntimeError,  # an encrypted zip member
    NotImplementedError,  # an unsupported zip compression method
    zipfile.BadZipFile,
    zlib.error,
    tarfile.TarError,
)


def read_member(container, relative: str, reference: object) -> bytes | Path:
    """The encoded bytes (or the path) of one image; a read failure is a bad file."""
    try:
        return container.read(reference)
    except _READ_ERRORS as exc:
        raise InvalidImageError(
            f"{container.display(relative)}: cannot read ({type(exc).__name__}: {exc})"
        ) from None


def list_container(container) -> Listing:
    """Every member of ``container``; an unreadable archive is a clear error."""
    try:
        return container.listing()
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise GenlabError(
            f"{container.description}: cannot read the archive ({type(exc).__name__}: {exc}); "
            "check that the file is complete"
        ) from None

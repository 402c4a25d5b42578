"""Images from a folder (searched recursively), a .zip, or a .tar / .tar.gz / .tar.bz2 / .tar.xz.

Two forms share one set of options and one decoder:

- `ImageFolder`, a lazy ``torch.utils.data.Dataset`` that decodes an image only when it is indexed,
  so a folder of large photos never has to fit in memory; ``.materialize()`` turns it into an
  in-memory `ImageDataset`.
- `load_image_folder`, which decodes everything straight into one uint8 N×C×H×W tensor.

Files and order
    Files are found recursively and sorted by their path inside the source, so the order (and with
    it ``limit``) is deterministic. Only files with an image extension (`IMAGE_EXTENSIONS`, case
    ignored) are read; other files, hidden files and folders (name starting with ``.``) and
    ``__MACOSX`` folders are ignored and counted (`ImageFolder.ignored`). Only the formats PNG,
    JPEG, BMP, GIF, TIFF, WebP and PPM/PGM/PBM are decoded, whatever a file's extension says.
    Symbolic links are followed, but a folder already visited is never entered again, so a link
    loop cannot hang the search; a broken or looping link to a file is a bad file.

Labels
    When every image lies inside a first-level subfolder (``<root>/<class>/...``), the sorted
    subfolder names are the classes and each image's label is its class index. Otherwise there are
    no labels. Classes come from every image file found, before any is skipped or cut by
    ``limit``, so a label means the same class whatever the options. ``subdir`` chooses a
    subfolder of the source to use as the root (``subdir="train"`` for ``train/<class>/...``).

Modes (``mode``)
    ``"L"`` (1 channel) or ``"RGB"`` (3 channels) converts every image to that mode: grayscale to
    RGB repeats the channel, RGB to L uses ITU-R 601-2 luma (L = 0.299 R + 0.587 G + 0.114 B, as
    Pillow does). ``"auto"`` picks L when every image is grayscale and RGB when every image is in
    colour; a mix is an error that gives the counts (pass ``mode`` to convert instead). Stored
    modes are read as follows, explicitly:

    - grayscale: ``1`` (bilevel, to 0/255), ``L``, ``LA``; 16-bit ``I;16*`` and 32-bit ``I``
      (values must lie in 0..65535) scaled to 8 bits by round(v / 257), which maps 0→0 and
      65535→255 and inverts the usual 8→16-bit expansion v·257 exactly;
    - colour: ``RGB``, ``RGBA``, ``RGBX``, ``CMYK`` and ``YCbCr`` (converted to RGB by Pillow),
      ``P`` (palette, expanded to its RGB colours; palette images count as colour even if the
      palette happens to be grey), ``PA``;
    - alpha (``LA``, ``RGBA``, ``PA``, ``P`` with a transparent index) is composited onto BLACK:
      c' = round(c·α / 255), so a transparent background reads as black, like MNIST's;
    - anything else (floating-point ``F``, ``LAB``, ...) is a bad file.

    EXIF orientation tags are ignored (pixels are used as stored, as most training pipelines do).
    Animated GIF/WebP and multi-page TIFF files give their first frame.

Sizes (``size``)
    ``None`` keeps the stored size, which must then be the same for every image (an error names two
    files with different sizes). An integer makes every image ``size``×``size``: ``resize="resize"``
    scales the whole image (the aspect ratio changes if it was not square); ``"center-crop"`` first
    cuts the central square of side min(H, W), then scales it. Scaling is bicubic with Pillow's
    antialiasing.

Bad files (``on_error``)
    Each image file is fully decoded, so truncation is detected. A zero-byte, truncated, corrupt or
    undecodable file, a file too large (more than ``max_pixels`` pixels: a decompression bomb, or
    a genuine giant that needs a larger ``max_pixels``), a broken link or a non-regular file with
    an image extension is a bad file. ``"stop"`` raises `InvalidImageError` naming it; ``"skip"``
    leaves it out and warns once (`SkippedImagesWarning`) with the count and the first few paths.
    The lazy `ImageFolder` reads every file's header when built, so most bad files are found then;
    a file that is damaged past its header is found only when decoded, and ``__getitem__`` then
    raises `InvalidImageError` whatever ``on_error`` says (a data set cannot drop an index). Build
    it with ``verify=True`` to decode everything once up front, or use ``materialize()``, which
    honours ``on_error``.

Archives
    A .zip or an uncompressed .tar is read member by member without extracting it. A compressed tar
    cannot be read at random, so its image members are read into memory (still encoded) once, when
    the source is opened; prefer a folder or an uncompressed tar for very large sets.
"""

from __future__ import annotations

import functools
import io
import os
import posixpath
import stat
import tarfile
import threading
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genlab.data.base import ImageDataset
from genlab.errors import DataUnavailableError, GenlabError, InvalidImageError

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
    | {".ppm", ".pgm", ".pbm", ".pnm"}
)
MODES = ("auto", "L", "RGB")
RESIZE_METHODS = ("resize", "center-crop")
ON_ERROR = ("stop", "skip")
# 8192×8192: far above any training image, far below what would exhaust memory. Pillow's own
# bomb limit (about 89 megapixels warns, twice that fails) is higher and so never the one to fire.
DEFAULT_MAX_PIXELS = 1 << 26
# An encoded image larger than this inside an archive is refused before it is read into memory.
MAX_ENCODED_BYTES = 1 << 30
_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
_SKIP_EXAMPLES = 3

_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N"})
_COLOUR_MODES = frozenset({"P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr"})


class SkippedImagesWarning(UserWarning):
    """Some image files could not be read and were left out (``on_error="skip"``)."""


# ---------------------------------------------------------------------------------------------
# Decoding one image


@functools.cache
def _open_formats() -> tuple[str, ...]:
    Image.init()  # registers every plugin, so the lookup below sees WebP where it is built in
    return tuple(name for name in _FORMATS if name in Image.OPEN)


def _image_kind(mode: str, name: str) -> str:
    """``"L"`` for grayscale stored modes, ``"RGB"`` for colour ones, else a bad file."""
    if mode in _GRAY_MODES:
        return "L"
    if mode in _COLOUR_MODES:
        return "RGB"
    raise InvalidImageError(
        f"{name}: unsupported pixel mode {mode!r} (supported: 8/16-bit grayscale, RGB(A), "
        "palette, CMYK); save it as an 8-bit PNG"
    )


def _composite_on_black(channels: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """round(c·α/255) in integers: (2cα + 255) // 510 rounds halves up."""
    product = channels.astype(np.uint32) * alpha.astype(np.uint32)
    return ((2 * product + 255) // 510).astype(np.uint8)


def _sixteen_to_eight(values: np.ndarray, name: str) -> np.ndarray:
    values = values.astype(np.int64)
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise InvalidImageError(
            f"{name}: integer pixel values {values.min()}..{values.max()} lie outside the 16-bit "
            "range 0..65535; save it as an 8- or 16-bit image"
        )
    return ((2 * values + 257) // 514).astype(np.uint8)  # round(v / 257), halves up


# Stored modes that Pillow converts exactly before the explicit handling in `_pixels`.
_PILLOW_CONVERSIONS = {
    "1": "L",  # bilevel to 0/255
    "La": "LA",  # premultiplied alpha to straight alpha
    "PA": "RGBA",
    "RGBa": "RGBA",
    "RGBX": "RGB",
    "CMYK": "RGB",
    "YCbCr": "RGB",
}


def _pixels(image: Image.Image, name: str) -> np.ndarray:
    """A loaded image as uint8 H×W (grayscale kinds) or H×W×3 (colour kinds), per the module doc."""
    _image_kind(image.mode, name)
    target = _PILLOW_CONVERSIONS.get(image.mode)
    if image.mode == "P":  # palette: expand, keeping a transparent index as alpha
        target = "RGBA" if "transparency" in image.info else "RGB"
    if target is not None:
        image = image.convert(target)
    mode = image.mode
    array = np.asarray(image)
    if mode.startswith("I"):
        return _sixteen_to_eight(array, name)
    if mode == "LA":
        return _composite_on_black(array[..., 0], array[..., 1])
    if mode == "RGBA":
        return _composite_on_black(array[..., :3], array[..., 3:4])
    return np.array(array, dtype=np.uint8)  # a writable copy Pillow no longer refers to


def _open_image(data: bytes | Path, name: str, max_pixels: int) -> Image.Image:
    handle = io.BytesIO(data) if isinstance(data, bytes) else data
    image = Image.open(handle, formats=_open_formats())
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise InvalidImageError(
            f"{name}: {width}×{height} = {width * height} pixels is above the limit of "
            f"{max_pixels} (a decompression bomb, or pass a larger max_pixels if it is genuine)"
        )
    if width == 0 or height == 0:
        image.close()
        raise InvalidImageError(f"{name}: the image is empty ({width}×{height})")
    return image


def _guarded(action, data: bytes | Path, name: str, max_pixels: int):
    """Run ``action(image)`` on the opened image; every decoding failure becomes InvalidImageError.

    Pillow's format plugins raise many exception types on malformed data (OSError, ValueError,
    SyntaxError, struct.error, EOFError, IndexError, ...), so anything but an interrupt is
    reported as a bad file, with the file's name.
    """
    try:
        with warnings.catch_warnings():
            # Our own ``max_pixels`` check decides; Pillow's softer warning would only duplicate
            # it (or contradict a caller who raised the limit). Its hard error still applies.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Pillow also warns about damaged metadata (EXIF) in files whose pixels are fine;
            # pixel damage raises, and is reported as a bad file below.
            warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
            with _open_image(data, name, max_pixels) as image:
                return action(image)
    except InvalidImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise InvalidImageError(f"{name}: decompression bomb ({exc})") from None
    except Image.UnidentifiedImageError:
        message = "empty file" if _is_empty(data) else "not a PNG/JPEG/BMP/GIF/TIFF/WebP/PPM image"
        raise InvalidImageError(f"{name}: {message}") from None
    except Exception as exc:
        raise InvalidImageError(f"{name}: cannot decode ({type(exc).__name__}: {exc})") from None


def _is_empty(data: bytes | Path) -> bool:
    if isinstance(data, bytes):
        return not data
    try:
        return data.stat().st_size == 0
    except OSError:
        return False


def _probe(data: bytes | Path, name: str, max_pixels: int) -> tuple[str, tuple[int, int]]:
    """Kind (``"L"``/``"RGB"``) and (width, height) from the header, without decoding pixels."""
    return _guarded(
        lambda image: (_image_kind(image.mode, name), image.size), data, name, max_pixels
    )


def _decode(data: bytes | Path, name: str, max_pixels: int) -> np.ndarray:
    """Fully decode (truncation is an error) to uint8 H×W or H×W×3."""

    def load(image: Image.Image) -> np.ndarray:
        image.load()
        return _pixels(image, name)

    return _guarded(load, data, name, max_pixels)


def _convert(pixels: np.ndarray, mode: str) -> np.ndarray:
    """To ``"L"`` or ``"RGB"``; ``"auto"`` keeps the decoded kind."""
    if mode == "RGB" and pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if mode == "L" and pixels.ndim == 3:
        return np.array(Image.fromarray(pixels).convert("L"))
    return pixels


def _fit(pixels: np.ndarray, size: int | None, resize: str) -> np.ndarray:
    if size is None:
        return pixels
    height, width = pixels.shape[:2]
    if resize == "center-crop" and height != width:
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        pixels = pixels[top : top + side, left : left + side]
    if pixels.shape[:2] == (size, size):
        return pixels
    resized = Image.fromarray(np.ascontiguousarray(pixels)).resize(
        (size, size), Image.Resampling.BICUBIC
    )
    return np.array(resized)  # a writable copy, as torch.from_numpy wants


def _to_chw(pixels: np.ndarray) -> np.ndarray:
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def read_image(
    source: bytes | str | os.PathLike,
    *,
    mode: str = "auto",
    size: int | None = None,
    resize: str = "resize",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> torch.Tensor:
    """Decode one image (file path or encoded bytes) to a uint8 C×H×W tensor.

    ``mode="auto"`` keeps grayscale as 1 channel and colour as 3; the other options are those of
    `load_image_folder` (see the module documentation for how each stored mode is read).

    Raises
    ------
    InvalidImageError
        The data is not a decodable image of a supported kind; the message names ``name`` (or the
        path).
    """
    _check_options(mode=mode, size=size, resize=resize, on_error="stop", limit=None)
    data = source if isinstance(source, bytes) else Path(source)
    label = name or ("image bytes" if isinstance(source, bytes) else str(source))
    pixels = _convert(_decode(data, label, max_pixels), mode)
    return torch.from_numpy(np.ascontiguousarray(_to_chw(_fit(pixels, size, resize))))


# ---------------------------------------------------------------------------------------------
# Sources: where the encoded files come from


def _ignored_name(parts: Sequence[str]) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


def _is_image_name(name: str) -> bool:
    return posixpath.splitext(name)[1].lower() in IMAGE_EXTENSIONS


@dataclass
class _Listing:
    """What a source holds: image files (relative path -> source reference), and the rest."""

    images: dict[str, object] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    bad: list[tuple[str, str]] = field(default_factory=list)


class _FolderSource:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = str(root)

    def display(self, relative: str) -> str:
        return str(self.root / relative)

    def listing(self) -> _Listing:
        listing = _Listing()
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


class _ArchiveSource:
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

    def _member(self, listing: _Listing, name: str, *, kind: str, size: int) -> str | None:
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


class _ZipSource(_ArchiveSource):
    def _open(self):
        return zipfile.ZipFile(self.path)

    def listing(self) -> _Listing:
        listing = _Listing()
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


class _TarSource(_ArchiveSource):
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

    def listing(self) -> _Listing:
        members = None if self.compressed else _scan_ustar(self.path)
        if members is None:
            return self._listing_with_tarfile()
        listing = _Listing()
        for name, kind, offset, size in members:
            relative = self._member(listing, name, kind=kind, size=size)
            if relative is not None:
                listing.images[relative] = (offset, size)
        return listing

    def _listing_with_tarfile(self) -> _Listing:
        listing = _Listing()
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


def _open_source(path: str | os.PathLike):
    path = Path(path).expanduser()
    if not path.exists():
        raise DataUnavailableError(f"{path}: no such file or folder; check the path")
    if path.is_dir():
        return _FolderSource(path)
    try:
        if zipfile.is_zipfile(path):
            return _ZipSource(path)
        if tarfile.is_tarfile(path):
            return _TarSource(path)
    except OSError as exc:
        raise GenlabError(f"{path}: cannot read ({exc.strerror or exc})") from None
    raise GenlabError(
        f"{path}: not a folder, .zip or .tar archive; pass a folder of images or an archive of one"
    )


_READ_ERRORS = (
    OSError,
    EOFError,
    RuntimeError,  # an encrypted zip member
    NotImplementedError,  # an unsupported zip compression method
    zipfile.BadZipFile,
    zlib.error,
    tarfile.TarError,
)


def _read_entry(source, relative: str, reference: object) -> bytes | Path:
    """The encoded bytes (or the path) of one image; a read failure is a bad file."""
    try:
        return source.read(reference)
    except _READ_ERRORS as exc:
        raise InvalidImageError(
            f"{source.display(relative)}: cannot read ({type(exc).__name__}: {exc})"
        ) from None


def _source_listing(source) -> _Listing:
    try:
        return source.listing()
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise GenlabError(
            f"{source.description}: cannot read the archive ({type(exc).__name__}: {exc}); "
            "check that the file is complete"
        ) from None


# ---------------------------------------------------------------------------------------------
# Planning: which files, which labels, which mode


@dataclass
class _Plan:
    source: object
    names: list[str]  # relative paths, sorted
    references: list[object]
    labels: list[int] | None
    classes: tuple[str, ...]
    ignored: list[str]
    skipped: list[tuple[str, str]]  # (display path, reason)
    description: str


def _sort_key(relative: str) -> list[str]:
    return relative.split("/")


def _subdir_prefix(subdir: str | None) -> str:
    if not subdir:
        return ""
    cleaned = posixpath.normpath("/" + str(subdir).replace(os.sep, "/")).strip("/")
    return cleaned + "/" if cleaned else ""


def _plan(path: str | os.PathLike, subdir: str | None) -> _Plan:
    source = _open_source(path)
    listing = _source_listing(source)
    prefix = _subdir_prefix(subdir)
    names = sorted((name for name in listing.images if name.startswith(prefix)), key=_sort_key)
    bad = [(name, reason) for name, reason in listing.bad if name.startswith(prefix)]
    ignored = [name for name in listing.ignored if name.startswith(prefix)]
    description = source.description + (f" (subfolder {prefix.rstrip('/')})" if prefix else "")
    if not names and not bad:
        examples = ", ".join(ignored[:3])
        found = f"; {len(ignored)} other files ignored, e.g. {examples}" if ignored else ""
        raise GenlabError(
            f"no images found in {description}{found}; image files end in "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))}"
        )
    # Paths below the root; labels come from their first folder, counting bad files too.
    local = [name[len(prefix) :] for name in names]
    candidates = local + [name[len(prefix) :] for name, _ in bad]
    classes: tuple[str, ...] = ()
    labels = None
    if all("/" in name for name in candidates):
        classes = tuple(sorted({name.split("/", 1)[0] for name in candidates}))
        index = {name: position for position, name in enumerate(classes)}
        labels = [index[name.split("/", 1)[0]] for name in local]
    return _Plan(
        source=source,
        names=names,
        references=[listing.images[name] for name in names],
        labels=labels,
        classes=classes,
        ignored=ignored,
        skipped=[(source.display(name), reason) for name, reason in bad],
        description=description,
    )


def _check_choice(option: str, value: object, choices: Sequence[str]) -> None:
    if value not in choices:
        raise GenlabError(f"unknown {option} {value!r}; use one of {', '.join(choices)}")


def _check_count(option: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise GenlabError(f"{option} must be a positive integer or None, got {value!r}")


def _check_options(*, mode, size, resize, on_error, limit) -> None:
    _check_choice("mode", mode, MODES)
    _check_count("size", size)
    _check_choice("resize", resize, RESIZE_METHODS)
    _check_choice("on_error", on_error, ON_ERROR)
    _check_count("limit", limit)


def _bad_file(reason: str, on_error: str, skipped: list[tuple[str, str]], display: str) -> None:
    if on_error == "stop":
        raise InvalidImageError(
            f"{reason}; fix or remove the file, or pass on_error='skip' to leave unreadable "
            "images out"
        )
    skipped.append((display, reason))


def _warn_skipped(skipped: Sequence[tuple[str, str]], description: str) -> None:
    if not skipped:
        return
    examples = "; ".join(reason for _, reason in skipped[:_SKIP_EXAMPLES])
    more = f" and {len(skipped) - _SKIP_EXAMPLES} more" if len(skipped) > _SKIP_EXAMPLES else ""
    warnings.warn(
        f"skipped {len(skipped)} unreadable image file(s) in {description}: {examples}{more}",
        SkippedImagesWarning,
        stacklevel=3,
    )


def _mixed_modes_error(counts: Counter, description: str) -> GenlabError:
    return GenlabError(
        f"{description} mixes {counts['L']} grayscale and {counts['RGB']} colour images; "
        "pass mode='L' or mode='RGB' to convert them all to one mode"
    )


def _sizes_error(
    first: tuple[str, tuple[int, int]], other: tuple[str, tuple[int, int]]
) -> GenlabError:
    (name_a, (w_a, h_a)), (name_b, (w_b, h_b)) = first, other
    return GenlabError(
        f"images differ in size: {name_a} is {w_a}×{h_a} but {name_b} is {w_b}×{h_b}; "
        "pass size=N to resize every image to N×N"
    )


def _empty_after_skipping(plan: _Plan, skipped: Sequence[tuple[str, str]]) -> GenlabError:
    example = skipped[0][1] if skipped else "?"
    return GenlabError(
        f"no readable images in {plan.description}: all {len(skipped)} image files failed "
        f"(first: {example})"
    )


# ---------------------------------------------------------------------------------------------
# The lazy data set


class ImageFolder(torch.utils.data.Dataset):
    """Images in a folder or archive, decoded on demand; ``(uint8 C×H×W, label)`` per index.

    Options are those of `load_image_folder`; ``verify=True`` additionally decodes every image
    once while building (nothing is kept) so that ``on_error`` also covers files damaged past
    their header. The label is -1 when the source has no class subfolders, as in `ImageDataset`.

    Attributes
    ----------
    classes : tuple of str
        Class names (first-level subfolders), empty when there are no labels.
    mode : str
        The resolved mode, ``"L"`` or ``"RGB"``.
    ignored : tuple of str
        Files that are not images (by extension) or hidden, relative to the source.
    skipped : tuple of (str, str)
        Bad files left out while building, with the reason.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        mode: str = "auto",
        size: int | None = None,
        resize: str = "resize",
        on_error: str = "stop",
        limit: int | None = None,
        subdir: str | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        verify: bool = False,
    ) -> None:
        _check_options(mode=mode, size=size, resize=resize, on_error=on_error, limit=limit)
        plan = _plan(path, subdir)
        self._size, self._resize, self._max_pixels = size, resize, max_pixels
        self._on_error = on_error
        self._source = plan.source
        self.description = plan.description
        self.classes = plan.classes
        self.ignored = tuple(plan.ignored)
        skipped = list(plan.skipped)
        if skipped and on_error == "stop":
            _bad_file(f"{skipped[0][0]}: {skipped[0][1]}", on_error, skipped, skipped[0][0])
        kept, kinds, sizes = self._scan(plan, on_error, limit, skipped, verify=verify)
        if not kept:
            raise _empty_after_skipping(plan, skipped)
        self.mode = self._resolve_mode(mode, kinds)
        if size is None:
            self._check_one_size([plan.source.display(plan.names[i]) for i in kept], sizes)
        self._image_size = sizes[0]
        self._names = [plan.names[i] for i in kept]
        self._references = [plan.references[i] for i in kept]
        self._labels = None if plan.labels is None else [plan.labels[i] for i in kept]
        self.skipped = tuple(skipped)
        _warn_skipped(skipped, self.description)

    def _scan(self, plan: _Plan, on_error, limit, skipped, *, verify: bool):
        kept: list[int] = []
        kinds: list[str] = []
        sizes: list[tuple[int, int]] = []
        for position, (name, reference) in enumerate(zip(plan.names, plan.references, strict=True)):
            if limit is not None and len(kept) == limit:
                break
            display = plan.source.display(name)
            try:
                data = _read_entry(plan.source, name, reference)
                kind, size = _probe(data, display, self._max_pixels)
                if verify:
                    _decode(data, display, self._max_pixels)
            except InvalidImageError as exc:
                _bad_file(str(exc), on_error, skipped, display)
                continue
            kept.append(position)
            kinds.append(kind)
            sizes.append(size)
        return kept, kinds, sizes

    def _resolve_mode(self, mode: str, kinds: list[str]) -> str:
        if mode != "auto":
            return mode
        counts = Counter(kinds)
        if len(counts) > 1:
            raise _mixed_modes_error(counts, self.description)
        return kinds[0]

    @staticmethod
    def _check_one_size(displays: list[str], sizes: list[tuple[int, int]]) -> None:
        for display, size in zip(displays, sizes, strict=True):
            if size != sizes[0]:
                raise _sizes_error((displays[0], sizes[0]), (display, size))

    def __len__(self) -> int:
        return len(self._names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        channels = 1 if self.mode == "L" else 3
        if self._size is not None:
            return (channels, self._size, self._size)
        width, height = self._image_size
        return (channels, height, width)

    @property
    def labels(self) -> torch.Tensor | None:
        """int64 labels of every image, or None when the source has no class subfolders."""
        return None if self._labels is None else torch.tensor(self._labels, dtype=torch.int64)

    def _decode_at(self, index: int) -> np.ndarray:
        display = self._source.display(self._names[index])
        data = _read_entry(self._source, self._names[index], self._references[index])
        pixels = _decode(data, display, self._max_pixels)
        chw = _to_chw(_fit(_convert(pixels, self.mode), self._size, self._resize))
        if chw.shape != self.image_shape:
            # The header promised another size (or the file changed since the folder was read).
            raise InvalidImageError(
                f"{display}: decoded to {chw.shape[1:]} instead of {self.image_shape[1:]}"
            )
        return chw

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        index %= len(self)
        image = torch.from_numpy(np.ascontiguousarray(self._decode_at(index)))
        label = -1 if self._labels is None else self._labels[index]
        return image, label

    def materialize(self, limit: int | None = None, *, on_error: str | None = None) -> ImageDataset:
        """Decode the first ``limit`` images (all by default) into an in-memory `ImageDataset`.

        A file that fails to decode raises `InvalidImageError` (``on_error="stop"``) or is left
        out with one warning (``"skip"``), in which case later files fill the ``limit``.
        ``on_error`` defaults to the folder's own.
        """
        on_error = self._on_error if on_error is None else on_error
        _check_choice("on_error", on_error, ON_ERROR)
        _check_count("limit", limit)
        wanted = len(self) if limit is None else min(limit, len(self))
        images = np.empty((wanted, *self.image_shape), dtype=np.uint8)
        labels: list[int] = []
        skipped: list[tuple[str, str]] = []
        filled = 0
        for index in range(len(self)):
            if filled == wanted:
                break
            try:
                images[filled] = self._decode_at(index)
            except InvalidImageError as exc:
                display = self._source.display(self._names[index])
                _bad_file(str(exc), on_error, skipped, display)
                continue
            if self._labels is not None:
                labels.append(self._labels[index])
            filled += 1
        _warn_skipped(skipped, self.description)
        return ImageDataset(
            torch.from_numpy(images[:filled]),
            None if self._labels is None else torch.tensor(labels, dtype=torch.int64),
            self.classes,
            self.description,
        )


# ---------------------------------------------------------------------------------------------
# The eager loader


@dataclass
class _Collected:
    """Decoded images filled into one preallocated array as they come."""

    capacity: int
    array: np.ndarray | None = None
    count: int = 0
    labels: list[int] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)
    first: tuple[str, tuple[int, int]] | None = None

    def add(self, chw: np.ndarray, label: int | None, kind: str, display: str) -> None:
        if self.array is None:
            self.array = np.empty((self.capacity, *chw.shape), dtype=np.uint8)
            self.first = (display, (chw.shape[2], chw.shape[1]))
        elif chw.shape != self.array.shape[1:]:
            raise _sizes_error(self.first, (display, (chw.shape[2], chw.shape[1])))
        self.array[self.count] = chw
        self.count += 1
        self.kinds[kind] += 1
        if label is not None:
            self.labels.append(label)


def load_image_folder(
    path: str | os.PathLike,
    *,
    mode: str = "auto",
    size: int | None = None,
    resize: str = "resize",
    on_error: str = "stop",
    limit: int | None = None,
    subdir: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> ImageDataset:
    """Decode the images of a folder, .zip or .tar into one uint8 N×C×H×W `ImageDataset`.

    Parameters
    ----------
    path
        A folder (searched recursively), a .zip, or a .tar (optionally gzip/bzip2/xz compressed).
    mode
        ``"auto"``, ``"L"`` or ``"RGB"``; see the module documentation for every stored mode.
    size
        None (all images must share one size) or N for N×N images.
    resize
        ``"resize"`` (scale the whole image) or ``"center-crop"`` (central square, then scale).
    on_error
        ``"stop"`` (raise `InvalidImageError` at the first bad file) or ``"skip"`` (leave bad
        files out and warn once).
    limit
        Keep only the first ``limit`` readable images (in sorted path order).
    subdir
        Use this subfolder of the source as its root.
    max_pixels
        Images with more pixels are bad files (decompression-bomb guard).
    name
        The data set's name; the path by default.
    """
    _check_options(mode=mode, size=size, resize=resize, on_error=on_error, limit=limit)
    plan = _plan(path, subdir)
    skipped = list(plan.skipped)
    if skipped and on_error == "stop":
        _bad_file(f"{skipped[0][0]}: {skipped[0][1]}", on_error, skipped, skipped[0][0])
    capacity = len(plan.names) if limit is None else min(limit, len(plan.names))
    collected = _Collected(capacity)
    for position, (relative, reference) in enumerate(zip(plan.names, plan.references, strict=True)):
        if collected.count == capacity:
            break
        display = plan.source.display(relative)
        try:
            pixels = _decode(_read_entry(plan.source, relative, reference), display, max_pixels)
        except InvalidImageError as exc:
            _bad_file(str(exc), on_error, skipped, display)
            continue
        kind = "L" if pixels.ndim == 2 else "RGB"
        if mode == "auto" and collected.kinds and kind not in collected.kinds:
            raise _mixed_modes_error(_count_kinds(plan, max_pixels), plan.description)
        chw = _to_chw(_fit(_convert(pixels, mode), size, resize))
        label = None if plan.labels is None else plan.labels[position]
        collected.add(chw, label, kind, display)
    if collected.count == 0:
        raise _empty_after_skipping(plan, skipped)
    _warn_skipped(skipped, plan.description)
    images = collected.array[: collected.count]
    if collected.count < capacity:  # skipped files: do not keep the unused rows alive
        images = images.copy()
    return ImageDataset(
        torch.from_numpy(images),
        None if plan.labels is None else torch.tensor(collected.labels, dtype=torch.int64),
        plan.classes,
        name or plan.description,
    )


def _count_kinds(plan: _Plan, max_pixels: int) -> Counter:
    """Grayscale and colour counts over every readable file, from headers only (for the error)."""
    counts: Counter = Counter()
    for relative, reference in zip(plan.names, plan.references, strict=True):
        try:
            kind, _ = _probe(_read_entry(plan.source, relative, reference), relative, max_pixels)
        except InvalidImageError:
            continue
        counts[kind] += 1
    return counts

"""Decoding one image file: stored modes, 16-bit, palettes, alpha, animations, bombs and errors.

Every decoded image ends as uint8 H×W (grayscale) or H×W×3 (colour); `prepare` then applies the
one set of mode and size rules every reader shares (`read_image`, and each image of
`genlab.data.folder`), and lays the pixels out as C×H×W.

Formats
    Only PNG, JPEG, BMP, GIF, TIFF, WebP and PPM/PGM/PBM are decoded, whatever a file's extension
    says.

Modes (``mode``)
    ``"L"`` (1 channel) or ``"RGB"`` (3 channels) converts every image to that mode: grayscale to
    RGB repeats the channel, RGB to L uses ITU-R 601-2 luma (L = 0.299 R + 0.587 G + 0.114 B, as
    Pillow does). ``"auto"`` keeps the stored kind (folders then require one kind for all their
    images; see `genlab.data.folder`). Stored modes are read as follows, explicitly:

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
    ``None`` keeps the stored size. An integer makes every image ``size``×``size``:
    ``resize="resize"`` scales the whole image (the aspect ratio changes if it was not square);
    ``"center-crop"`` first cuts the central square of side min(H, W), then scales it. Scaling is
    bicubic with Pillow's antialiasing.

Bad files
    Each image is fully decoded, so truncation is detected. A zero-byte, truncated, corrupt or
    undecodable file, or one with more than ``max_pixels`` pixels (a decompression bomb, or a
    genuine giant that needs a larger ``max_pixels``), raises `InvalidImageError` naming the file.
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genlab.arrays import check_integer
from genlab.errors import GenlabError, InvalidImageError

MODES = ("auto", "L", "RGB")
RESIZE_METHODS = ("resize", "center-crop")
# 8192×8192: far above any training image, far below what would exhaust memory. Pillow's own
# bomb limit (about 89 megapixels warns, twice that fails) is higher and so never the one to fire.
DEFAULT_MAX_PIXELS = 1 << 26
_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")

_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N"})
_COLOUR_MODES = frozenset({"P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr"})


def check_choice(option: str, value: object, choices: Sequence[str]) -> None:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise GenlabError(f"unknown {option} {value!r}; use one of {', '.join(choices)}")


def check_image_options(*, mode: object, size: object, resize: object) -> None:
    """Raise unless ``mode``, ``size`` and ``resize`` are options `prepare` accepts."""
    check_choice("mode", mode, MODES)
    check_integer(size, "size", or_none=True)
    check_choice("resize", resize, RESIZE_METHODS)


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


def probe(data: bytes | Path, name: str, max_pixels: int) -> tuple[str, tuple[int, int]]:
    """Kind (``"L"``/``"RGB"``) and (width, height) from the header, without decoding pixels."""
    return _guarded(
        lambda image: (_image_kind(image.mode, name), image.size), data, name, max_pixels
    )


def decode(data: bytes | Path, name: str, max_pixels: int) -> np.ndarray:
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


def kind_of(pixels: np.ndarray) -> str:
    """``"L"`` or ``"RGB"``: the kind of decoded pixels (H×W or H×W×3)."""
    return "L" if pixels.ndim == 2 else "RGB"


def prepare(pixels: np.ndarray, *, mode: str, size: int | None, resize: str) -> np.ndarray:
    """Decoded pixels to uint8 C×H×W in ``mode`` (``"auto"`` keeps the kind) and ``size``."""
    return _to_chw(_fit(_convert(pixels, mode), size, resize))


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

    ``mode="auto"`` keeps grayscale as 1 channel and colour as 3; ``size`` and ``resize`` are
    applied by `prepare` (see the module documentation for how each stored mode is read).

    Raises
    ------
    InvalidImageError
        The data is not a decodable image of a supported kind; the message names ``name`` (or the
        path).
    """
    check_image_options(mode=mode, size=size, resize=resize)
    data = source if isinstance(source, bytes) else Path(source)
    label = name or ("image bytes" if isinstance(source, bytes) else str(source))
    chw = prepare(decode(data, label, max_pixels), mode=mode, size=size, resize=resize)
    return torch.from_numpy(np.ascontiguousarray(chw))

"""Image conversion and writing at the pipeline's one convention: uint8 N×C×H×W, values 0..255.

Training maps to floats in [-1, 1] with `uint8_to_signed` and back with `signed_to_uint8`; every
writer here takes uint8 and never guesses another scaling.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from genlab.errors import GenlabError
from genlab.fileio import atomic_write_bytes


def check_uint8_images(images: torch.Tensor, what: str = "images") -> torch.Tensor:
    """Return ``images`` if it is a uint8 N×C×H×W tensor with 1 or 3 channels, else raise."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        dtype = getattr(images, "dtype", "?")
        expected = "a uint8 tensor of shape N×C×H×W with values 0..255"
        raise GenlabError(f"{what} must be {expected}, got {dtype} {shape}")
    if images.shape[1] not in (1, 3):
        raise GenlabError(f"{what} must have 1 or 3 channels, got {images.shape[1]} (N×C×H×W)")
    return images


#: The value ranges float images may be declared in, and how each maps to 0..255.
VALUE_RANGES = ((0.0, 1.0), (-1.0, 1.0))


def as_uint8_images(
    images: Any, *, value_range: tuple[float, float] | None = None, what: str = "images"
) -> torch.Tensor:
    """Any array of images a user holds, as the pipeline's uint8 N×C×H×W tensor on the CPU.

    Accepted: a numpy array or torch tensor, N×C×H×W or N×H×W×C with C in {1, 3} (C×… is
    chosen when the second axis has 1 or 3 entries), or N×H×W for grey images.

    - uint8 is taken as it is (``value_range`` describes float images only).
    - Floating images need ``value_range``: (0, 1) maps x to round(255 x), (-1, 1) maps x to
      round(127.5 (x + 1)) — the conversion `signed_to_uint8` uses to write samples as PNG, so a
      float tensor and the PNGs saved from it give the same features. Values outside the declared
      range are refused rather than clamped: they mean the range is not the one declared.
    - Any other dtype is refused with the conversion to make.

    Raises
    ------
    GenlabError
        One line naming the problem (dtype, range, shape) and the fix.
    """
    tensor = _as_tensor(images, what)
    if tensor.ndim == 3:
        tensor = tensor[:, None]
    if tensor.ndim != 4:
        raise GenlabError(
            f"{what} must be N×C×H×W, N×H×W×C or N×H×W, got {tensor.ndim} dimensions "
            f"{tuple(tensor.shape)}; stack single images into one batch"
        )
    if tensor.shape[1] not in (1, 3):
        if tensor.shape[3] not in (1, 3):
            raise GenlabError(
                f"{what} have shape {tuple(tensor.shape)}: neither axis 1 (N×C×H×W) nor axis 3 "
                "(N×H×W×C) holds 1 or 3 channels; pass grey or RGB images"
            )
        tensor = tensor.permute(0, 3, 1, 2)
    if tensor.shape[0] == 0:
        raise GenlabError(f"{what} hold no images; pass at least one")
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.uint8:
        return tensor.contiguous()
    if not tensor.is_floating_point():
        raise GenlabError(
            f"{what} are {tensor.dtype}; pass uint8 images (0..255) or floating images with "
            "value_range=(0, 1) or (-1, 1)"
        )
    return _float_to_uint8(tensor, value_range, what)


def _as_tensor(images: Any, what: str) -> torch.Tensor:
    if isinstance(images, torch.Tensor):
        return images
    if isinstance(images, np.ndarray):
        if images.dtype.kind not in "uif" or images.dtype == np.float16:
            raise GenlabError(
                f"{what} are a numpy array of {images.dtype}; pass uint8 images (0..255) or "
                "float32/float64 images with value_range=(0, 1) or (-1, 1)"
            )
        return torch.from_numpy(np.ascontiguousarray(images))
    raise GenlabError(
        f"{what} must be a numpy array or torch tensor of images, got {type(images).__name__}"
    )


def _float_to_uint8(
    tensor: torch.Tensor, value_range: tuple[float, float] | None, what: str
) -> torch.Tensor:
    if value_range is None:
        raise GenlabError(
            f"{what} are {tensor.dtype}; floating images need value_range=(0, 1) or (-1, 1) "
            "(how they map to 0..255), or pass uint8 images"
        )
    try:
        low, high = (float(bound) for bound in value_range)
    except (TypeError, ValueError):
        raise GenlabError(f"value_range must be (0, 1) or (-1, 1), got {value_range!r}") from None
    if (low, high) not in VALUE_RANGES:
        raise GenlabError(f"value_range must be (0, 1) or (-1, 1), got {value_range!r}")
    # Converted in their own precision (half types in float32), as a sample grid is written.
    values = tensor if tensor.dtype in (torch.float32, torch.float64) else tensor.float()
    if not torch.isfinite(values).all():
        raise GenlabError(f"{what} hold NaN or inf values; pass finite images")
    smallest, largest = float(values.min()), float(values.max())
    if smallest < low or largest > high:
        raise GenlabError(
            f"{what} hold values from {smallest:.4g} to {largest:.4g}, outside value_range "
            f"({low:g}, {high:g}); pass the range they are in, or clamp them first"
        )
    if low == 0.0:
        return values.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
    return signed_to_uint8(values)


def uint8_to_signed(images: torch.Tensor) -> torch.Tensor:
    """Map uint8 0..255 to float32 in [-1, 1] (x / 127.5 - 1)."""
    return images.to(torch.float32).div_(127.5).sub_(1.0)


def signed_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Map floats in [-1, 1] to uint8 0..255, rounding to nearest and clamping outliers."""
    return images.detach().add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


def make_grid(images: torch.Tensor, *, nrow: int | None = None, padding: int = 2) -> torch.Tensor:
    """Tile uint8 N×C×H×W images into one uint8 C×H'×W' grid (``nrow`` images a row)."""
    check_uint8_images(images)
    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    ncol = math.ceil(n / nrow)
    grid = torch.full(
        (c, ncol * (h + padding) + padding, nrow * (w + padding) + padding), 255, dtype=torch.uint8
    )
    for index in range(n):
        row, col = divmod(index, nrow)
        top, left = padding + row * (h + padding), padding + col * (w + padding)
        grid[:, top : top + h, left : left + w] = images[index]
    return grid


def _to_pil(image: torch.Tensor) -> Image.Image:
    array = image.cpu().numpy()
    if array.shape[0] == 1:
        return Image.fromarray(array[0], mode="L")
    return Image.fromarray(np.ascontiguousarray(array.transpose(1, 2, 0)), mode="RGB")


def save_png(path: str | os.PathLike, image: torch.Tensor) -> None:
    """Write one uint8 C×H×W image as PNG, atomically."""
    import io

    buffer = io.BytesIO()
    _to_pil(image).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def save_grid(
    path: str | os.PathLike, images: torch.Tensor, *, nrow: int | None = None, scale: int = 1
) -> None:
    """Write uint8 N×C×H×W images as one PNG grid; ``scale`` enlarges tiny images (nearest)."""
    grid = make_grid(images, nrow=nrow)
    if scale > 1:
        grid = grid.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
    save_png(path, grid)


def write_image_folder(folder: str | os.PathLike, images: torch.Tensor, *, start: int = 0) -> None:
    """Write uint8 N×C×H×W images as ``folder/000000.png``, ``000001.png``, ..."""
    check_uint8_images(images)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for offset, image in enumerate(images):
        _to_pil(image).save(folder / f"{start + offset:06d}.png")


def write_npz(path: str | os.PathLike, images: torch.Tensor) -> None:
    """Write uint8 N×C×H×W images to an .npz file under the key ``images``, atomically."""
    import io

    check_uint8_images(images)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images.cpu().numpy())
    atomic_write_bytes(path, buffer.getvalue())


def read_npz(path: str | os.PathLike) -> torch.Tensor:
    """Read uint8 images (N×C×H×W or N×H×W×C) from .npz: key ``images``, or the only array."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.keys())
            key = "images" if "images" in keys else (keys[0] if len(keys) == 1 else None)
            if key is None:
                raise GenlabError(
                    f"{path}: found arrays {keys}; store the images under the key 'images'"
                )
            array = archive[key]
    except (OSError, ValueError) as exc:
        raise GenlabError(f"{path}: not a readable .npz file ({exc})") from None
    if array.dtype != np.uint8:
        raise GenlabError(f"{path}: images must be uint8 0..255, found {array.dtype}; convert them")
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim == 4 and array.shape[1] not in (1, 3) and array.shape[3] in (1, 3):
        array = array.transpose(0, 3, 1, 2)  # N×H×W×C, as most numpy code stores images
    return check_uint8_images(torch.from_numpy(np.ascontiguousarray(array)), str(path))

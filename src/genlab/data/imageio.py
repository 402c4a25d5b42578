"""Image conversion and writing at the pipeline's one convention: uint8 N×C×H×W, values 0..255.

Training maps to floats in [-1, 1] with `uint8_to_signed` and back with `signed_to_uint8`; every
writer here takes uint8 and never guesses another scaling.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

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

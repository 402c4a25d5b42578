"""Resizing with PIL, as the reference feature pipelines do it.

Feature extractors are sensitive to the resize: Parmar et al. ("On aliased resizing and surprising
subtleties in GAN evaluation", CVPR 2022, clean-fid) show FID moving by more than model
differences between resize implementations. The reference pipelines genlab follows all resize
with PIL's bicubic filter (a = -0.5, support scaled with the shrink factor, so it antialiases when
shrinking):

- dgm-eval's DINOv2 and the CLIP preprocessing resize the **8-bit** PIL image (torchvision's
  ``Resize`` on a PIL image calls ``Image.resize``), so the result is rounded to uint8;
- clean-fid's "clean" mode resizes each channel as a **32-bit float** image (mode ``F``) and clips
  to [0, 255], without rounding.

These functions call PIL itself, one image at a time, on the CPU: exact by construction, and cheap
next to the networks that follow.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from genlab.data.imageio import check_uint8_images


def _to_pil(image: np.ndarray) -> Image.Image:
    """A C×H×W uint8 array (C = 1 or 3) as an ``L`` or ``RGB`` PIL image."""
    return Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0))


def _from_pil(image: Image.Image) -> np.ndarray:
    array = np.asarray(image)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def pil_bicubic_uint8(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize uint8 N×C×H×W images to ``size`` = (H', W') with PIL bicubic on the 8-bit image.

    Grayscale (C = 1) stays one channel: PIL resizes each band alone with the same integer
    arithmetic, so resizing ``L`` then repeating equals converting to ``RGB`` first.
    """
    check_uint8_images(images)
    height, width = size
    arrays = images.cpu().numpy()
    out = [
        _from_pil(_to_pil(image).resize((width, height), Image.Resampling.BICUBIC))
        for image in arrays
    ]
    return torch.from_numpy(np.stack(out)) if out else images.new_empty(0, images.shape[1], *size)


def pil_bicubic_float(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """clean-fid's resize: each channel as a float32 PIL image, bicubic to ``size``, clipped.

    uint8 N×C×H×W in, float32 N×C×H'×W' with values in [0, 255] out (not rounded).
    """
    check_uint8_images(images)
    height, width = size
    arrays = images.cpu().numpy().astype(np.float32)
    out = np.empty((arrays.shape[0], arrays.shape[1], height, width), dtype=np.float32)
    for i, image in enumerate(arrays):
        for c, channel in enumerate(image):
            resized = Image.fromarray(channel, mode="F").resize(
                (width, height), Image.Resampling.BICUBIC
            )
            out[i, c] = np.asarray(resized)
    return torch.from_numpy(np.clip(out, 0.0, 255.0))


def short_side_size(height: int, width: int, short: int) -> tuple[int, int]:
    """(H', W') with the short side ``short`` and the long side int(short · long / short_side).

    The rule of torchvision's ``Resize(int)`` (the CLIP preprocessing): the long side is
    truncated, not rounded.
    """
    if height <= width:
        return short, int(short * width / height)
    return int(short * height / width), short


def centre_crop_box(height: int, width: int, size: int) -> tuple[int, int]:
    """(top, left) of a size×size centre crop: round((H - size)/2), as torchvision's
    ``CenterCrop`` (Python's round: halves to even)."""
    return round((height - size) / 2.0), round((width - size) / 2.0)


def resize_short_side_and_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """CLIP's geometry: PIL bicubic (8-bit) resize of the short side to ``size``, centre crop.

    uint8 N×C×H×W → uint8 N×C×size×size. A square image is only resized.
    """
    check_uint8_images(images)
    height, width = images.shape[-2:]
    resized = pil_bicubic_uint8(images, short_side_size(height, width, size))
    top, left = centre_crop_box(resized.shape[-2], resized.shape[-1], size)
    return resized[..., top : top + size, left : left + size]

"""Raw pixels as features: the simplest extractor, needing no network and no weights.

Each uint8 image becomes the vector of its values v / 255 ∈ [0, 1], optionally after area
downsampling to size×size (each output pixel is the mean of the input pixels it covers, i.e.
``torch.nn.functional.interpolate(mode="area")``, an adaptive average pooling). Grayscale images
give C = 1 values per pixel and RGB images 3: channels are taken as given, never converted, so the
feature dimension is C·size·size (or C·H·W without resizing). Pixel-space FID or PRDC is useful on
small images (MNIST, toy data) and as a network-free sanity check; it is not comparable with
Inception-feature numbers.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from genlab.arrays import check_integer
from genlab.data.imageio import check_uint8_images
from genlab.errors import GenlabError
from genlab.metrics.features.registry import FEATURES_ONLY


class PixelDimensionUnknownError(GenlabError, AttributeError):
    """``dim`` was read before any images were seen.

    Also an AttributeError so that ``hasattr(extractor, "dim")`` and protocol ``isinstance`` checks
    answer False instead of raising.
    """


class PixelExtractor:
    """Flattened pixel features in [0, 1], float32 (N, C·s·s), optionally area-downsampled.

    Parameters
    ----------
    size : int, optional
        Resize every image to size×size with area interpolation before flattening (a larger size
        than the image replicates pixels). ``None`` keeps the images' own H×W.

    Notes
    -----
    ``dim`` depends on the images' channels (and H×W without ``size``), so it is fixed by the
    first batch; later batches with a different per-image shape are refused, because their
    features would not be comparable.
    """

    name = "pixels"
    capabilities = FEATURES_ONLY  # no class logits

    def __init__(self, *, size: int | None = None) -> None:
        check_integer(size, "size", or_none=True)
        self.size = size
        self._image_shape: tuple[int, int, int] | None = None  # (C, H, W) after resizing

    @property
    def dim(self) -> int:
        """Features per image, C·H·W of the (resized) images; known after the first batch."""
        if self._image_shape is None:
            raise PixelDimensionUnknownError(
                "the pixel feature dimension is set by the first batch of images; call the "
                "extractor (or extract_features) first"
            )
        channels, height, width = self._image_shape
        return channels * height * width

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Pixel features of uint8 N×C×H×W images: float32 (N, dim) with values in [0, 1]."""
        check_uint8_images(images)
        pixels = images.to(torch.float32) / 255.0
        if self.size is not None:
            pixels = F.interpolate(pixels, size=(self.size, self.size), mode="area")
        self._fix_shape(tuple(pixels.shape[1:]))
        return pixels.flatten(start_dim=1)

    def protocol(self) -> dict[str, Any]:
        """Everything that determines the features, for cache keys and stored statistics."""
        return {
            "extractor": self.name,
            "resize": "none" if self.size is None else "area",
            "size": self.size,
            "normalisation": "x / 255",
        }

    def _fix_shape(self, shape: tuple[int, ...]) -> None:
        if self._image_shape is None:
            self._image_shape = (shape[0], shape[1], shape[2])
        elif shape != self._image_shape:
            raise GenlabError(
                f"images of per-image shape {shape} after resizing differ from the first batch's "
                f"{self._image_shape}; pass size= to resize all images to one size, and give all "
                "images the same number of channels"
            )

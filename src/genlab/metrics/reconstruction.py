"""Reconstruction error of an autoencoder, measured on uint8 images in [0, 1] pixel units.

Pixels are mapped to x = v / 255 ∈ [0, 1] for both images, so every number here is independent of
how the model scales its inputs. For an image pair with P = C·H·W values:

    MSE_i  = (1/P) Σ_p (x_p − x̂_p)²                (per-pixel mean squared error)
    L2_i   = ‖x − x̂‖₂ = √(P · MSE_i)                (Euclidean distance of the images)
    PSNR_i = 10 log10(MAX² / MSE_i) dB with MAX = 1  (peak signal-to-noise ratio)

and the reported values are their means over the N images.
"""

from __future__ import annotations

import torch

from genlab.data.imageio import check_uint8_images
from genlab.errors import GenlabError
from genlab.metrics.keys import L2, MSE, PSNR

#: Images converted to float64 at a time, bounding memory for large sets.
_CHUNK_IMAGES = 1024


def reconstruction_error(
    originals: torch.Tensor, reconstructions: torch.Tensor
) -> dict[str, float]:
    """Mean per-pixel MSE, mean per-image L2 distance and mean PSNR of uint8 image pairs.

    Parameters
    ----------
    originals, reconstructions : torch.Tensor
        uint8 N×C×H×W images of identical shape, pairs matched by index.

    Returns
    -------
    dict
        ``{MSE: mean of MSE_i, L2: mean of L2_i, PSNR: mean of PSNR_i}`` (keys from
        `genlab.metrics.keys`). Averaging MSE_i over images equals the MSE over all pixels because
        every image has the same P. A perfect reconstruction has MSE_i = 0 and PSNR_i = +inf,
        which makes the mean PSNR +inf: that is the honest value, not capped.

    Raises
    ------
    GenlabError
        If either input is not uint8 N×C×H×W or the shapes differ.
    """
    check_uint8_images(originals, "originals")
    check_uint8_images(reconstructions, "reconstructions")
    if originals.shape != reconstructions.shape:
        raise GenlabError(
            f"originals have shape {tuple(originals.shape)} but reconstructions "
            f"{tuple(reconstructions.shape)}; pass one reconstruction per original, same size"
        )
    if originals.shape[0] == 0:
        raise GenlabError("no images given; pass at least one original and its reconstruction")
    per_image_mse = torch.cat(
        [
            _per_image_mse(
                originals[start : start + _CHUNK_IMAGES],
                reconstructions[start : start + _CHUNK_IMAGES],
            )
            for start in range(0, originals.shape[0], _CHUNK_IMAGES)
        ]
    )
    pixels_per_image = originals[0].numel()
    return {
        MSE: float(per_image_mse.mean()),
        L2: float((per_image_mse * pixels_per_image).sqrt().mean()),
        PSNR: float((-10.0 * torch.log10(per_image_mse)).mean()),
    }


def _per_image_mse(originals: torch.Tensor, reconstructions: torch.Tensor) -> torch.Tensor:
    difference = (originals.to(torch.float64) - reconstructions.to(torch.float64)) / 255.0
    return difference.square().flatten(start_dim=1).mean(dim=1)

"""TF1 bilinear resize against a loop-by-loop numpy transcription of TensorFlow's definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from genlab.errors import GenlabError
from genlab.metrics.features.tf_resize import tf1_bilinear_resize


def _reference_resize(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TF1 ``resize_bilinear(align_corners=False)`` on one H×W image, one output pixel at a time.

    Written from TensorFlow's definition: scale = in / out in float32, source = index · scale,
    lower = floor(source), upper = min(ceil(source), in - 1), lerp = source - floor(source).
    """
    in_h, in_w = image.shape
    scale_y = np.float32(in_h) / np.float32(out_h)
    scale_x = np.float32(in_w) / np.float32(out_w)
    out = np.zeros((out_h, out_w), dtype=np.float64)
    for i in range(out_h):
        y = np.float32(i) * scale_y
        top_row, bottom_row = math.floor(y), min(math.ceil(y), in_h - 1)
        y_lerp = float(y - np.float32(math.floor(y)))
        for j in range(out_w):
            x = np.float32(j) * scale_x
            left, right = math.floor(x), min(math.ceil(x), in_w - 1)
            x_lerp = float(x - np.float32(math.floor(x)))
            top = image[top_row, left] + (image[top_row, right] - image[top_row, left]) * x_lerp
            bottom = (
                image[bottom_row, left]
                + (image[bottom_row, right] - image[bottom_row, left]) * x_lerp
            )
            out[i, j] = top + (bottom - top) * y_lerp
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    ("in_hw", "out_hw"),
    [((3, 4), (5, 7)), ((5, 5), (3, 3)), ((4, 6), (9, 2)), ((1, 3), (2, 5)), ((7, 3), (7, 8))],
)
def test_matches_loop_reference(in_hw, out_hw, dtype):
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (2, 3, *in_hw), generator=generator).to(dtype)
    resized = tf1_bilinear_resize(images, out_hw)
    assert resized.shape == (2, 3, *out_hw)
    assert resized.dtype == dtype
    expected = np.stack(
        [
            np.stack([_reference_resize(channel.double().numpy(), *out_hw) for channel in image])
            for image in images
        ]
    )
    tolerance = 1e-4 if dtype == torch.float32 else 1e-10
    np.testing.assert_allclose(resized.numpy(), expected, rtol=0, atol=tolerance)


def test_differs_from_half_pixel_bilinear():
    images = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4) ** 2
    ours = tf1_bilinear_resize(images, 7)
    half_pixel = F.interpolate(images, size=(7, 7), mode="bilinear", align_corners=False)
    assert (ours - half_pixel).abs().max() > 1.0


def test_upsampling_a_ramp_follows_the_legacy_grid():
    # On I[y, x] = x the output at column j is j·W/W' until the grid passes the last pixel, where
    # the edge pixel repeats: a closed form of the no-half-pixel convention.
    width, out_width = 4, 10
    images = torch.arange(width, dtype=torch.float64).expand(1, 1, 2, width)
    resized = tf1_bilinear_resize(images, (2, out_width))
    expected = torch.clamp(torch.arange(out_width, dtype=torch.float64) * width / out_width, max=3)
    torch.testing.assert_close(resized[0, 0, 0], expected, rtol=0, atol=1e-6)


def test_halving_picks_even_pixels_exactly():
    images = torch.rand(2, 3, 8, 6)
    torch.testing.assert_close(
        tf1_bilinear_resize(images, (4, 3)), images[:, :, ::2, ::2], rtol=0, atol=0
    )


def test_same_size_is_identity():
    images = torch.rand(1, 3, 5, 5)
    assert torch.equal(tf1_bilinear_resize(images, 5), images)


@pytest.mark.parametrize(
    "bad",
    [torch.zeros(1, 3, 4, 4, dtype=torch.uint8), torch.zeros(3, 4, 4), [[0.0]]],
)
def test_rejects_bad_input(bad):
    with pytest.raises(GenlabError):
        tf1_bilinear_resize(bad, 8)

"""Pixel features against hand computations and a NumPy block-mean reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.errors import GenlabError
from genlab.metrics.features.pixels import PixelExtractor


def test_flattens_to_unit_interval_in_channel_row_column_order():
    images = torch.tensor([[[[0, 255], [51, 102]]]], dtype=torch.uint8)  # 1×1×2×2
    features = PixelExtractor()(images)
    assert features.dtype == torch.float32
    np.testing.assert_allclose(features.numpy(), [[0.0, 1.0, 0.2, 0.4]], rtol=1e-6)


def test_rgb_is_kept_and_order_matches_numpy_reshape():
    images = torch.randint(0, 256, (4, 3, 5, 6), dtype=torch.uint8)
    extractor = PixelExtractor()
    features = extractor(images)
    expected = images.numpy().reshape(4, -1).astype(np.float64) / 255
    np.testing.assert_allclose(features.numpy(), expected, rtol=1e-6)
    assert extractor.dim == 3 * 5 * 6


@pytest.mark.parametrize("channels", [1, 3])
def test_area_downsampling_is_the_block_mean(channels):
    images = torch.randint(0, 256, (2, channels, 8, 8), dtype=torch.uint8)
    extractor = PixelExtractor(size=4)
    features = extractor(images)
    # 8×8 → 4×4: each output pixel is the mean of a 2×2 block.
    blocks = images.numpy().astype(np.float64).reshape(2, channels, 4, 2, 4, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(features.numpy(), blocks.reshape(2, -1) / 255, rtol=1e-6, atol=1e-7)
    assert extractor.dim == channels * 16


def test_non_integer_ratio_area_downsampling_matches_adaptive_pooling_by_hand():
    # 3 → 2 with area mode: output i averages input rows floor(3i/2) .. ceil(3(i+1)/2) − 1.
    image = torch.tensor([[[[0, 30, 60], [90, 120, 150], [180, 210, 240]]]], dtype=torch.uint8)
    features = PixelExtractor(size=2)(image).numpy()[0] * 255
    values = image.numpy()[0, 0].astype(np.float64)
    expected = [
        values[0:2, 0:2].mean(),
        values[0:2, 1:3].mean(),
        values[1:3, 0:2].mean(),
        values[1:3, 1:3].mean(),
    ]
    np.testing.assert_allclose(features, expected, rtol=1e-5)


def test_dimension_is_unknown_before_the_first_batch():
    extractor = PixelExtractor(size=4)
    assert not hasattr(extractor, "dim")
    with pytest.raises(GenlabError, match="set by the first batch"):
        _ = extractor.dim


def test_later_batches_of_another_shape_are_refused():
    extractor = PixelExtractor()
    extractor(torch.zeros(1, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(GenlabError, match="differ from the first batch"):
        extractor(torch.zeros(1, 1, 5, 5, dtype=torch.uint8))
    resizing = PixelExtractor(size=2)
    resizing(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
    resizing(torch.zeros(1, 3, 6, 6, dtype=torch.uint8))  # resized to the same 2×2: fine
    with pytest.raises(GenlabError, match="same number of channels"):
        resizing(torch.zeros(1, 1, 4, 4, dtype=torch.uint8))


def test_protocol_records_the_resizing():
    assert PixelExtractor().protocol() == {
        "extractor": "pixels",
        "resize": "none",
        "size": None,
        "normalisation": "x / 255",
    }
    assert PixelExtractor(size=16).protocol()["resize"] == "area"
    assert PixelExtractor(size=16).protocol() != PixelExtractor(size=8).protocol()


def test_bad_inputs_are_rejected():
    with pytest.raises(GenlabError, match="size must be a positive integer"):
        PixelExtractor(size=0)
    with pytest.raises(GenlabError, match="uint8"):
        PixelExtractor()(torch.zeros(1, 1, 4, 4))

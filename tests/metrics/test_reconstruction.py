"""Reconstruction error against hand-computed values and a NumPy reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genlab.errors import GenlabError
from genlab.metrics.keys import L2, MSE, PSNR
from genlab.metrics.reconstruction import reconstruction_error


def test_hand_computed_pair_of_images():
    originals = torch.tensor(
        [[[[0, 255], [0, 255]]], [[[100, 100], [100, 100]]]], dtype=torch.uint8
    )
    reconstructions = torch.tensor(
        [[[[0, 0], [0, 0]]], [[[151, 151], [49, 49]]]], dtype=torch.uint8
    )
    # Image 1: squared errors 0, 1, 0, 1 → MSE 0.5, L2 √2, PSNR 10·log10(2).
    # Image 2: every pixel off by 51/255 = 0.2 → MSE 0.04, L2 √(4·0.04) = 0.4, PSNR 10·log10(25).
    result = reconstruction_error(originals, reconstructions)
    assert result[MSE] == pytest.approx((0.5 + 0.04) / 2, rel=1e-12)
    assert result[L2] == pytest.approx((math.sqrt(2) + 0.4) / 2, rel=1e-12)
    assert result[PSNR] == pytest.approx((10 * math.log10(2) + 10 * math.log10(25)) / 2, rel=1e-12)


def test_rgb_images_against_numpy_over_several_chunks():
    rng = np.random.default_rng(0)
    originals = rng.integers(0, 256, size=(2500, 3, 4, 5), dtype=np.uint8)
    noise = rng.integers(-20, 21, size=originals.shape)
    reconstructions = np.clip(originals.astype(int) + noise, 0, 255).astype(np.uint8)
    x, y = originals / 255.0, reconstructions / 255.0
    per_image = ((x - y) ** 2).reshape(len(x), -1).mean(axis=1)
    result = reconstruction_error(torch.from_numpy(originals), torch.from_numpy(reconstructions))
    assert result[MSE] == pytest.approx(((x - y) ** 2).mean(), rel=1e-12)
    assert result[L2] == pytest.approx(
        np.linalg.norm((x - y).reshape(len(x), -1), axis=1).mean(), rel=1e-12
    )
    assert result[PSNR] == pytest.approx(np.mean(10 * np.log10(1 / per_image)), rel=1e-12)


def test_perfect_reconstruction_has_zero_error_and_infinite_psnr():
    images = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    result = reconstruction_error(images, images.clone())
    assert result[MSE] == 0.0
    assert result[L2] == 0.0
    assert result[PSNR] == math.inf


def test_maximal_error_has_zero_psnr():
    result = reconstruction_error(
        torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    )
    assert result == {MSE: 1.0, L2: pytest.approx(math.sqrt(48)), PSNR: 0.0}


def test_shape_mismatch_is_rejected():
    with pytest.raises(
        GenlabError, match=r"originals have shape \(2, 1, 4, 4\) but reconstructions"
    ):
        reconstruction_error(
            torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3, 1, 4, 4, dtype=torch.uint8)
        )


def test_float_images_are_rejected():
    with pytest.raises(GenlabError, match="reconstructions must be a uint8 tensor"):
        reconstruction_error(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(2, 1, 4, 4))


def test_empty_input_is_rejected():
    empty = torch.zeros(0, 1, 4, 4, dtype=torch.uint8)
    with pytest.raises(GenlabError, match="no images"):
        reconstruction_error(empty, empty)

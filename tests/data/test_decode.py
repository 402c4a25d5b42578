"""Decoding one image file (`genlab.data.decode`): every format, the shared pipeline, fuzzing."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from genlab.data.decode import kind_of, prepare, read_image
from genlab.errors import GenlabError, InvalidImageError


def gray(h=8, w=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def rgb(h=8, w=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def encoded(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def chw(array: np.ndarray) -> np.ndarray:
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def test_prepare_applies_mode_then_size_and_lays_out_channels_first():
    pixels = rgb(6, 10)
    assert kind_of(pixels) == "RGB"
    assert kind_of(gray()) == "L"
    kept = prepare(pixels, mode="auto", size=None, resize="resize")
    np.testing.assert_array_equal(kept, chw(pixels))
    grey = prepare(gray(6, 10), mode="RGB", size=None, resize="resize")
    assert grey.shape == (3, 6, 10)
    assert (grey[0] == grey[2]).all()
    assert prepare(pixels, mode="L", size=4, resize="center-crop").shape == (1, 4, 4)
    # center-crop keeps the central 6×6 square: already square, so only the crop happens
    cropped = prepare(pixels, mode="auto", size=6, resize="center-crop")
    np.testing.assert_array_equal(cropped, chw(pixels[:, 2:8]))


def test_read_image_checks_its_options():
    with pytest.raises(GenlabError, match="unknown mode 'CMYK'"):
        read_image(encoded(gray()), mode="CMYK")
    with pytest.raises(GenlabError, match="size must be a positive integer"):
        read_image(encoded(gray()), size=0)


def test_read_image_single_file(tmp_path):
    array = rgb(5, 7)
    path = tmp_path / "x.png"
    Image.fromarray(array).save(path)
    np.testing.assert_array_equal(read_image(path).numpy(), chw(array))
    np.testing.assert_array_equal(read_image(path.read_bytes()).numpy(), chw(array))
    assert read_image(path, mode="L", size=4).shape == (1, 4, 4)


_SEEDS = [
    encoded(rgb(6, 5), "PNG"),
    encoded(gray(6, 5), "PNG"),
    encoded(rgb(8, 8), "JPEG"),
    encoded(rgb(4, 4), "BMP"),
    encoded(rgb(4, 4), "GIF"),
    encoded(rgb(4, 4), "TIFF"),
    encoded(gray(4, 4), "PPM"),
    encoded(rgb(4, 4), "WEBP"),
]


@pytest.mark.parametrize("index", range(len(_SEEDS)))
def test_every_supported_format_decodes(index):
    image = read_image(_SEEDS[index])
    assert image.dtype == torch.uint8
    assert image.shape[0] in (1, 3)
    assert image.shape[1:] in ((6, 5), (8, 8), (4, 4))
    if index in (0, 1):  # lossless PNG: exact pixels
        np.testing.assert_array_equal(image.numpy(), chw([rgb(6, 5), gray(6, 5)][index]))


@st.composite
def damaged_images(draw):
    """Valid encodings with random bytes changed, cut or appended, or plain random bytes."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=200))
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) + draw(st.binary(max_size=20))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_images())
def test_fuzz_decoder_returns_an_image_or_invalid_image_error(data):
    try:
        image = read_image(data, max_pixels=1 << 16)
    except InvalidImageError as exc:
        image, message = None, str(exc)
    if image is None:
        assert message.startswith("image bytes: ")
        return
    assert image.dtype == torch.uint8
    assert image.ndim == 3
    assert image.shape[0] in (1, 3)
    assert image.shape[1] * image.shape[2] <= 1 << 16

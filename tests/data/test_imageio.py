"""The uint8 convention's converters and writers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.data.imageio import (
    check_uint8_images,
    make_grid,
    read_npz,
    save_grid,
    signed_to_uint8,
    uint8_to_signed,
    write_image_folder,
    write_npz,
)
from genlab.errors import GenlabError


def test_signed_round_trip_is_exact_for_every_value():
    values = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    signed = uint8_to_signed(values)
    assert signed.min() == -1.0
    assert signed.max() == 1.0
    assert torch.equal(signed_to_uint8(signed), values)


def test_signed_to_uint8_clamps_outliers():
    out = signed_to_uint8(torch.tensor([[[[-3.0, 3.0]]]]))
    assert out.tolist() == [[[[0, 255]]]]


def test_make_grid_places_images_in_rows():
    images = torch.stack([torch.full((1, 2, 2), v, dtype=torch.uint8) for v in (10, 20, 30)])
    grid = make_grid(images, nrow=2, padding=1)
    assert grid.shape == (1, 2 * 3 + 1, 2 * 3 + 1)
    assert grid[0, 1, 1] == 10
    assert grid[0, 1, 4] == 20
    assert grid[0, 4, 1] == 30
    assert grid[0, 4, 4] == 255  # the empty cell stays white


def test_save_grid_writes_a_png_of_the_right_size(tmp_path):
    images = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    save_grid(tmp_path / "g.png", images, nrow=2, scale=2)
    with Image.open(tmp_path / "g.png") as image:
        assert image.size == ((2 * 10 + 2) * 2, (2 * 10 + 2) * 2)
        assert image.mode == "RGB"


def test_image_folder_and_npz_round_trips(tmp_path):
    images = torch.randint(0, 256, (3, 1, 5, 5), dtype=torch.uint8)
    write_image_folder(tmp_path / "folder", images)
    names = sorted(p.name for p in (tmp_path / "folder").iterdir())
    assert names == ["000000.png", "000001.png", "000002.png"]
    with Image.open(tmp_path / "folder" / "000001.png") as image:
        assert np.array_equal(np.asarray(image), images[1, 0].numpy())
    write_npz(tmp_path / "x.npz", images)
    assert torch.equal(read_npz(tmp_path / "x.npz"), images)


def test_read_npz_accepts_channels_last_and_rejects_floats(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (2, 6, 6, 3), dtype=np.uint8)
    np.savez(tmp_path / "hwc.npz", images=array)
    assert torch.equal(read_npz(tmp_path / "hwc.npz"), torch.from_numpy(array).permute(0, 3, 1, 2))
    np.savez(tmp_path / "float.npz", images=array.astype(np.float32))
    with pytest.raises(GenlabError, match="uint8"):
        read_npz(tmp_path / "float.npz")


@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(2, 1, 4, 4),
        torch.zeros(1, 4, 4, dtype=torch.uint8),
        torch.zeros(2, 4, 4, 4, dtype=torch.uint8),
    ],
)
def test_check_uint8_images_rejects_wrong_dtype_rank_or_channels(bad):
    with pytest.raises(GenlabError, match=r"N×C×H×W|channels"):
        check_uint8_images(bad)

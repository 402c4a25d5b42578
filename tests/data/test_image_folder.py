"""Image folders, zips and tars: modes, sizes, labels, every kind of bad file, lazy vs eager."""

from __future__ import annotations

import io
import os
import pickle
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.data.folder import ImageFolder, SkippedImagesWarning, load_image_folder
from genlab.errors import DataUnavailableError, GenlabError, InvalidImageError

RNG = np.random.default_rng(0)


def gray(h=8, w=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def rgb(h=8, w=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(path: Path, array: np.ndarray, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)
    return path


def encoded(array: np.ndarray, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def chw(array: np.ndarray) -> np.ndarray:
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width×height with almost no pixel data (a bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0"))


@pytest.fixture
def gray_folder(tmp_path):
    arrays = [gray(seed=i) for i in range(5)]
    for i, array in enumerate(arrays):
        save(tmp_path / "imgs" / f"{i:02d}.png", array)
    return tmp_path / "imgs", arrays


# ------------------------------------------------------------------------------------------
# modes


def test_grayscale_folder_auto_mode_is_exact(gray_folder):
    folder, arrays = gray_folder
    data = load_image_folder(folder)
    assert data.images.shape == (5, 1, 8, 8)
    assert data.images.dtype == torch.uint8
    np.testing.assert_array_equal(data.images.numpy(), np.stack([chw(a) for a in arrays]))
    assert data.labels is None
    assert data.classes == ()


def test_colour_folder_auto_mode_is_exact(tmp_path):
    arrays = [rgb(seed=i) for i in range(3)]
    for i, array in enumerate(arrays):
        save(tmp_path / f"{i}.png", array)
    data = load_image_folder(tmp_path)
    np.testing.assert_array_equal(data.images.numpy(), np.stack([chw(a) for a in arrays]))


def test_mixed_modes_auto_is_an_error_with_counts(tmp_path):
    for i in range(2):
        save(tmp_path / f"g{i}.png", gray(seed=i))
    for i in range(3):
        save(tmp_path / f"c{i}.png", rgb(seed=i))
    for loader in (load_image_folder, ImageFolder):
        with pytest.raises(GenlabError, match=r"mixes 2 grayscale and 3 colour.*mode='L'"):
            loader(tmp_path)


def test_mixed_modes_converted_when_mode_given(tmp_path):
    g, c = gray(seed=1), rgb(seed=2)
    save(tmp_path / "a.png", g)
    save(tmp_path / "b.png", c)
    as_rgb = load_image_folder(tmp_path, mode="RGB").images.numpy()
    np.testing.assert_array_equal(as_rgb[0], np.stack([g, g, g]))
    np.testing.assert_array_equal(as_rgb[1], chw(c))
    as_l = load_image_folder(tmp_path, mode="L").images.numpy()
    np.testing.assert_array_equal(as_l[0, 0], g)
    # ITU-R 601-2 luma, computed independently in floating point; Pillow rounds in fixed point.
    luma = c.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(as_l[1, 0].astype(np.float64) - luma).max() <= 1.0


def test_rgba_and_la_composited_on_black(tmp_path):
    colour = rgb(seed=3)
    alpha = np.random.default_rng(4).integers(0, 256, (8, 8), dtype=np.uint8)
    save(tmp_path / "rgba" / "x.png", np.dstack([colour, alpha]))
    save(tmp_path / "la" / "x.png", np.dstack([colour[..., 0], alpha]))  # saved as LA
    expected = np.round(colour * (alpha[..., None] / 255.0)).astype(np.uint8)
    got = load_image_folder(tmp_path / "rgba").images[0].numpy()
    np.testing.assert_array_equal(got, chw(expected))
    got_la = load_image_folder(tmp_path / "la").images[0, 0].numpy()
    np.testing.assert_array_equal(got_la, expected[..., 0])


def test_palette_expanded_and_transparent_index_black(tmp_path):
    palette_colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]], np.uint8)
    indices = np.random.default_rng(5).integers(0, 4, (8, 8), dtype=np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette(palette_colours.flatten().tolist())
    image.save(tmp_path / "p.png")
    data = load_image_folder(tmp_path)
    np.testing.assert_array_equal(data.images[0].numpy(), chw(palette_colours[indices]))
    image.save(tmp_path / "p.png", transparency=1)  # index 1 (green) fully transparent
    expected = palette_colours[indices].copy()
    expected[indices == 1] = 0
    np.testing.assert_array_equal(load_image_folder(tmp_path).images[0].numpy(), chw(expected))


def test_sixteen_bit_scaled_by_rounding_v_over_257(tmp_path):
    values = np.array([[0, 128, 129, 257], [32896, 32767, 65407, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    got = load_image_folder(tmp_path).images[0, 0].numpy()
    np.testing.assert_array_equal(got, np.round(values / 257.0).astype(np.uint8))


def test_bilevel_image_is_0_or_255(tmp_path):
    bits = np.random.default_rng(6).integers(0, 2, (8, 8)).astype(bool)
    Image.fromarray(bits).save(tmp_path / "b.png")
    got = load_image_folder(tmp_path).images[0, 0].numpy()
    np.testing.assert_array_equal(got, bits.astype(np.uint8) * 255)


def test_float_image_is_a_bad_file(tmp_path):
    Image.fromarray(np.ones((4, 4), np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(InvalidImageError, match=r"f\.tif: unsupported pixel mode 'F'"):
        load_image_folder(tmp_path)


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.fromarray(rgb(seed=s)).convert("P") for s in range(3)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    expected = np.asarray(frames[0].convert("RGB"))
    np.testing.assert_array_equal(load_image_folder(tmp_path).images[0].numpy(), chw(expected))


# ------------------------------------------------------------------------------------------
# sizes


def test_different_sizes_need_size_option(tmp_path):
    save(tmp_path / "a.png", gray(8, 8))
    save(tmp_path / "b.png", gray(6, 10))
    for loader in (load_image_folder, ImageFolder):
        with pytest.raises(GenlabError) as info:
            loader(tmp_path)
        message = str(info.value)
        assert "a.png is 8×8" in message
        assert "b.png is 10×6" in message
        assert "size=N" in message
    data = load_image_folder(tmp_path, size=5)
    assert data.images.shape == (2, 1, 5, 5)


def test_resize_keeps_a_uniform_image_uniform(tmp_path):
    save(tmp_path / "a.png", np.full((30, 50, 3), (12, 200, 77), np.uint8))
    for resize in ("resize", "center-crop"):
        data = load_image_folder(tmp_path, size=16, resize=resize)
        assert data.images.shape == (1, 3, 16, 16)
        np.testing.assert_array_equal(data.images[0, :, 5, 5].numpy(), [12, 200, 77])


def test_center_crop_takes_the_central_square(tmp_path):
    image = np.zeros((20, 40), np.uint8)
    image[:, 10:30] = 200  # the central 20×20 square
    save(tmp_path / "wide.png", image)
    cropped = load_image_folder(tmp_path, size=20, resize="center-crop").images[0, 0].numpy()
    np.testing.assert_array_equal(cropped, np.full((20, 20), 200, np.uint8))
    squeezed = load_image_folder(tmp_path, size=20).images[0, 0].numpy()
    assert squeezed[:, 0].max() < 50  # "resize" keeps the dark side strips


# ------------------------------------------------------------------------------------------
# labels, order, limit


def test_class_subfolders_give_sorted_labels(tmp_path):
    for cls, count in (("dog", 2), ("cat", 3), ("emu", 1)):
        for i in range(count):
            save(tmp_path / cls / f"{i}.png", gray(seed=i))
    data = load_image_folder(tmp_path)
    assert data.classes == ("cat", "dog", "emu")
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 2]
    assert data.labels.dtype == torch.int64
    save(tmp_path / "stray.png", gray())  # an image at the root: no labels at all
    assert load_image_folder(tmp_path).labels is None


def test_nested_subfolders_belong_to_first_level_class(tmp_path):
    save(tmp_path / "a" / "deep" / "er" / "x.png", gray(seed=1))
    save(tmp_path / "b" / "y.png", gray(seed=2))
    data = load_image_folder(tmp_path)
    assert data.classes == ("a", "b")
    assert data.labels.tolist() == [0, 1]


def test_limit_takes_first_in_sorted_order_and_keeps_classes(tmp_path):
    arrays = {}
    for cls in ("b", "a"):
        for i in (3, 1, 2):
            arrays[f"{cls}/{i}"] = save(tmp_path / cls / f"{i}.png", gray(seed=i + ord(cls)))
    data = load_image_folder(tmp_path, limit=2)
    expected = [np.asarray(Image.open(arrays[k])) for k in ("a/1", "a/2")]
    np.testing.assert_array_equal(data.images[:, 0].numpy(), np.stack(expected))
    assert data.classes == ("a", "b")
    assert len(ImageFolder(tmp_path, limit=4)) == 4


def test_subdir_selects_a_root(tmp_path):
    save(tmp_path / "train" / "x" / "0.png", gray(seed=1))
    save(tmp_path / "train" / "y" / "0.png", gray(seed=2))
    save(tmp_path / "test" / "x" / "0.png", gray(seed=3))
    data = load_image_folder(tmp_path, subdir="train")
    assert data.classes == ("x", "y")
    assert len(data) == 2
    with pytest.raises(GenlabError, match="no images found"):
        load_image_folder(tmp_path, subdir="val")


# ------------------------------------------------------------------------------------------
# bad files


@pytest.fixture
def messy_folder(tmp_path):
    folder = tmp_path / "messy"
    good = [save(folder / f"good{i}.png", rgb(seed=i)) for i in range(3)]
    (folder / "empty.png").write_bytes(b"")
    png = encoded(rgb(64, 64, seed=9))
    (folder / "truncated.png").write_bytes(png[: len(png) // 2])
    jpg = encoded(rgb(64, 64, seed=9), "JPEG", quality=95)
    (folder / "truncated.jpg").write_bytes(jpg[: len(jpg) * 2 // 3])
    (folder / "garbage.jpg").write_bytes(bytes(RNG.integers(0, 256, 300, dtype=np.uint8)))
    (folder / "text.png").write_text("this is not an image")
    (folder / "bomb.png").write_bytes(png_header_only(10000, 10000))
    (folder / "huge_bomb.png").write_bytes(png_header_only(30000, 30000))
    (folder / "notes.txt").write_text("ignored")
    (folder / ".DS_Store").write_bytes(b"\0\1")
    return folder, good


def test_skip_leaves_out_each_bad_file_and_warns_once(messy_folder):
    folder, good = messy_folder
    with pytest.warns(SkippedImagesWarning) as record:
        data = load_image_folder(folder, on_error="skip")
    assert len(record) == 1
    message = str(record[0].message)
    assert "skipped 7 unreadable image file(s)" in message
    assert str(folder / "bomb.png") in message  # the first few paths, in sorted order
    expected = np.stack([chw(np.asarray(Image.open(p))) for p in good])
    np.testing.assert_array_equal(data.images.numpy(), expected)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.png", "empty file"),
        ("truncated.png", "cannot decode"),
        ("truncated.jpg", "truncated"),
        ("garbage.jpg", "not a PNG/JPEG"),
        ("text.png", "not a PNG/JPEG"),
        ("bomb.png", "100000000 pixels is above the limit of 67108864"),
        ("huge_bomb.png", "decompression bomb"),  # past Pillow's own hard limit
    ],
)
def test_stop_names_each_bad_file(tmp_path, messy_folder, name, reason):
    folder, _ = messy_folder
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / name).write_bytes((folder / name).read_bytes())
    save(lone / "ok.png", rgb())
    with pytest.raises(InvalidImageError) as info:
        load_image_folder(lone)
    message = str(info.value)
    assert str(lone / name) in message
    assert reason in message
    assert "on_error='skip'" in message
    assert "Traceback" not in message


def test_max_pixels_option(tmp_path):
    save(tmp_path / "a.png", gray(16, 16))
    with pytest.raises(InvalidImageError, match="256 pixels is above the limit of 100"):
        load_image_folder(tmp_path, max_pixels=100)
    assert len(load_image_folder(tmp_path, max_pixels=256)) == 1


def test_lazy_folder_finds_header_errors_at_build_and_truncation_at_decode(messy_folder):
    folder, _ = messy_folder
    with pytest.warns(SkippedImagesWarning, match="skipped 5 unreadable"):
        lazy = ImageFolder(
            folder, on_error="skip", size=8
        )  # header-level: 2 bombs, empty, garbage, text
    assert len(lazy) == 5
    assert lazy.ignored == (".DS_Store", "notes.txt")
    names = [Path(name).name for name in lazy._names]
    with pytest.raises(InvalidImageError, match=r"truncated\.jpg"):
        lazy[names.index("truncated.jpg")]
    with pytest.warns(SkippedImagesWarning, match="skipped 2 unreadable"):
        materialized = lazy.materialize()
    assert len(materialized) == 3
    with pytest.warns(SkippedImagesWarning, match="skipped 7 unreadable"):
        verified = ImageFolder(folder, on_error="skip", size=8, verify=True)
    assert len(verified) == 3
    assert all(lazy[i][0].shape == (3, 8, 8) for i in range(3))


def test_symlink_loops_never_hang(tmp_path):
    root = tmp_path / "root"
    save(root / "a" / "x.png", gray(seed=1))
    os.symlink(root, root / "a" / "up")  # a folder loop back to the root
    os.symlink(root / "a", root / "a" / "self")  # a folder loop onto itself
    os.symlink(root / "loop1.png", root / "loop2.png")
    os.symlink(root / "loop2.png", root / "loop1.png")  # a file link loop
    os.symlink(root / "missing.png", root / "dangling.png")
    with pytest.warns(SkippedImagesWarning, match="skipped 3 unreadable") as record:
        data = load_image_folder(root, on_error="skip")
    assert len(data) == 1
    assert "broken or looping symbolic link" in str(record[0].message)
    with pytest.raises(InvalidImageError, match=r"dangling\.png: broken or looping"):
        load_image_folder(root)


def test_symlinked_folder_is_followed_once(tmp_path):
    save(tmp_path / "real" / "x.png", gray(seed=1))
    (tmp_path / "view").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "view" / "linked")
    assert len(load_image_folder(tmp_path / "view")) == 1


def test_fifo_named_like_an_image_is_not_opened(tmp_path):
    save(tmp_path / "a.png", gray())
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(InvalidImageError, match=r"pipe\.png: not a regular file"):
        load_image_folder(tmp_path)
    with pytest.warns(SkippedImagesWarning):
        assert len(load_image_folder(tmp_path, on_error="skip")) == 1


def test_all_files_bad_with_skip(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(GenlabError, match=r"no readable images.*all 1 image files.*a\.png: empty"):
        load_image_folder(tmp_path, on_error="skip")


def test_empty_folder_and_no_images(tmp_path):
    with pytest.raises(GenlabError, match=f"no images found in {tmp_path}"):
        load_image_folder(tmp_path)
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(GenlabError, match=r"1 other files ignored, e\.g\. readme\.txt"):
        ImageFolder(tmp_path)


def test_missing_path_and_unknown_file(tmp_path):
    with pytest.raises(DataUnavailableError, match="no such file or folder"):
        load_image_folder(tmp_path / "nope")
    (tmp_path / "x.bin").write_bytes(b"hello")
    with pytest.raises(GenlabError, match=r"not a folder, \.zip or \.tar archive"):
        load_image_folder(tmp_path / "x.bin")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "CMYK"}, "unknown mode 'CMYK'"),
        ({"size": 0}, "size must be a positive integer"),
        ({"resize": "pad"}, "unknown resize 'pad'"),
        ({"on_error": "ignore"}, "unknown on_error 'ignore'"),
        ({"limit": -1}, "limit must be a positive integer"),
    ],
)
def test_bad_options(gray_folder, options, message):
    folder, _ = gray_folder
    with pytest.raises(GenlabError, match=message):
        load_image_folder(folder, **options)


# ------------------------------------------------------------------------------------------
# archives and the lazy form


@pytest.fixture
def class_folder(tmp_path):
    folder = tmp_path / "classes"
    for cls in ("cat", "dog"):
        for i in range(3):
            save(folder / cls / f"{i}.png", rgb(seed=i + len(cls) * 10 + ord(cls[0])))
    (folder / "cat" / "notes.txt").write_text("ignored")
    return folder


def make_zip(folder: Path, path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted(folder.rglob("*")):
            archive.write(file, "top/" + file.relative_to(folder).as_posix())
        archive.writestr("__MACOSX/top/cat/._0.png", b"resource fork junk")
    return path


def make_tar(folder: Path, path: Path, compression: str = "") -> Path:
    with tarfile.open(path, f"w:{compression}") as archive:
        archive.add(folder, arcname="top")
    return path


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz"])
def test_archives_match_the_folder(class_folder, tmp_path, kind):
    reference = load_image_folder(class_folder)
    if kind == "zip":
        archive = make_zip(class_folder, tmp_path / "a.zip")
    else:
        archive = make_tar(class_folder, tmp_path / f"a.{kind}", "gz" if kind == "tar.gz" else "")
    data = load_image_folder(archive, subdir="top")
    np.testing.assert_array_equal(data.images.numpy(), reference.images.numpy())
    assert data.labels.tolist() == reference.labels.tolist()
    assert data.classes == ("cat", "dog")
    lazy = ImageFolder(archive, subdir="top")
    assert torch.equal(lazy.materialize().images, reference.images)
    assert lazy.ignored == ("top/cat/notes.txt",)
    without_subdir = load_image_folder(archive)
    assert without_subdir.classes == ("top",)


@pytest.mark.parametrize("tar_format", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, "long-names"])
def test_tar_header_variants_read_alike(class_folder, tmp_path, tar_format):
    """The fast ustar reader and the tarfile fallback (GNU, pax long names) give the same data."""
    reference = load_image_folder(class_folder)
    archive_path = tmp_path / "a.tar"
    prefix = "p" * 120 if tar_format == "long-names" else "top"  # > 100 bytes needs pax headers
    fmt = tarfile.PAX_FORMAT if tar_format == "long-names" else tar_format
    with tarfile.open(archive_path, "w", format=fmt) as archive:
        archive.add(class_folder, arcname=prefix)
    data = load_image_folder(archive_path, subdir=prefix)
    assert torch.equal(data.images, reference.images)
    assert data.labels.tolist() == reference.labels.tolist()


def test_truncated_plain_tar_member_is_a_bad_file(class_folder, tmp_path):
    archive = make_tar(class_folder, tmp_path / "a.tar")
    with tarfile.open(archive) as handle:
        last = max(handle.getmembers(), key=lambda member: member.offset_data)
    archive.write_bytes(archive.read_bytes()[: last.offset_data + last.size // 2])
    with pytest.warns(SkippedImagesWarning, match="ends .* bytes into this member"):
        data = load_image_folder(archive, subdir="top", on_error="skip")
    assert len(data) == 5


def test_bad_member_in_archive_names_archive_and_member(class_folder, tmp_path):
    archive = make_zip(class_folder, tmp_path / "a.zip")
    with zipfile.ZipFile(archive, "a") as handle:
        handle.writestr("top/dog/broken.png", b"\x89PNG\r\n\x1a\nnonsense")
    with pytest.raises(InvalidImageError, match=r"a\.zip:top/dog/broken\.png"):
        load_image_folder(archive, subdir="top")


def test_damaged_archive_is_a_clear_error(class_folder, tmp_path):
    archive = make_tar(class_folder, tmp_path / "a.tar.gz", "gz")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(GenlabError, match=r"a\.tar\.gz"):
        load_image_folder(archive)


def test_lazy_and_materialized_agree(class_folder):
    lazy = ImageFolder(class_folder, size=6)
    eager = load_image_folder(class_folder, size=6)
    assert len(lazy) == len(eager) == 6
    assert lazy.image_shape == (3, 6, 6)
    assert torch.equal(lazy.labels, eager.labels)
    for index in range(len(lazy)):
        image, label = lazy[index]
        assert torch.equal(image, eager.images[index])
        assert label == int(eager.labels[index])
    assert torch.equal(lazy[-1][0], eager.images[-1])
    with pytest.raises(IndexError):
        lazy[6]
    materialized = lazy.materialize(limit=4)
    assert torch.equal(materialized.images, eager.images[:4])
    batch = next(iter(torch.utils.data.DataLoader(lazy, batch_size=6)))
    assert torch.equal(batch[0], eager.images)


def test_lazy_archive_survives_pickling(class_folder, tmp_path):
    """DataLoader workers get a pickled copy, which must open its own archive handle."""
    lazy = ImageFolder(make_zip(class_folder, tmp_path / "a.zip"), subdir="top")
    first = lazy[0][0]
    copy = pickle.loads(pickle.dumps(lazy))
    assert torch.equal(copy[0][0], first)

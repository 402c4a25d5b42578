"""load_dataset: registered names, name:split, folders, archives, .npz files, and the errors."""

from __future__ import annotations

import tarfile
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.data import cifar10
from genlab.data.digits import load_digits_dataset
from genlab.data.imageio import write_npz
from genlab.data.registry import describe_datasets, list_datasets
from genlab.data.sources import load_dataset
from genlab.errors import ChecksumError, GenlabError


def test_listing_and_descriptions():
    assert list_datasets() == ["cifar10", "cifar10-jpeg", "digits", "mnist"]
    descriptions = describe_datasets()
    assert list(descriptions) == list_datasets()
    assert all(isinstance(text, str) and "\n" not in text for text in descriptions.values())
    assert "not comparable" in descriptions["cifar10-jpeg"]


def test_digits_by_name_with_limit():
    full = load_digits_dataset()
    data = load_dataset("digits", limit=10)
    assert torch.equal(data.images, full.images[:10])
    assert torch.equal(data.labels, full.labels[:10])
    assert len(load_dataset("digits")) == 1500
    with pytest.raises(GenlabError, match=r"no split 'val'; use one of \['train', 'test', 'all'\]"):
        load_dataset("digits:val")


def test_digits_splits_are_the_first_1500_and_the_last_297():
    full = load_digits_dataset()
    train, test = load_dataset("digits:train"), load_dataset("digits:test")
    assert (len(train), len(test)) == (1500, 297)
    assert torch.equal(torch.cat([train.images, test.images]), full.images)
    assert torch.equal(torch.cat([train.labels, test.labels]), full.labels)
    assert set(test.labels.tolist()) == set(range(10))
    assert torch.equal(load_dataset("digits:all").images, full.images)  # the 1797 of old runs


@pytest.mark.needs_data
def test_mnist_name_split_forms(shared_data_dir):
    by_spec = load_dataset("mnist:test", data_dir=shared_data_dir, limit=5)
    by_argument = load_dataset("mnist", split="test", data_dir=shared_data_dir, limit=5)
    assert torch.equal(by_spec.images, by_argument.images)
    assert by_spec.labels.tolist() == [7, 2, 1, 0, 4]  # MNIST's first test labels
    assert by_spec.images.shape == (5, 1, 28, 28)
    assert by_spec.name == "mnist:test"
    assert len(load_dataset("mnist", data_dir=shared_data_dir)) == 60000
    with pytest.raises(GenlabError, match="mnist has no split 'val'"):
        load_dataset("mnist:val", data_dir=shared_data_dir)


@pytest.mark.needs_data
def test_cifar10_jpeg_by_name(shared_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    data = load_dataset("cifar10-jpeg:test", data_dir=shared_data_dir, limit=3)
    assert data.images.shape == (3, 3, 32, 32)
    assert data.classes == cifar10.CIFAR10_CLASSES


def test_cifar10_by_name_goes_through_the_checksum(tmp_path):
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / cifar10.CIFAR10_ARCHIVE).write_bytes(b"not the archive")
    with pytest.raises(ChecksumError, match=cifar10.CIFAR10_SHA256):
        load_dataset("cifar10", data_dir=tmp_path)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{i}.png")
    return root


def test_folder_zip_and_tar_paths(folder, tmp_path):
    data = load_dataset(str(folder), size=8, resize="center-crop")
    assert data.images.shape == (6, 3, 8, 8)
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    archive = tmp_path / "imgs.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for file in sorted(folder.rglob("*.png")):
            handle.write(file, file.relative_to(folder).as_posix())
    from_zip = load_dataset(archive, size=8, resize="center-crop", limit=4)
    assert torch.equal(from_zip.images, data.images[:4])
    with tarfile.open(tmp_path / "imgs.tar", "w") as handle:
        handle.add(folder, arcname=".")
    assert torch.equal(
        load_dataset(tmp_path / "imgs.tar", size=8, resize="center-crop").images, data.images
    )


def test_npz_path(tmp_path):
    images = torch.randint(0, 256, (7, 1, 5, 5), dtype=torch.uint8)
    write_npz(tmp_path / "x.npz", images)
    data = load_dataset(str(tmp_path / "x.npz"), limit=4)
    assert torch.equal(data.images, images[:4])
    assert data.labels is None
    with pytest.raises(GenlabError, match=r"apply to image folders, not \.npz"):
        load_dataset(tmp_path / "x.npz", size=4)


def test_unknown_name_lists_known_and_mentions_paths(tmp_path):
    with pytest.raises(GenlabError) as info:
        load_dataset("imagenet")
    message = str(info.value)
    assert "cifar10, cifar10-jpeg, digits, mnist" in message
    assert "a path to a folder" in message


def test_option_errors(folder):
    with pytest.raises(GenlabError, match=r"unknown option\(s\) \['sise'\]"):
        load_dataset(folder, sise=8)
    with pytest.raises(GenlabError, match="apply to image folders, not to the registered"):
        load_dataset("digits", size=8)
    with pytest.raises(GenlabError, match="limit must be a positive integer"):
        load_dataset("digits", limit=0)
    with pytest.raises(GenlabError, match="applies to registered data sets only"):
        load_dataset(folder, split="test")

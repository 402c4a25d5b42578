"""Source specs: what each resolves to, the images it yields, its identity, and its errors."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest
import torch

from genlab.data.download import sha256_file
from genlab.data.imageio import write_image_folder, write_npz
from genlab.data.sources import load_dataset
from genlab.errors import GenlabError
from genlab.metrics.sources import (
    DatasetSource,
    FolderSource,
    NpzSource,
    RunSource,
    StatisticsSource,
    resolve_source,
)
from genlab.metrics.statistics import statistics_from_features


def _images(n: int, seed: int = 0, size: int = 6) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, size, size), generator=generator).to(torch.uint8)


def _collect(source, batch_size: int = 4) -> torch.Tensor:
    return torch.cat(list(source.batches(batch_size)))


def test_registered_data_set_with_split_and_n():
    source = resolve_source("digits", n=50)
    assert isinstance(source, DatasetSource)
    assert (source.name, source.split, source.count) == ("digits", "train", 50)
    torch.testing.assert_close(_collect(source, 16), load_dataset("digits").images[:50])
    assert source.identity() == {"kind": "dataset", "name": "digits", "split": "train", "n": 50}
    assert source.describe() == "digits:train (50 images)"


def test_mnist_test_split(mnist_dir):
    source = resolve_source("mnist:test", n=30, data_dir=mnist_dir.parent)
    assert (source.name, source.split, source.count) == ("mnist", "test", 30)
    assert _collect(source, 7).shape == (30, 1, 28, 28)


def test_npz_source_yields_the_stored_images_in_order(tmp_path):
    images = _images(10)
    write_npz(tmp_path / "x.npz", images)
    source = resolve_source(str(tmp_path / "x.npz"), n=7)
    assert isinstance(source, NpzSource)
    torch.testing.assert_close(_collect(source, 3), images[:7])
    assert source.identity()["sha256"] == sha256_file(tmp_path / "x.npz")


@pytest.mark.parametrize("archive", [False, True])
def test_folder_and_zip_sources_decode_lazily_in_order(tmp_path, archive):
    images = _images(9)
    write_image_folder(tmp_path / "imgs", images)
    spec = tmp_path / "imgs"
    if archive:
        spec = tmp_path / "imgs.zip"
        with zipfile.ZipFile(spec, "w") as zipped:
            for file in sorted((tmp_path / "imgs").iterdir()):
                zipped.write(file, file.name)
    source = resolve_source(str(spec))
    assert isinstance(source, FolderSource)
    assert source.count == 9
    torch.testing.assert_close(_collect(source, 4), images)


def test_folder_identity_changes_when_a_file_changes(tmp_path):
    write_image_folder(tmp_path / "imgs", _images(5))
    before = resolve_source(str(tmp_path / "imgs")).identity()
    assert resolve_source(str(tmp_path / "imgs")).identity() == before
    first = tmp_path / "imgs" / "000000.png"
    stat = first.stat()
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = resolve_source(str(tmp_path / "imgs")).identity()
    assert touched["files_sha256"] != before["files_sha256"]
    assert resolve_source(str(tmp_path / "imgs"), n=3).identity()["n"] == 3


def test_npz_identity_follows_the_content(tmp_path):
    write_npz(tmp_path / "x.npz", _images(4, seed=0))
    first = resolve_source(str(tmp_path / "x.npz")).identity()
    write_npz(tmp_path / "x.npz", _images(4, seed=1))
    assert resolve_source(str(tmp_path / "x.npz")).identity() != first


def test_statistics_file_is_recognised_and_yields_no_images(tmp_path):
    stats = statistics_from_features(np.random.default_rng(0).normal(size=(20, 3)))
    stats.save(tmp_path / "stats.npz")
    source = resolve_source(str(tmp_path / "stats.npz"), n=5)
    assert isinstance(source, StatisticsSource)
    assert source.count == 20  # the file fixes its n; --n does not apply
    np.testing.assert_array_equal(source.statistics.mu, stats.mu)
    with pytest.raises(GenlabError, match="holds feature statistics, not images"):
        next(source.batches(4))


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    from genlab.training.config import resolve_config
    from genlab.training.trainer import Trainer

    out = tmp_path_factory.mktemp("runs") / "gan"
    config = resolve_config(
        "wgan-gp",
        data="digits",
        steps=2,
        batch_size=16,
        hidden=(16,),
        latent_dim=4,
        progress=False,
        tensorboard=False,
        out=str(out),
    )
    Trainer.start(config).train()
    return out


def test_run_folder_generates_n_images_deterministically(gan_run):
    from genlab.runs import generate

    source = resolve_source(str(gan_run), n=37, seed=5)
    assert isinstance(source, RunSource)
    first = _collect(source, 10)
    assert first.shape == (37, 1, 8, 8)
    assert first.dtype == torch.uint8
    torch.testing.assert_close(_collect(source, 10), first)
    # The same noise stream as `genlab sample`: generate(run, n, seed) at the same batch size.
    torch.testing.assert_close(generate(gan_run, 37, seed=5, batch_size=10), first)
    other = _collect(resolve_source(str(gan_run), n=37, seed=6), 10)
    assert not torch.equal(other, first)


def test_checkpoint_file_and_run_identity(gan_run):
    from genlab.runs.checkpoint import latest_checkpoint

    checkpoint = latest_checkpoint(gan_run)
    from_file = resolve_source(str(checkpoint), n=8, seed=1)
    from_folder = resolve_source(str(gan_run), n=8, seed=1)
    assert isinstance(from_file, RunSource)
    assert from_file.identity() == from_folder.identity()
    assert from_file.identity()["checkpoint_sha256"] == sha256_file(checkpoint)
    assert resolve_source(str(gan_run), n=8, seed=2).identity() != from_folder.identity()
    assert resolve_source(str(gan_run), n=9, seed=1).identity() != from_folder.identity()
    assert not from_file.is_vae


def test_run_without_n_asks_for_it(gan_run):
    source = resolve_source(str(gan_run))
    with pytest.raises(GenlabError, match="--n"):
        next(source.batches(4))


def test_unknown_spec_names_the_accepted_forms():
    with pytest.raises(GenlabError, match=r"unknown source 'nosuch:thing'.*digits, mnist"):
        resolve_source("nosuch:thing")


def test_unreadable_kind_of_file(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(GenlabError, match=r"not a folder, \.zip or \.tar archive"):
        resolve_source(str(tmp_path / "notes.txt"))


def test_asking_for_more_images_than_there_are(tmp_path):
    write_npz(tmp_path / "x.npz", _images(4))
    with pytest.raises(GenlabError, match="has 4 images but 10 were asked for"):
        next(resolve_source(str(tmp_path / "x.npz"), n=10).batches(4))
    with pytest.raises(GenlabError, match="has 1500 images but 5000"):
        next(resolve_source("digits", n=5000).batches(4))


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_n_is_refused(bad):
    with pytest.raises(GenlabError, match="n must be a positive integer"):
        resolve_source("digits", n=bad)


def test_bad_split_is_refused():
    with pytest.raises(GenlabError, match="no split 'validation'"):
        next(resolve_source("digits:validation").batches(4))

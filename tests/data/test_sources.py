"""The spec grammar (every form to its kind, plugged kinds, errors) and the data layer's sources."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import pytest
import torch

from genlab.data.imageio import write_image_folder, write_npz
from genlab.data.sources import (
    ARCHIVE,
    DATASET,
    FOLDER,
    NPZ,
    DatasetSource,
    FolderSource,
    NpzSource,
    PathKind,
    SourceSpec,
    load_dataset,
    open_source,
    parse_spec,
)
from genlab.errors import GenlabError


def _images(n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, 6, 6), generator=generator).to(torch.uint8)


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    """One path of each data form: folder, zip, tar, tar.gz, .npz, and a folder named like .npz."""
    write_image_folder(tmp_path / "imgs", _images(5))
    files = sorted((tmp_path / "imgs").iterdir())
    with zipfile.ZipFile(tmp_path / "imgs.zip", "w") as zipped:
        for file in files:
            zipped.write(file, file.name)
    for name, mode in (("imgs.tar", "w"), ("imgs.tar.gz", "w:gz")):
        with tarfile.open(tmp_path / name, mode) as archive:
            for file in files:
                archive.add(file, file.name)
    write_npz(tmp_path / "x.npz", _images(4))
    write_image_folder(tmp_path / "folder.npz", _images(3))
    return {path.name: path for path in tmp_path.iterdir()}


@pytest.mark.parametrize(
    ("spec", "name", "split"),
    [
        ("digits", "digits", None),
        ("mnist", "mnist", None),
        ("mnist:test", "mnist", "test"),
        ("cifar10-jpeg:train", "cifar10-jpeg", "train"),
        ("mnist:", "mnist", ""),  # an empty split is the data set's to refuse, when loaded
    ],
)
def test_data_set_specs(spec, name, split):
    assert parse_spec(spec) == SourceSpec(spec, DATASET, name=name, split=split)


@pytest.mark.parametrize(
    ("file", "kind"),
    [
        ("imgs", FOLDER),
        ("imgs.zip", ARCHIVE),
        ("imgs.tar", ARCHIVE),
        ("imgs.tar.gz", ARCHIVE),
        ("x.npz", NPZ),
        ("folder.npz", FOLDER),
    ],
)
def test_path_specs(paths, file, kind):
    parsed = parse_spec(paths[file])
    assert (parsed.kind, parsed.path, parsed.name) == (kind, paths[file], None)
    assert parsed.text == str(paths[file])


def test_a_registered_name_wins_over_a_file_of_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_image_folder(tmp_path / "digits", _images(2))
    assert parse_spec("digits").kind == DATASET


def test_parsing_reads_no_image(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "broken.png").write_bytes(b"not a png")
    assert parse_spec(tmp_path / "imgs").kind == FOLDER


def test_plugged_kinds_are_checked_first_and_in_order(paths):
    first = PathKind("first", lambda path: path.suffix == ".npz", "a first thing")
    second = PathKind("second", lambda path: True, "a second thing")
    assert parse_spec(paths["x.npz"], kinds=(first, second)).kind == "first"
    assert parse_spec(paths["imgs"], kinds=(first, second)).kind == "second"
    assert parse_spec("digits", kinds=(second,)).kind == DATASET  # names before any path kind
    assert parse_spec(paths["x.npz"]).kind == NPZ  # without them, the data kinds


def test_evaluation_kinds_plug_into_the_same_grammar(tmp_path, paths):
    import numpy as np

    from genlab.metrics.sources import RUN, STATISTICS
    from genlab.metrics.statistics import statistics_from_features

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "model.json").write_text("{}")
    checkpoint = tmp_path / "step.pt"
    torch.save({"x": 1}, checkpoint)
    statistics_from_features(np.zeros((4, 2))).save(tmp_path / "stats.npz")
    kinds = (RUN, STATISTICS)
    assert parse_spec(run, kinds=kinds).kind == "run"
    assert parse_spec(checkpoint, kinds=kinds).kind == "run"
    assert parse_spec(tmp_path / "stats.npz", kinds=kinds).kind == "statistics"
    assert parse_spec(paths["x.npz"], kinds=kinds).kind == NPZ
    assert parse_spec(paths["imgs"], kinds=kinds).kind == FOLDER
    # The data layer alone reads them as the data they are.
    assert parse_spec(run).kind == FOLDER
    assert parse_spec(checkpoint).kind == ARCHIVE  # torch.save writes a zip


@pytest.mark.parametrize(
    ("spec", "suggestion"),
    [
        ("minst", "did you mean 'mnist'?"),
        ("minst:test", "did you mean 'mnist:test'?"),
        ("digts", "did you mean 'digits'?"),
        ("cifar-10", "did you mean 'cifar10'?"),
        ("8gausians", "did you mean '8gaussians'?"),
    ],
)
def test_a_misspelt_name_suggests_the_closest(spec, suggestion):
    with pytest.raises(GenlabError, match=f"unknown source '{spec}'") as info:
        parse_spec(spec)
    assert suggestion in str(info.value)


def test_an_unknown_spec_lists_every_accepted_form():
    kind = PathKind("run", lambda path: False, "a run folder or checkpoint .pt")
    with pytest.raises(GenlabError) as info:
        parse_spec("qqqqqq", kinds=(kind,))
    message = str(info.value)
    assert "did you mean" not in message
    assert "cifar10, cifar10-jpeg, digits, mnist" in message
    assert "a path to a folder of images, a .zip or .tar of images, an .npz" in message
    assert message.endswith("a run folder or checkpoint .pt")


def test_an_unknown_kind_of_file(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(GenlabError, match=r"notes\.txt: not a folder, \.zip or \.tar archive"):
        parse_spec(tmp_path / "notes.txt")


@pytest.mark.parametrize(
    ("file", "source_type", "count"),
    [("imgs", FolderSource, 5), ("imgs.tar.gz", FolderSource, 5), ("x.npz", NpzSource, 4)],
)
def test_open_source_gives_the_kinds_source(paths, file, source_type, count):
    source = open_source(parse_spec(paths[file]))
    assert type(source) is source_type
    assert source.count == count
    assert source.identity()["n"] == count
    eager = load_dataset(paths[file]).images
    torch.testing.assert_close(torch.cat(list(source.batches(2))), eager)


def test_open_source_of_a_data_set_defaults_to_the_train_split():
    source = open_source(parse_spec("digits"), n=10)
    assert isinstance(source, DatasetSource)
    assert source.identity() == {"kind": "dataset", "name": "digits", "split": "train", "n": 10}


def test_open_source_leaves_higher_kinds_to_their_layer(tmp_path):
    parsed = parse_spec(tmp_path, kinds=(PathKind("run", lambda path: True, "a run"),))
    with pytest.raises(GenlabError, match=r"a run source is not opened by genlab\.data"):
        open_source(parsed)

"""``genlab sample``: what --out may be, refused before generating; a failed run leaves nothing."""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner

from genlab.cli.main import cli, main


@pytest.fixture(scope="module")
def image_run(tiny_config, tmp_path_factory):
    from genlab.training.trainer import Trainer

    out = tmp_path_factory.mktemp("image") / "run"
    return Trainer.start(tiny_config("vae", out, steps=2, sample_every=2)).train()


@pytest.fixture(scope="module")
def toy_run(tiny_config, tmp_path_factory):
    from genlab.training.trainer import Trainer

    out = tmp_path_factory.mktemp("toy") / "run"
    config = tiny_config("wgan-gp", out, data="8gaussians", steps=2, sample_every=2)
    return Trainer.start(config).train()


def _files(folder) -> set[str]:
    return {
        os.path.relpath(os.path.join(root, name), folder)
        for root, dirs, files in os.walk(folder)
        for name in [*dirs, *files]
    }


def _fails(capsys, *args) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", *map(str, args)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.fixture
def no_generation(monkeypatch):
    """Generating anything fails the test: a refused --out must be refused before that."""
    import genlab.runs

    def refuse(*args, **kwargs):
        raise AssertionError("samples were generated before --out was checked")

    monkeypatch.setattr(genlab.runs, "iter_generated", refuse)


@pytest.mark.parametrize("name", ["x.txt", "samples.png", "out.tar.gz"])
def test_an_unknown_suffix_is_refused_before_generating(
    image_run, tmp_path, capsys, name, no_generation
):
    err = _fails(capsys, image_run, "--n", 3, "--out", tmp_path / name)
    suffix = os.path.splitext(name)[1]
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1
    assert f"'{suffix}'" in err
    assert "folder" in err
    assert ".npz" in err
    assert _files(tmp_path) == set()


def test_an_existing_folder_is_accepted_whatever_its_name(image_run, tmp_path):
    target = tmp_path / "samples.v2"
    target.mkdir()
    result = CliRunner().invoke(
        cli, ["sample", str(image_run), "--n", "3", "--out", str(target), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in target.iterdir()) == ["000000.png", "000001.png", "000002.png"]


def test_a_folder_holding_files_or_an_existing_file_is_refused(
    image_run, tmp_path, capsys, no_generation
):
    full = tmp_path / "full"
    full.mkdir()
    (full / "000000.png").write_bytes(b"old")
    err = _fails(capsys, image_run, "--out", full)
    assert "already holds" in err
    assert len(err.strip().splitlines()) == 1
    plain = tmp_path / "plain"
    plain.write_text("x")
    err = _fails(capsys, image_run, "--out", plain)
    assert "is a file" in err
    assert _files(tmp_path) == {"full", "full/000000.png", "plain"}


@pytest.mark.parametrize(("flag", "value"), [("--n", 0), ("--batch-size", 0), ("--n", -5)])
def test_counts_below_one_are_refused_naming_the_flag(image_run, tmp_path, capsys, flag, value):
    err = _fails(capsys, image_run, "--out", tmp_path / "out.npz", flag, value)
    assert f"Invalid value for '{flag}'" in err
    assert _files(tmp_path) == set()


def test_a_grid_must_be_a_png(image_run, tmp_path, capsys, no_generation):
    err = _fails(capsys, image_run, "--out", tmp_path / "a.npz", "--grid", tmp_path / "grid.jpg")
    assert "'.jpg'" in err
    assert "--grid" in err
    assert _files(tmp_path) == set()


def test_points_of_a_toy_run_go_to_npz_only(toy_run, tmp_path, capsys):
    err = _fails(capsys, toy_run, "--n", 5, "--out", tmp_path / "new" / "points")
    assert "2-D points" in err
    assert "--out FILE.npz" in err
    err = _fails(
        capsys, toy_run, "--n", 5, "--out", tmp_path / "p.npz", "--grid", tmp_path / "g.png"
    )
    assert "--grid" in err
    assert _files(tmp_path) == set()
    main_ok = CliRunner().invoke(
        cli, ["sample", str(toy_run), "--n", "5", "--out", str(tmp_path / "p.npz"), "--no-progress"]
    )
    assert main_ok.exit_code == 0, main_ok.output
    assert np.load(tmp_path / "p.npz")["points"].shape == (5, 2)


def test_a_failure_while_writing_leaves_nothing(image_run, tmp_path, monkeypatch, capsys):
    import genlab.data.imageio

    real = genlab.data.imageio.write_image_folder

    def write_some_then_fail(folder, images, **kwargs):
        real(folder, images[:2], **kwargs)
        raise genlab.errors.GenlabError("disk full (simulated)")

    monkeypatch.setattr(genlab.data.imageio, "write_image_folder", write_some_then_fail)
    err = _fails(capsys, image_run, "--n", 4, "--out", tmp_path / "deep" / "er" / "pngs")
    assert "disk full" in err
    assert _files(tmp_path) == set()

    empty = tmp_path / "empty"
    empty.mkdir()
    _fails(capsys, image_run, "--n", 4, "--out", empty, "--no-progress")
    assert _files(tmp_path) == {"empty"}


def test_progress_is_a_plain_line_in_a_log_and_off_with_no_progress(image_run, tmp_path):
    args = ["sample", str(image_run), "--n", "5", "--batch-size", "2"]
    shown = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "a.npz")])
    assert shown.exit_code == 0, shown.output
    assert "\r" not in shown.stderr
    assert shown.stderr.startswith("sampling: 5/5 imgs (100%)")
    hidden = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "b.npz"), "--no-progress"])
    assert hidden.exit_code == 0, hidden.output
    assert hidden.stderr == ""
    assert np.array_equal(
        np.load(tmp_path / "a.npz")["images"], np.load(tmp_path / "b.npz")["images"]
    )

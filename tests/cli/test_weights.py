"""``genlab weights import`` and ``genlab weights list``."""

from __future__ import annotations

import hashlib

import pytest
import torch
from click.testing import CliRunner

from genlab.cli.main import cli, main
from genlab.metrics.features import inception_weights
from genlab.metrics.features.inception_net import PTH_FILENAME
from genlab.metrics.features.inception_weights import WEIGHTS_ENV


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    return tmp_path / "cache"


def test_weights_is_listed_in_help():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "weights" in result.output


def test_list_with_nothing_installed(cache):
    result = CliRunner().invoke(cli, ["weights", "list"])
    assert result.exit_code == 0, result.output
    assert "no FID Inception weights installed" in result.output
    assert "genlab weights import" in result.output


def test_import_then_list(cache, tmp_path, monkeypatch):
    # A stand-in .pth whose hash is pinned in place of the published file's (not downloadable here).
    path = tmp_path / "fake.pth"
    torch.save({"fc.bias": torch.zeros(2)}, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(inception_weights, "PTH_SHA256", digest)
    runner = CliRunner()
    result = runner.invoke(cli, ["weights", "import", str(path)])
    assert result.exit_code == 0, result.output
    installed = cache / "weights" / "inception" / PTH_FILENAME
    assert f"installed {installed}" in result.output
    listed = runner.invoke(cli, ["weights", "list"])
    assert listed.exit_code == 0, listed.output
    assert str(installed) in listed.output
    assert digest in listed.output
    assert "fc: yes" in listed.output
    assert "ok" in listed.output


def test_unknown_file_is_refused_with_one_line(cache, tmp_path, capsys):
    stranger = tmp_path / "other.pt"
    stranger.write_bytes(b"something else")
    with pytest.raises(SystemExit) as exited:
        main(["weights", "import", str(stranger)])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ")
    assert error.count("\n") == 1
    assert PTH_FILENAME in error
    assert "default_1.pt" in error

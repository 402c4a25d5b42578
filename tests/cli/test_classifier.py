"""CLI smoke runs of `genlab classifier`: info on the shipped weights, a tiny training run."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from genlab.cli.main import cli, main
from genlab.metrics.features import classifier as clf


def run(args: list[str]):
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_help_lists_the_classifier_command():
    assert "classifier" in run(["--help"]).output
    output = run(["classifier", "--help"]).output
    assert "train" in output
    assert "info" in output


def test_info_shows_the_verified_shipped_weights():
    output = run(["classifier", "info"]).output
    metadata = json.loads(clf.metadata_path_for(clf.shipped_weights_path()).read_text())
    assert f"path: {clf.shipped_weights_path()}" in output
    assert f"sha256: {clf.CLASSIFIER_MNIST_SHA256} (verified)" in output
    assert f"test accuracy: {metadata['test_accuracy']:.4f}" in output
    assert f"reproduce: {metadata['command']}" in output


def test_info_reports_damaged_weights_as_one_line_error(tmp_path, monkeypatch, capsys):
    damaged = tmp_path / clf.WEIGHTS_FILENAME
    damaged.write_bytes(clf.shipped_weights_path().read_bytes()[:-10])  # truncated
    monkeypatch.setattr(clf, "shipped_weights_path", lambda *_: damaged)
    with pytest.raises(SystemExit) as exit_info:
        main(["classifier", "info"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ")
    assert "SHA-256" in error
    assert error.count("\n") == 1


def test_train_writes_weights_and_metadata(tmp_path, mnist_dir):
    out = tmp_path / "tiny.safetensors"
    args = ["classifier", "train", "--data-dir", str(mnist_dir.parent), "--epochs", "1"]
    args += ["--batch-size", "32", "--train-limit", "128", "--test-limit", "64"]
    args += ["--no-progress", "--out", str(out)]
    output = run(args).output
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)", output).group(1))
    metadata = clf.read_metadata(out)
    assert accuracy == pytest.approx(metadata["test_accuracy"], abs=5e-5)
    assert metadata["test_images"] == 64
    assert metadata["command"].endswith(f"--limit 128 --test-limit 64 --out {out}")
    assert clf.ClassifierExtractor(weights=out, sha256=metadata["sha256"]).dim == 128


def test_info_on_the_digits_classifier():
    output = run(["classifier", "info", "--data", "digits"]).output
    assert f"sha256: {clf.CLASSIFIER_DIGITS_SHA256} (verified)" in output
    assert "features: 64 (penultimate layer)" in output
    assert "--data digits" in output

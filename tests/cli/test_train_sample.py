"""CLI smoke runs: every preset trains a few steps end to end; sample writes what it says."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from genlab.cli.main import cli, main
from genlab.training.config import PRESETS

FAST = [
    "--steps",
    "2",
    "--batch-size",
    "16",
    "--no-progress",
    "--no-tensorboard",
    "--log-every",
    "1",
]


def run(args: list[str]):
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_preset_trains_on_digits(tmp_path, preset):
    out = tmp_path / preset
    result = run(["train", "--preset", preset, "--out", str(out), *FAST])
    assert f"run folder: {out}" in result.output
    assert (out / "checkpoints" / "step-00000002.pt").is_file()
    assert (out / "samples" / "step-00000002.png").is_file()


def test_wgan_gp_on_mnist_with_convolutional_networks(tmp_path, shared_data_dir):
    out = tmp_path / "mnist"
    run(
        [
            "train",
            "--preset",
            "wgan-gp",
            "--data",
            "mnist",
            "--data-dir",
            str(shared_data_dir),
            "--limit",
            "256",
            "--width",
            "8",
            "--out",
            str(out),
            *FAST,
        ]
    )
    assert '"arch": "dcgan"' in (out / "model.json").read_text()


def test_resume_and_sample_to_npz_and_folder(tmp_path):
    out = tmp_path / "run"
    run(["train", "--preset", "vae", "--out", str(out), *FAST])
    run(["train", "--resume", str(out), "--steps", "4", "--no-progress"])
    assert (out / "checkpoints" / "step-00000004.pt").is_file()
    run(["sample", str(out), "--n", "10", "--seed", "3", "--out", str(tmp_path / "a.npz")])
    run(["sample", str(out), "--n", "10", "--seed", "3", "--out", str(tmp_path / "b.npz")])
    first, second = np.load(tmp_path / "a.npz")["images"], np.load(tmp_path / "b.npz")["images"]
    assert first.shape == (10, 1, 8, 8)
    assert first.dtype == np.uint8
    assert np.array_equal(first, second)  # same seed, same images
    run(["sample", str(out), "--n", "3", "--out", str(tmp_path / "pngs")])
    assert len(list((tmp_path / "pngs").glob("*.png"))) == 3


def test_train_ends_with_the_verdict_the_report_and_the_next_commands(tmp_path):
    out = tmp_path / "run"
    output = run(["train", "--out", str(out), "--steps", "3", "--no-progress"]).output
    assert "verdict: 297 samples of the final generator" in output
    assert "real (floor)" in output
    assert "=> far from real digits (FD " in output  # three steps make no digits
    assert f"samples:  {out / 'samples' / 'step-00000003.png'}" in output
    assert f"report:   {out / 'report.html'}" in output
    assert (out / "report.html").is_file()
    assert (out / "report.md").is_file()
    assert f"tensorboard --logdir {out / 'tensorboard'}" in output
    assert f"genlab sample {out} " in output
    command = next(line.strip() for line in output.splitlines() if "genlab eval" in line)
    assert command == (
        f"genlab eval digits:test {out} --n 297 --features classifier-digits "
        "--metrics fid,pr,dc,modes"
    )
    filed = out / "evaluations" / "verdict-classifier-digits-fid-pr-dc-modes-n297.json"
    verdict_fd = json.loads(filed.read_text())["fid"]
    # The printed command recomputes the verdict's numbers from the saved run.
    again = run([*command.split()[1:], "--no-progress", "--json", str(tmp_path / "again.json")])
    assert json.loads((tmp_path / "again.json").read_text())["fid"] == verdict_fd
    assert json.loads(filed.read_text())["verdict"].startswith("far from")  # kept beside it
    assert f"FD_classifier-digits {verdict_fd:.4f}" in again.output
    # genlab report shows the verdict and its floor
    page = (out / "report.html").read_text()
    assert "verdict-floor-classifier-digits-fid-pr-dc-modes-n297" in page
    assert "verdict: far from real digits" in page


def test_no_final_eval_skips_the_verdict(tmp_path):
    out = tmp_path / "run"
    output = run(["train", "--out", str(out), "--no-final-eval", *FAST]).output
    assert "verdict" not in output
    assert not (out / "evaluations").exists()
    assert (out / "report.html").is_file()
    assert "tensorboard" not in output  # --no-tensorboard wrote none
    assert f"genlab eval REFERENCE {out}" in output


def test_dry_run(tmp_path):
    result = run(["train", "--dry-run", "--no-progress", "--out", str(tmp_path / "dry")])
    assert "step 2" in result.output


def test_user_errors_are_one_line_without_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "no-such-data", "--out", str(tmp_path / "x"), *FAST])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_resume_past_a_damaged_checkpoint_warns_in_one_line(tmp_path):
    out = tmp_path / "run"
    run(["train", "--preset", "wgan-gp", "--out", str(out), "--checkpoint-every", "1", *FAST])
    newest = sorted((out / "checkpoints").glob("step-*.pt"))[-1]
    newest.write_bytes(newest.read_bytes()[:500])
    resumed = subprocess.run(
        [sys.executable, "-m", "genlab", "train", "--resume", str(out), "--no-progress"],
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    warning = [line for line in resumed.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1
    assert "step-00000002.pt" in warning[0]
    assert "resuming from step-00000001.pt" in warning[0]
    assert ".py:" not in resumed.stderr  # no source line of genlab


def test_help_lists_every_command_and_python_dash_m_works():
    result = subprocess.run(
        [sys.executable, "-m", "genlab", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("train", "sample"):
        assert command in result.stdout

"""The benchmark scripts still run against today's API (tiny sizes; their numbers are not judged
here: speed is for the benchmarks themselves to report, as ratios measured in one run)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_script(name: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        timeout=600,  # a guard against a hang, not a speed limit
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.slow
def test_train_throughput_compares_the_trainer_with_the_hand_loop():
    out = run_script("train_throughput.py", "--steps", "2", "--repeats", "1")
    assert "hand-written loop" in out
    assert "genlab Trainer" in out


@pytest.mark.slow
@pytest.mark.needs_data
def test_matmul_layers_times_each_preset_both_ways(shared_data_dir):
    out = run_script(
        "matmul_layers.py",
        *("--presets", "dcgan,wgan-gp", "--steps", "1", "--rounds", "1"),
        env={"GENLAB_DATA_DIR": str(shared_data_dir)},
    )
    for row in ("dcgan", "wgan-gp", "generator's first", "generator's last", "critic's first"):
        assert row in out


@pytest.mark.slow
def test_startup_compares_the_cli_with_importing_torch():
    out = run_script("startup.py", "--repeats", "1")
    for row in ("import torch' (floor)", "genlab --help", "genlab eval --help", "of floor"):
        assert row in out


@pytest.mark.slow
@pytest.mark.needs_data
def test_fid_throughput_runs_every_arm(shared_data_dir, inception_weights_file):
    out = run_script(
        "fid_throughput.py",
        *("--batch-size", "2", "--batches", "1", "--dim", "16", "--memory-dim", "16"),
        *("--e2e-n", "2"),
        env={
            "GENLAB_DATA_DIR": str(shared_data_dir),
            "GENLAB_INCEPTION_WEIGHTS": str(inception_weights_file),
        },
    )
    rows = ("bare pool3 forward", "genlab pipeline", "fp32 matrix product", "of peak")
    rows += ("genlab eval", "torch-fidelity CLI: skipped", "scipy sqrtm", "peak RSS")
    rows += ("full rank", "rank 1 ")  # the Fréchet routes at full rank and at rank e2e-n − 1
    for row in rows:
        assert row in out


@pytest.mark.slow
@pytest.mark.needs_data
def test_gpu_check_dry_run_runs_every_section_on_the_cpu(
    shared_data_dir, inception_weights_file, tmp_path
):
    # The GPU check is for a short GPU loan: it must not fail there on a typo. --dry-run runs
    # every section at tiny sizes on the CPU (gloo instead of NCCL).
    result = subprocess.run(
        ["bash", str(BENCHMARKS / "gpu_check.sh"), "--dry-run"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "OUT": str(tmp_path),
            "PYTHON": sys.executable,
            "GENLAB_DATA_DIR": str(shared_data_dir),
            "GENLAB_INCEPTION_WEIGHTS": str(inception_weights_file),
        },
        timeout=1800,  # a guard against a hang, not a speed limit
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    summary = (tmp_path / "summary.txt").read_text()
    assert "FAILED" not in summary
    for name in ("fid_devices", "throughput", "eval_e2e", "train_steps", "resume"):
        assert (tmp_path / f"{name}.json").is_file(), name
    assert json.loads((tmp_path / "resume.json").read_text())["identical"]
    assert (tmp_path / "torchrun_eval.json").is_file()


@pytest.mark.slow
@pytest.mark.needs_data
def test_quality_per_minute_prints_a_row_per_run_and_the_floor(
    shared_data_dir, inception_weights_file, tmp_path
):
    table = tmp_path / "table.json"
    out = run_script(
        "quality_per_minute.py",
        *("--minutes", "0.02", "--presets", "wgan-gp", "--n-inception", "20"),
        *("--n-classifier", "50", "--json", str(table)),
        env={
            "GENLAB_DATA_DIR": str(shared_data_dir),
            "GENLAB_INCEPTION_WEIGHTS": str(inception_weights_file),
        },
    )
    for row in ("machine:", "textbook WGAN-GP loop", "preset wgan-gp", "floor (train[:n]"):
        assert row in out
    saved = json.loads(table.read_text())
    assert [row["run"] for row in saved["rows"]] == ["textbook WGAN-GP loop", "preset wgan-gp"]
    for row in saved["rows"]:
        assert row["steps"] >= 1
        assert row["inception_fid"] > 0
        assert row["classifier_fd"] > 0
    assert saved["rows"][0]["classifier_fd_ratio"] == 1.0
    assert saved["floor"]["inception_fid"] > 0
    assert saved["floor"]["classifier_fd"] > 0


def test_quality_per_minute_reads_options_of_a_preset_entry():
    # The default list holds `wgan:clip=0.001`, the lecture's c: its option must reach the config.
    spec = importlib.util.spec_from_file_location("qpm", BENCHMARKS / "quality_per_minute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.parse_entry("wgan:clip=0.001") == ("wgan", {"clip": 0.001})
    assert module.parse_entry("wgan-gp:width=32:critic-norm=none") == (
        "wgan-gp",
        {"width": 32, "critic_norm": "none"},
    )
    assert "wgan:clip=0.001" in module.DEFAULT_PRESETS.split(",")

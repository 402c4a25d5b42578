"""``genlab eval``: the table, the JSON file, --save-stats, and one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from genlab.cli import eval as eval_cli
from genlab.cli.main import cli, main
from genlab.data.imageio import write_npz
from genlab.metrics import keys, modes, registry
from genlab.metrics.evaluate import ALL, evaluate
from genlab.metrics.result import format_table


@pytest.fixture
def sets(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    generator = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (150, 1, 6, 6), generator=generator).to(torch.uint8)
    b = (a.int() * 3 // 4 + 30).to(torch.uint8)
    write_npz(tmp_path / "a.npz", a)
    write_npz(tmp_path / "b.npz", b)
    return str(tmp_path / "a.npz"), str(tmp_path / "b.npz")


def _invoke(*args: str):
    result = CliRunner().invoke(cli, ["eval", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_eval_is_listed_in_help():
    assert "eval" in CliRunner().invoke(cli, ["--help"]).output


def test_table_and_json_hold_the_library_numbers(sets, tmp_path):
    out = tmp_path / "result.json"
    output = _invoke(
        *sets,
        "--features",
        "pixels",
        "--metrics",
        "fid,kid,pr,dc",
        "--json",
        str(out),
        "--no-progress",
    )
    expected = evaluate(
        *sets, metrics="fid,kid,pr,dc", features="pixels", cache=False, progress=False
    )
    assert f"FD_pixels  {expected[keys.FID]:.4f}\n" in output  # FID on pixels: FD_pixels
    # KID ×10³, as it is quoted; the JSON keeps raw units (checked below).
    assert f"KID ×10³   {expected[keys.KID_MEAN] * 1e3:.2f}   (spread not meaningful" in output
    assert f"Precision  {expected[keys.PRECISION]:.4f}\n" in output
    assert f"Coverage   {expected[keys.COVERAGE]:.4f}\n" in output
    assert "features   pixels:" in output
    assert f"A (ref)    {sets[0]} (150 images)" in output
    written = json.loads(out.read_text())
    for key in (keys.FID, keys.KID_MEAN, keys.KID_STD, keys.RECALL, keys.DENSITY):
        assert written[key] == pytest.approx(expected[key], rel=1e-12)
    assert written["protocol"]["n_b"] == 150
    assert written["protocol"]["features"]["extractor"] == "pixels"


def test_confidence_interval_is_printed(sets):
    output = _invoke(*sets, "--features", "pixels", "--ci", "--ci-resamples", "3", "--no-progress")
    assert "95% CI [" in output


def test_save_stats_then_fid_against_the_file(sets, tmp_path):
    stats = tmp_path / "a-stats.npz"
    output = _invoke(sets[0], "--features", "pixels", "--save-stats", str(stats), "--no-progress")
    assert f"wrote statistics of 150 images (36-d pixels features) to {stats}" in output
    from_file = _invoke(str(stats), sets[1], "--features", "pixels", "--no-progress")
    from_images = _invoke(*sets, "--features", "pixels", "--no-progress")
    assert from_file.splitlines()[0] == from_images.splitlines()[0]


def test_table_rows_use_the_public_result_keys():
    # The table's rows come from the metric registry; its keys must be the public ones.
    public = {
        value
        for module in (keys, modes)
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str)
    }
    rows = registry.result_keys()
    assert {key for row in rows for key in (row.key, row.spread) if key} <= public
    assert eval_cli._ALL == ALL  # --n-ref all, spelt in the CLI for the same reason


def test_non_finite_values_and_unknown_numbers_are_shown():
    table = format_table({keys.PSNR: float("inf"), "other": 0.5, "protocol": {}})
    assert "PSNR (dB)  inf" in table
    assert "other      0.5000" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch", "digits"], "error: unknown source 'nosuch'"),
        (["digits", "digits", "--metrics", "fid,xyz"], "error: --metrics fid,xyz: unknown metric"),
        (["digits", "--features", "pixels"], "error: pass two sources"),
        (["digits", "digits", "--save-stats", "x.npz"], "error: --save-stats takes one source"),
        (["digits", "digits", "--features", "nope"], "error: --features nope: unknown feature"),
    ],
)
def test_errors_are_one_line(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["eval", *args, "--no-progress"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(message), err
    assert len(err.strip().splitlines()) == 1


def test_evaluating_a_run_files_the_result_in_it(tmp_path, monkeypatch):
    from genlab.training.config import resolve_config
    from genlab.training.trainer import Trainer

    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    config = resolve_config(
        "wgan-gp",
        steps=2,
        batch_size=8,
        hidden=(16,),
        latent_dim=4,
        progress=False,
        tensorboard=False,
        out=str(tmp_path / "run"),
    )
    run_dir = Trainer.start(config).train()
    output = _invoke(
        "digits",
        str(run_dir),
        "--features",
        "pixels",
        "--metrics",
        "fid,kid",
        "--n",
        "40",
        "--no-progress",
    )
    filed = run_dir / "evaluations" / "pixels-fid-kid-n40.json"
    assert f"wrote {filed}" in output
    expected = evaluate(
        "digits", run_dir, metrics="fid,kid", features="pixels", n=40, cache=False, progress=False
    )
    assert json.loads(filed.read_text())[keys.FID] == pytest.approx(expected[keys.FID], rel=1e-12)


def test_values_line_up_when_a_feature_space_lengthens_a_label():
    protocol = {"features": {"extractor": "classifier-digits"}}
    table = format_table({keys.FID: 17.0, keys.PRECISION: 0.5}, protocol)
    first, second = table.splitlines()
    assert first.startswith("FD_classifier-digits 17.0000")
    assert first.index("17.0000") == second.index("0.5000")

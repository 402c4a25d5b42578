"""``genlab report``: writes the page, the summary and the figures; bad input is one line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from genlab.cli.main import cli, main
from genlab.training.trainer import Trainer


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, tiny_config):
    root = tmp_path_factory.mktemp("runs")
    gan = Trainer.start(tiny_config("wgan", root / "gan", steps=4, sample_every=2)).train()
    vae = Trainer.start(tiny_config("vae", root / "vae", steps=4, sample_every=2)).train()
    with (gan / "metrics.jsonl").open("a") as log:
        log.write(json.dumps({"step": 4, "time": 1.0, "pixels/fid": 3.25}) + "\n")
    return gan, vae


def test_report_of_two_runs(two_runs, tmp_path):
    gan, vae = two_runs
    out = tmp_path / "x.html"
    result = CliRunner().invoke(
        cli, ["report", str(gan), str(vae), "--out", str(out), "--no-lipschitz"]
    )
    assert result.exit_code == 0, result.output
    figures = sorted((tmp_path / "x_files").iterdir())
    assert {p.name for p in figures} == {
        "losses.png",
        "wasserstein.png",
        "grad-norms.png",
        "metric-pixels-fid.png",
        "samples-1-gan.png",
        "samples-2-vae.png",
    }
    assert f"report:   {out}" in result.output
    assert f"summary:  {tmp_path / 'x.md'}" in result.output
    assert f"figures:  6 PNG files in {tmp_path / 'x_files'}" in result.output
    page = out.read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2 * 2 + 4  # grids at steps 2, 4; 4 figures
    assert "not computed (--no-lipschitz)" in page
    assert "a VAE has no critic" in page
    assert "](x_files/metric-pixels-fid.png)" in (tmp_path / "x.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "no run folders given"),
        (["{tmp}"], "is not a run folder"),
        (["{tmp}/missing"], "does not exist"),
        (["{gan}", "--out", "{tmp}/blocker/r.html"], "cannot create the folder"),
    ],
)
def test_bad_input_is_a_one_line_error(two_runs, tmp_path, capsys, arguments, message):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    values = {"tmp": tmp_path, "gan": two_runs[0]}
    argv = ["report", *(a.format(**values) for a in arguments)]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "r.html")]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--no-lipschitz"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ")
    assert message in error
    assert error.count("\n") == 1
    assert not (tmp_path / "r.html").exists()

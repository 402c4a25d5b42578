import json
import math

import pytest
from click.testing import CliRunner

from genlab.cli.main import cli


def test_parallel_lines_command_writes_json_and_png(tmp_path):
    out = tmp_path / "lines"
    result = CliRunner().invoke(
        cli,
        ["experiment", "parallel-lines", "--out", str(out), "--quick", "--seed", "1"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'parallel_lines.json'}" in result.output
    assert "final_theta_wgan" in result.output
    data = json.loads((out / "parallel_lines.json").read_text())
    assert data["config"]["seed"] == 1
    assert abs(data["summary"]["max_abs_js_minus_log2_theta_nonzero"]) < 1e-9
    # θ's spread over seeds is about 0.025; a sign error in the loss ends near 2 (see
    # tests/experiments/test_parallel_lines.py for the bound).
    assert abs(data["summary"]["final_theta_wgan"]) < 0.15
    assert abs(data["js"][0] - math.log(2)) < 1e-9
    assert (out / "parallel_lines.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_experiment_is_a_group_listing_its_subcommands():
    result = CliRunner().invoke(cli, ["experiment", "--help"])
    assert result.exit_code == 0
    assert "parallel-lines" in result.output


def test_compare_command_runs_a_quick_comparison(
    tmp_path, shared_data_dir, mnist_dir, inception_weights_file
):
    out = tmp_path / "compare"
    result = CliRunner().invoke(
        cli,
        [
            *("experiment", "compare", "--quick", "--models", "vae"),
            *("--out", str(out), "--data-dir", str(shared_data_dir)),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "| VAE | " in result.output
    assert f"wrote {out / 'compare.json'}" in result.output
    summary = json.loads((out / "compare.json").read_text())
    assert summary["settings"]["models"] == ["vae"]
    assert summary["runs"]["vae-seed0"]["recon_mse"] > 0


def test_compare_refuses_an_unknown_model_in_one_line(capsys):
    from genlab.cli.main import main

    with pytest.raises(SystemExit) as stopped:
        main(["experiment", "compare", "--models", "vae,diffusion", "--quick"])
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: unknown model(s) ['diffusion']")
    assert "\n" not in error


def test_errors_under_torchrun_say_which_rank(capsys, monkeypatch):
    from genlab.cli.main import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(SystemExit):
        main(["experiment", "compare", "--models", "diffusion", "--quick"])
    assert capsys.readouterr().err.startswith("error (rank 1): unknown model(s)")

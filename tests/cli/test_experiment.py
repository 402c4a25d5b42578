import json
import math

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
    assert abs(data["summary"]["final_theta_wgan"]) < 0.05
    assert abs(data["js"][0] - math.log(2)) < 1e-9
    assert (out / "parallel_lines.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_experiment_is_a_group_listing_its_subcommands():
    result = CliRunner().invoke(cli, ["experiment", "--help"])
    assert result.exit_code == 0
    assert "parallel-lines" in result.output

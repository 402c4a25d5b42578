"""`genlab experiment toy` and `genlab experiment clipping` end to end, quick settings."""

from __future__ import annotations

import json

from click.testing import CliRunner

from genlab.cli.main import cli


def test_clipping_quick_with_mnist_prints_the_table_and_writes_files(tmp_path, shared_data_dir):
    args = ["experiment", "clipping", "--quick", "--mnist", "--data-dir", str(shared_data_dir)]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "spectral norm" in result.output
    rows = json.loads((tmp_path / "clipping.json").read_text())
    assert {row["dataset"] for row in rows} == {"8gaussians", "mnist"}
    for row in rows:  # the bounds bracket every critic, in 2-D and in 784-D
        assert 0 < row["lipschitz_lower"] <= row["lipschitz_upper"]
    assert (tmp_path / "clipping.png").is_file()


def test_toy_quick_trains_three_methods(tmp_path):
    result = CliRunner().invoke(cli, ["experiment", "toy", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "toy.json").read_text())) == 3
    assert (tmp_path / "toy.png").is_file()

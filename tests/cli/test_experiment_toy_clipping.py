"""`genlab experiment toy` and `genlab experiment clipping` end to end, quick settings."""

from __future__ import annotations

import json

from click.testing import CliRunner

from genlab.cli.main import cli


def test_clipping_quick_prints_the_table_and_writes_files(tmp_path):
    result = CliRunner().invoke(cli, ["experiment", "clipping", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "spectral norm" in result.output
    rows = json.loads((tmp_path / "clipping.json").read_text())
    assert {row["method"] for row in rows} >= {"clip c=0.001", "gradient penalty"}
    assert (tmp_path / "clipping.png").is_file()


def test_toy_quick_trains_three_methods(tmp_path):
    result = CliRunner().invoke(cli, ["experiment", "toy", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "toy.json").read_text())) == 3
    assert (tmp_path / "toy.png").is_file()

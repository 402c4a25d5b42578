"""Start-up: the command listing and a command's help import nothing heavy.

A behaviour test, not a timing test: it reads ``sys.modules`` in a fresh interpreter after the
CLI has run, so it holds on a loaded machine too. (Timings: ``python -X importtime -m genlab``,
recorded in docs/evaluation.md.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

#: Modules no help text needs: each costs from tens of milliseconds (PIL) to seconds (torch).
HEAVY = (
    "torch",
    "numpy",
    "scipy",
    "sklearn",
    "matplotlib",
    "tensorboard",
    "PIL",
    "ot",
    "safetensors",
    "pandas",
)

PROBE = """
import contextlib, io, json, sys
from genlab.cli.main import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
print(json.dumps({"modules": sorted(sys.modules), "help": out.getvalue()}))
"""


def _imports_after(*args: str) -> tuple[list[str], str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=True,
    )
    record = json.loads(result.stdout)
    top_level = {name.split(".")[0] for name in record["modules"]}
    return sorted(top_level & set(HEAVY)), record["help"]


def test_the_probe_sees_a_heavy_import():
    # `genlab weights --help` imports torch (the weights module needs it): the probe must say so.
    heavy, _ = _imports_after("weights", "--help")
    assert "torch" in heavy


@pytest.mark.parametrize("args", [("--help",), ("eval", "--help")], ids=["genlab", "eval"])
def test_help_imports_no_heavy_module(args):
    heavy, text = _imports_after(*args)
    assert "Usage:" in text  # the help was printed, so the command did run
    assert heavy == []

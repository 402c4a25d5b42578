"""docs/api.md's examples run as written: every ```python block not marked "not run", in order,
in one namespace (later blocks use earlier names), in a scratch folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

API_DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
_BLOCK = re.compile(r"(<!-- not run[^>]*-->\n)?```python\n(.*?)```", re.DOTALL)


def _examples() -> list[str]:
    return [code for skipped, code in _BLOCK.findall(API_DOC.read_text()) if not skipped]


def test_the_api_page_has_runnable_examples_and_skips_other_libraries():
    blocks = _BLOCK.findall(API_DOC.read_text())
    assert len(_examples()) >= 6
    assert (
        sum(1 for skipped, _ in blocks if skipped) == 3
    )  # torch-fidelity, clean-fid, torchmetrics


@pytest.mark.filterwarnings("ignore::genlab.metrics.sources.ExternalStatisticsWarning")
@pytest.mark.filterwarnings("ignore::genlab.metrics.validation.FIDBiasWarning")
def test_the_api_page_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    namespace: dict = {"__name__": "api_doc"}
    for index, code in enumerate(_examples()):
        exec(compile(code, f"docs/api.md block {index + 1}", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "protocol:" in printed  # print(result) shows the table and the protocol
    assert "statistics from an external file, protocol asserted by the user" in printed

"""``genlab eval --precision``: bf16 is an Inception option, passed as such; fp32 passes nothing."""

from __future__ import annotations

import pytest

from genlab.cli.main import main
from genlab.errors import GenlabError
from genlab.metrics import evaluate as driver


@pytest.fixture
def captured(monkeypatch):
    """The keyword arguments `genlab eval` hands to the evaluation driver (which then stops)."""
    calls = []

    def fake_evaluate(a, b, **options):
        calls.append(options)
        raise GenlabError("stopped by the test")

    monkeypatch.setattr(driver, "evaluate", fake_evaluate)
    return calls


@pytest.mark.parametrize(
    ("args", "expected"),
    [([], None), (["--precision", "fp32"], None), (["--precision", "bf16"], {"precision": "bf16"})],
)
def test_precision_reaches_the_inception_extractor_as_an_option(captured, capsys, args, expected):
    with pytest.raises(SystemExit):
        main(["eval", "mnist:test", "mnist:train", *args])
    assert "stopped by the test" in capsys.readouterr().err
    assert captured[0].get("extractor_options") == expected


def test_bf16_with_other_features_is_refused_naming_both_options(captured, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "digits", "digits", "--features", "pixels", "--precision", "bf16"])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert "--precision bf16" in message
    assert "--features pixels" in message
    assert captured == []

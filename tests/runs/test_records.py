"""The metrics log and its ``FEATURES/METRIC`` keys."""

from __future__ import annotations

import pytest

from genlab.errors import GenlabError
from genlab.runs import METRICS_FILE, eval_key, is_eval_key, read_metrics, split_eval_key
from genlab.runs.records import truncate_metrics


def test_eval_keys_round_trip_and_leave_other_keys_alone():
    assert split_eval_key(eval_key("inception", "fid")) == ("inception", "fid")
    assert split_eval_key("loss_critic") is None
    assert is_eval_key("classifier-mnist/fid")
    assert not is_eval_key("loss_critic")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("classifier-mnist/fid", ("classifier-mnist", "fid")),
        ("inception/kid_mean_ci_low", ("inception", "kid_mean_ci_low")),
        ("a/b/c", ("a", "b/c")),
    ],
)
def test_split_eval_key(key, expected):
    assert split_eval_key(key) == expected


@pytest.mark.parametrize("key", ["/fid", "inception/"])
def test_split_eval_key_rejects_malformed_keys(key):
    with pytest.raises(GenlabError, match="<features>/<metric>"):
        split_eval_key(key)


def test_a_torn_last_line_is_ignored_and_truncation_keeps_the_steps_up_to_the_checkpoint(
    tmp_path,
):
    lines = ['{"step": 1, "loss": 2.0}', '{"step": 2, "loss": 1.0}', '{"step": 3, "lo']
    (tmp_path / METRICS_FILE).write_text("\n".join(lines))
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]
    truncate_metrics(tmp_path, 1)
    assert read_metrics(tmp_path) == [{"step": 1, "loss": 2.0}]
    assert read_metrics(tmp_path / "missing") == []

"""The overview table's Lipschitz rows say which constraint a run used, and how."""

from __future__ import annotations

from genlab.report.tables import MISSING, _clip, _gp_weight


def test_the_penalty_row_names_lambda_and_a_lazy_schedule():
    assert _gp_weight({"lipschitz": "gp", "gp_weight": 10.0}) == "10"
    assert _gp_weight({"lipschitz": "gp", "gp_weight": 10.0, "gp_every": 4}) == (
        "10, lazy: every 4 critic steps, weighted by 4"
    )
    assert _gp_weight({"lipschitz": "clip", "gp_weight": 10.0, "gp_every": 4}) == MISSING
    assert _clip({"lipschitz": "clip", "clip": 0.001}) == "0.001"

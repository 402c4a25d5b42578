"""The toy experiment trains each method and measures it with exact optimal transport."""

from __future__ import annotations

import json

from genlab.experiments.toy import METHODS, run_toy_experiment


def test_toy_experiment_runs_every_method_and_draws_the_figure(tmp_path):
    rows = run_toy_experiment(tmp_path, steps=40, hidden=(32, 32), datasets=("8gaussians",))
    assert [row.method for row in rows] == list(METHODS)
    assert (tmp_path / "toy.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "toy.json").read_text())
    assert [r["method"] for r in saved] == list(METHODS)
    for row in rows:
        assert row.steps == 40
        # The 8 Gaussians sit on a circle of radius ~1.4: an untrained generator is far away,
        # but W1 between two point clouds of this scale stays within a few units.
        assert 0 < row.w1_generated_vs_real < 5
    # The clipped critic's values are tiny (c = 0.01 caps its scale); the GP critic's are not.
    by_method = {row.method: row for row in rows}
    clipped = abs(by_method["WGAN (clip 0.01)"].critic_estimate)
    assert clipped < 0.01
    assert by_method["WGAN-GP"].critic_estimate > 10 * clipped

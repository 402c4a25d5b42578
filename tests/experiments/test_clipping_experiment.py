"""The clipping experiment shows what the lecture claims about weight clipping."""

from __future__ import annotations

import json

import pytest

from genlab.experiments.clipping import run_clipping_experiment


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("clipping")
    rows = run_clipping_experiment(out, datasets=("8gaussians",), steps=150, hidden=(32, 32))
    return out, {row.method: row for row in rows}


def test_writes_json_and_figure(results):
    out, rows = results
    assert (out / "clipping.png").stat().st_size > 10_000
    assert len(json.loads((out / "clipping.json").read_text())) == len(rows) == 5


def test_bounds_bracket_every_critic_and_clip_bound_is_looser(results):
    _, rows = results
    for row in rows.values():
        assert 0 < row.lipschitz_lower <= row.lipschitz_upper
        # f / L_upper is 1-Lipschitz, so its gap can never exceed the true W1 (up to sampling).
        assert row.certified_w1_lower_bound <= row.exact_w1 * 1.05
    for c in ("0.001", "0.01", "0.1"):
        row = rows[f"clip c={c}"]
        assert row.lipschitz_upper <= row.clip_bound


def test_clipping_shrinks_the_critic_and_piles_weights_at_c(results):
    _, rows = results
    # The Lipschitz constant, and with it the critic's gap, scales with c: the clipped critic
    # estimates K·W1 with a K set by c, not W1 itself.
    assert rows["clip c=0.001"].lipschitz_upper < 1e-3 * rows["clip c=0.1"].lipschitz_upper
    assert rows["clip c=0.001"].critic_estimate < 1e-3 * rows["gradient penalty"].critic_estimate
    assert rows["clip c=0.001"].fraction_of_weights_at_clip > 0.75


def test_spectral_norm_keeps_the_critic_near_one_lipschitz(results):
    _, rows = results
    assert rows["spectral norm"].lipschitz_upper == pytest.approx(1.0, abs=0.1)

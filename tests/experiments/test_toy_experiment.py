"""The toy experiment trains each method and measures it with exact optimal transport."""

from __future__ import annotations

import json
import math

from genlab.experiments.toy import METHODS, run_toy_experiment
from genlab.runs.checkpoint import load_checkpoint

CLIP = 0.01  # "WGAN (clip 0.01)"


def test_toy_experiment_runs_every_method_and_draws_the_figure(tmp_path, png_content):
    rows = run_toy_experiment(tmp_path, steps=40, hidden=(32, 32), datasets=("8gaussians",))
    assert [row.method for row in rows] == list(METHODS)
    figure = png_content(tmp_path / "toy.png")
    assert figure.width > 2 * figure.height  # one panel per method, side by side
    assert figure.chromatic > 0.01  # points and critic contours drawn (empty axes have none)
    saved = json.loads((tmp_path / "toy.json").read_text())
    assert [r["method"] for r in saved] == list(METHODS)
    for row in rows:
        assert row.steps == 40
        # The 8 Gaussians sit on a circle of radius ~1.4: an untrained generator is far away,
        # but W1 between two point clouds of this scale stays within a few units.
        assert 0 < row.w1_generated_vs_real < 5
    by_method = {row.method: row for row in rows}
    critics = {
        method: load_checkpoint(tmp_path / "runs" / run)["models"]["critic"]
        for method, run in [
            ("WGAN (clip 0.01)", "8gaussians-wgan"),
            ("WGAN-GP", "8gaussians-wgan-gp"),
        ]
    }
    # Clipping holds every critic parameter in [-c, c]; the penalised critic is not clipped (its
    # first layer starts at U(±1/√2) and 40 steps cannot bring every weight below c).
    assert max(t.abs().max().item() for t in critics["WGAN (clip 0.01)"].values()) <= CLIP
    assert max(t.abs().max().item() for t in critics["WGAN-GP"].values()) > 10 * CLIP
    # The estimate is E f(real) - E f(fake) on the very samples whose exact W1 the row holds, so
    # Kantorovich-Rubinstein gives |estimate| <= L(f)·W1, and clipping caps L(f) by the product of
    # c·sqrt(m·n) over the m×n weight matrices (leaky ReLU is 1-Lipschitz): ~1.4e-3 here.
    matrices = [t for t in critics["WGAN (clip 0.01)"].values() if t.ndim == 2]
    assert len(matrices) == 3
    lipschitz_cap = math.prod(CLIP * math.sqrt(w.shape[0] * w.shape[1]) for w in matrices)
    clipped = by_method["WGAN (clip 0.01)"]
    assert abs(clipped.critic_estimate) <= lipschitz_cap * clipped.w1_generated_vs_real + 1e-7

"""genlab's figures leave matplotlib's backend alone and come out at the size they ask for."""

from __future__ import annotations

import json
import math

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

from genlab.plotting import figure_bytes, new_figure, save_figure

# Not Agg, and never what `matplotlib.use("Agg")` would set: a library that switched backends
# (as a notebook user's would be switched) shows up as a changed name.
USER_BACKEND = "svg"


@pytest.fixture(autouse=True)
def user_backend(monkeypatch):
    monkeypatch.setitem(matplotlib.rcParams, "backend", USER_BACKEND)


def _size(path) -> tuple[int, int]:
    """The PNG's (width, height), once the backend is checked to be the user's still."""
    assert matplotlib.get_backend() == USER_BACKEND
    with Image.open(path) as image:
        return image.size


def test_new_figure_and_save_figure(tmp_path):
    figure = new_figure((3, 2), dpi=50)
    figure.subplots().plot([0, 1], [1, 0])
    path = save_figure(figure, tmp_path / "line.png")
    assert _size(path) == (150, 100)
    assert figure_bytes(figure, dpi=100).startswith(b"\x89PNG")
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left beside it


def test_training_point_scatter(tmp_path):
    from genlab.training.samples import save_point_scatter

    path = tmp_path / "points.png"
    save_point_scatter(path, torch.randn(50, 2), reference=torch.randn(50, 2), title="step 1")
    assert _size(path) == (400, 400)


def test_parallel_lines(tmp_path):
    from genlab.experiments.parallel_lines import (
        ParallelLinesConfig,
        ParallelLinesResult,
        plot_parallel_lines,
    )

    result = ParallelLinesResult(
        config=ParallelLinesConfig(),
        thetas=[-1.0, 0.0, 1.0],
        kl=[math.inf, 0.0, math.inf],
        kl_infinite_bins=[1, 0, 1],
        js=[math.log(2), 0.0, math.log(2)],
        w1_exact=[1.0, 0.0, 1.0],
        critic_thetas=[-1.0, 1.0],
        critic_w1=[0.98, 0.99],
        theta_wgan=[1.0, 0.5, 0.1],
        theta_minimax=[1.0, 0.99, 0.99],
        discriminator_steps=[1, 10, 100],
        minimax_gradient=[0.1, 1e-3, 0.0],
        non_saturating_gradient=[0.5, 0.4, 0.3],
        wgan_gradient=[1.0, 1.0, 1.0],
        discriminator_profile={
            "x1": [-0.5, 0.5, 1.5],
            "discriminator": [1.0, 0.5, 0.0],
            "critic": [0.5, -0.5, -1.5],
        },
    )
    path = tmp_path / "parallel_lines.png"
    plot_parallel_lines(result, path)
    assert _size(path) == (1320, 990)  # 12 × 9 inches at 110 dpi


def test_clipping(tmp_path):
    from genlab.experiments.clipping import METHODS, ClippingResult, plot_clipping

    results = [
        ClippingResult("8gaussians", label, 2.0, 0.1 * (i + 1), 0.5, 2.0, None, 0.05, None)
        for i, label in enumerate(METHODS)
    ]
    histograms = {label: np.linspace(-0.01, 0.01, 100) for label in METHODS}
    path = tmp_path / "clipping.png"
    plot_clipping(path, results, histograms, dataset="8gaussians")
    assert _size(path) == (1440, 405)  # 16 × 4.5 inches at 90 dpi


def test_toy_panels(tmp_path):
    from genlab.experiments.toy import METHODS, plot_toy_panels

    critic = torch.nn.Linear(2, 1)
    panels = [
        ("8gaussians", method, critic, torch.randn(30, 2), torch.randn(30, 2), 0.5)
        for method in METHODS
    ]
    path = tmp_path / "toy.png"
    plot_toy_panels(path, panels, rows=1)
    assert _size(path) == (360 * len(METHODS), 360)  # 4 inches a panel at 90 dpi


def test_compare_figures(tmp_path):
    from genlab.experiments.compare.figures import (
        save_fid_vs_time,
        save_grids,
        save_wasserstein_vs_fid,
    )
    from genlab.experiments.compare.spec import FID_KEY, run_name

    runs = tmp_path / "runs"
    records = [
        {"step": 1, "time": 1.0, "wasserstein_estimate": 0.5},
        {"step": 2, "time": 2.0, FID_KEY: 40.0},
        {"step": 3, "time": 3.0, "wasserstein_estimate": 0.3},
        {"step": 4, "time": 4.0, FID_KEY: 20.0},
    ]
    for model in ("vae", "wgan-gp"):
        run_dir = runs / run_name(model, 0)
        (run_dir / "samples").mkdir(parents=True)
        text = "".join(json.dumps(r) + "\n" for r in records)
        (run_dir / "metrics.jsonl").write_text(text)
        Image.new("RGB", (20, 20)).save(run_dir / "samples" / "step-00000004.png")
    save_grids(tmp_path / "grids.png", runs, ["vae", "wgan-gp"], 0)
    save_fid_vs_time(tmp_path / "fid.png", runs, ["vae", "wgan-gp"], [0])
    save_wasserstein_vs_fid(tmp_path / "w.png", runs, ["wgan-gp"], [0])
    assert _size(tmp_path / "grids.png") == (600, 330)  # 3 × 3.3 inches a model at 100 dpi
    assert _size(tmp_path / "fid.png") == (700, 450)
    assert _size(tmp_path / "w.png") == (400, 360)


def test_importing_the_drawing_modules_does_not_import_pyplot():
    import subprocess
    import sys

    code = (
        "import sys, genlab.plotting, genlab.training.samples, genlab.experiments.toy, "
        "genlab.experiments.clipping, genlab.experiments.parallel_lines, "
        "genlab.experiments.compare.figures, genlab.report.figures; "
        "print('matplotlib.pyplot' in sys.modules)"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"

"""Figures of the model comparison: final sample grids, classifier-FID over training time, and
the critic's Wasserstein estimate against FID."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genlab.experiments.compare.spec import (
    FID_KEY,
    MODELS,
    WASSERSTEIN_MODELS,
    estimate_fid_pairs,
    run_name,
)
from genlab.plotting import new_figure, save_figure
from genlab.runs import RunFolder


def _colours() -> dict[str, tuple]:
    """One colour per model of `MODELS`, the same in every figure whatever subset is drawn."""
    import matplotlib

    palette = matplotlib.colormaps["tab10"]
    return {model: palette(i % 10) for i, model in enumerate(MODELS)}


def _save(figure, path: Path) -> None:
    figure.tight_layout()
    save_figure(figure, path)


def save_compare_figures(out: Path, settings) -> dict[str, Path]:
    """``grids.png``, ``fid_vs_time.png`` and ``wasserstein_vs_fid.png`` in ``out``."""
    runs_dir = Path(out) / "runs"
    paths = {
        "grids": Path(out) / "grids.png",
        "fid_vs_time": Path(out) / "fid_vs_time.png",
        "wasserstein_vs_fid": Path(out) / "wasserstein_vs_fid.png",
    }
    save_grids(paths["grids"], runs_dir, settings.models, settings.seeds[0])
    save_fid_vs_time(paths["fid_vs_time"], runs_dir, settings.models, settings.seeds)
    models = [m for m in settings.models if m in WASSERSTEIN_MODELS]
    save_wasserstein_vs_fid(paths["wasserstein_vs_fid"], runs_dir, models, settings.seeds)
    return paths


def _run(runs_dir: Path, model: str, seed: int) -> RunFolder:
    return RunFolder(Path(runs_dir) / run_name(model, seed))


def save_grids(path: Path, runs_dir: Path, models, seed: int, *, columns: int = 4) -> None:
    """The last sample grid of each model (one seed), ``columns`` to a row."""
    from PIL import Image

    rows = -(-len(models) // columns)
    width = min(columns, len(models))
    figure = new_figure((3.0 * width, 3.3 * rows), dpi=100)
    axes = figure.subplots(rows, width)
    axes = np.atleast_1d(axes).ravel()
    for axis in axes:
        axis.axis("off")
    for axis, model in zip(axes, models, strict=False):
        grids = _run(runs_dir, model, seed).sample_grids()
        if grids:
            step, grid = grids[-1]
            axis.imshow(np.asarray(Image.open(grid).convert("RGB")))
            axis.set_title(f"{MODELS[model].label}\nstep {step}", fontsize=10)
        else:
            axis.set_title(f"{MODELS[model].label}\n(no samples)", fontsize=10)
    _save(figure, path)


def save_fid_vs_time(path: Path, runs_dir: Path, models, seeds) -> None:
    """Classifier-FID against seconds of training, one colour per model, one line per seed."""
    colours = _colours()
    figure = new_figure((7, 4.5), dpi=100)
    axis = figure.subplots()
    for model in models:
        for i, seed in enumerate(seeds):
            records = [r for r in _run(runs_dir, model, seed).records() if FID_KEY in r]
            if not records:
                continue
            axis.plot(
                [r["time"] for r in records],
                [r[FID_KEY] for r in records],
                color=colours[model],
                alpha=0.85,
                marker=".",
                label=MODELS[model].label if i == 0 else None,
            )
    axis.set_yscale("log")
    axis.set_xlabel("training time (s)")
    axis.set_ylabel("classifier-FID (log scale)")
    axis.set_title("Sample quality over training, same budget (one line per seed)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    _save(figure, path)


def save_wasserstein_vs_fid(path: Path, runs_dir: Path, models, seeds) -> None:
    """Critic's W estimate (mean over the logged steps before each evaluation) against FID."""
    colours = _colours()
    figure = new_figure((4 * max(1, len(models)), 3.6), dpi=100)
    axes = figure.subplots(1, max(1, len(models)))
    for axis, model in zip(np.atleast_1d(axes), models, strict=False):
        for seed in seeds:
            estimates, fids = estimate_fid_pairs(_run(runs_dir, model, seed).records())
            axis.plot(estimates, fids, marker="o", ms=3, color=colours[model], alpha=0.7)
        axis.set_title(MODELS[model].label, fontsize=10)
        axis.set_xlabel("critic's W estimate")
        axis.set_ylabel("classifier-FID")
        axis.grid(alpha=0.3)
    _save(figure, path)

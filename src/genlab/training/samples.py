"""Pictures of progress: image grids, or scatter plots for the 2-D toy sets."""

from __future__ import annotations

from pathlib import Path

import torch

from genlab import distributed
from genlab.data.imageio import save_grid, signed_to_uint8
from genlab.plotting import new_figure, save_figure
from genlab.runs import sample_path


def save_samples(run_dir: Path, step: int, samples: torch.Tensor, stream) -> Path:
    """Write ``samples`` (images in [-1, 1] or 2-D points) as the PNG of ``step``.

    Only rank 0 writes; for points every process still draws the reference batch, so the data
    streams of all processes stay at the same position.
    """
    path = sample_path(run_dir, step)
    reference = stream.next().cpu() if samples.ndim != 4 else None
    if not distributed.is_main():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if reference is None:
        side = samples.shape[-1]
        save_grid(path, signed_to_uint8(samples), nrow=8, scale=max(1, 64 // side))
    else:
        save_point_scatter(path, samples, reference=reference, title=f"step {step}")
    return path


def save_point_scatter(
    path: Path, points: torch.Tensor, *, reference: torch.Tensor, title: str
) -> None:
    """Generated 2-D points over a batch of real ones."""
    figure = new_figure((4, 4), dpi=100)
    axes = figure.subplots()
    axes.scatter(*reference.T, s=4, c="tab:orange", alpha=0.5, label="real")
    axes.scatter(*points.T, s=4, c="tab:blue", alpha=0.7, label="generated")
    axes.set_title(title)
    axes.legend(loc="upper right", fontsize=8)
    axes.set_aspect("equal", adjustable="datalim")
    figure.tight_layout()
    save_figure(figure, path)

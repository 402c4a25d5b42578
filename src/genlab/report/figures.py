"""The report's figures, drawn with matplotlib's Agg canvas and returned as PNG bytes.

Every figure overlays all runs, one colour per run (the same colour in every figure and in the
page's tables), with the run folder's name in the legend. Noisy per-step quantities (losses,
gradient norms) are drawn twice: every logged value faint, and a trailing moving average solid.

Figures are built on `matplotlib.figure.Figure` with an explicit Agg canvas rather than through
pyplot, so drawing a report changes no global matplotlib state (backend, open figures).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from genlab.errors import GenlabError
from genlab.metrics import registry
from genlab.plotting import figure_bytes, new_figure
from genlab.report.collect import (
    ClosestPairs,
    RunSummary,
    SampleGrid,
    Series,
    pick_sample_steps,
)

#: Colours of runs, in order (matplotlib's tab10, which stays distinguishable for most readers).
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
DPI = 110
PANEL_WIDTH = 3.6  # inches
PANEL_HEIGHT = 2.8
PANELS_PER_ROW = 3
#: Moving-average window: this fraction of a curve's records (at least one record).
SMOOTHING_FRACTION = 0.04
STEP_LABEL = "step (generator updates)"

#: (metrics-log key, panel title, y-axis label) of the training figures, in panel order.
LOSS_PANELS = (
    ("loss_critic", "critic loss", "loss (incl. penalty)"),
    ("loss_generator", "generator loss", "loss"),
    ("penalty", "gradient penalty", "λ · E[(‖∇f‖ − 1)²]"),
    ("loss", "negative ELBO", "nats per image"),
    ("reconstruction", "reconstruction term", "−log p(x | z), nats"),
    ("kl", "KL term", "KL(q(z | x) ‖ p(z)), nats"),
)
WASSERSTEIN_PANELS = (
    ("wasserstein_estimate", "critic's Wasserstein estimate", "E_real[f] − E_fake[f]"),
)
GRAD_NORM_PANELS = (
    ("grad_norm_critic", "critic gradient norm", "‖∇θ loss‖₂"),
    ("grad_norm_generator", "generator gradient norm", "‖∇θ loss‖₂"),
    ("grad_norm", "VAE gradient norm", "‖∇θ loss‖₂"),
)


@dataclass(frozen=True)
class FigureImage:
    """A finished figure: a file name (``losses.png``), a title, a caption and the PNG bytes."""

    name: str
    title: str
    caption: str
    png: bytes


def metric_label(metric: str) -> str:
    """A metric key's display name from the metric registry (the key itself when it has none)."""
    result = registry.result_key(metric)
    return result.title if result is not None else metric


def metric_direction(metric: str) -> str:
    """``"lower is better"``, ``"higher is better"`` or ``""``, from the metric registry."""
    result = registry.result_key(metric)
    return result.direction if result is not None else ""


def run_colours(runs: Sequence[RunSummary]) -> list[str]:
    """One colour per run, by position (cycling after ten runs)."""
    return [PALETTE[i % len(PALETTE)] for i in range(len(runs))]


def safe_file_name(text: str) -> str:
    """``text`` reduced to letters, digits, ``_ . -`` so it is a portable file-name part."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "figure"


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    r"""Trailing moving average: :math:`m_i = \frac{1}{i - j + 1} \sum_{k=j}^{i} v_k`, with
    :math:`j = \max(0, i - w + 1)`.

    The first ``window - 1`` points average what exists so far, so the smoothed curve starts at
    the first value instead of lagging behind it; non-finite values are skipped (a point whose
    whole window is non-finite is NaN).
    """
    if window < 1:
        raise GenlabError(f"the moving-average window must be at least 1, got {window}")
    array = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(array)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, array, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    upper = np.arange(1, len(array) + 1)
    lower = np.maximum(0, upper - window)
    total, count = sums[upper] - sums[lower], counts[upper] - counts[lower]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def smoothing_window(length: int) -> int:
    return max(1, round(SMOOTHING_FRACTION * length))


# --- Training curves --------------------------------------------------------------------------


def training_figures(runs: Sequence[RunSummary]) -> list[FigureImage]:
    """Losses, the Wasserstein estimate and gradient norms, for the panels any run has."""
    figures = []
    for name, title, panels, log_scale in (
        ("losses.png", "Losses", LOSS_PANELS, False),
        ("wasserstein.png", "Critic's Wasserstein estimate", WASSERSTEIN_PANELS, False),
        ("grad-norms.png", "Gradient norms", GRAD_NORM_PANELS, True),
    ):
        present = [p for p in panels if any(len(r.training.get(p[0], ())) for r in runs)]
        if present:
            png = _training_figure(runs, present, log_scale=log_scale)
            figures.append(FigureImage(name, title, _smoothing_caption(runs, present), png))
    return figures


def _smoothing_caption(runs: Sequence[RunSummary], panels: Sequence[tuple[str, str, str]]) -> str:
    longest = max(len(r.training.get(key, ())) for r in runs for key, _, _ in panels)
    window = smoothing_window(longest)
    if window == 1:
        return "Every logged step."
    return (
        f"Faint: every logged step; solid: moving average over the last {window} records "
        "(the window scales with each curve's length)."
    )


def _training_figure(
    runs: Sequence[RunSummary], panels: Sequence[tuple[str, str, str]], *, log_scale: bool
) -> bytes:
    figure, axes = _panel_grid(len(panels))
    colours = run_colours(runs)
    shown = set()
    for ax, (key, title, ylabel) in zip(axes, panels, strict=False):
        for i, (run, colour) in enumerate(zip(runs, colours, strict=True)):
            series = run.training.get(key)
            if series is not None and len(series):
                _plot_noisy(ax, series, colour=colour, label=run.name)
                shown.add(i)
        _style_axes(ax, title=title, xlabel=STEP_LABEL, ylabel=ylabel)
        if log_scale and _all_positive(ax):
            ax.set_yscale("log")
    _finish(figure, runs, shown)
    return _png(figure)


def _plot_noisy(ax, series: Series, *, colour: str, label: str) -> None:
    steps, values = np.asarray(series.steps), np.asarray(series.values, dtype=np.float64)
    window = smoothing_window(len(values))
    if window == 1:
        ax.plot(steps, values, color=colour, linewidth=1.4, label=label)
        return
    ax.plot(steps, values, color=colour, linewidth=0.7, alpha=0.25)
    ax.plot(steps, moving_average(values, window), color=colour, linewidth=1.6, label=label)


def _all_positive(ax) -> bool:
    data = [line.get_ydata() for line in ax.get_lines()]
    values = np.concatenate([np.asarray(d, dtype=np.float64) for d in data]) if data else []
    finite = values[np.isfinite(values)] if len(values) else values
    return len(finite) > 0 and bool((finite > 0).all())


# --- Evaluation curves ------------------------------------------------------------------------


def metric_figures(runs: Sequence[RunSummary]) -> list[FigureImage]:
    """One figure per logged evaluation metric (``<features>/<metric>``): vs step and vs time."""
    names = sorted({(f, m) for r in runs for f, metrics in r.evaluation.items() for m in metrics})
    return [_metric_figure(runs, features, metric) for features, metric in names]


def _metric_figure(runs: Sequence[RunSummary], features: str, metric: str) -> FigureImage:
    figure, (by_step, by_time) = _panel_grid(2)
    colours = run_colours(runs)
    series_by_run = [
        (r, c, r.evaluation.get(features, {}).get(metric))
        for r, c in zip(runs, colours, strict=True)
    ]
    times = [t for _, _, s in series_by_run if s is not None for t in s.times if math.isfinite(t)]
    scale, unit = _time_unit(max(times, default=0.0))
    shown = {i for i, (_, _, series) in enumerate(series_by_run) if series is not None}
    for run, colour, series in series_by_run:
        if series is None:
            continue
        steps = np.asarray(series.steps)
        minutes = np.asarray(series.times, dtype=np.float64) / scale
        for ax, x in ((by_step, steps), (by_time, minutes)):
            _plot_with_interval(ax, x, series, colour=colour, label=run.name)
    ylabel = metric_label(metric)
    direction = metric_direction(metric)
    _style_axes(by_step, title=f"{ylabel} vs step", xlabel=STEP_LABEL, ylabel=ylabel)
    _style_axes(by_time, title=f"{ylabel} vs time", xlabel=f"training time ({unit})", ylabel=ylabel)
    _finish(figure, runs, shown)
    caption = f"{ylabel} on {features} features at each evaluation during training"
    if direction:
        caption += f" ({direction})"
    if any(s is not None and s.has_interval for _, _, s in series_by_run):
        caption += "; bands: 95 % bootstrap confidence intervals"
    elif any(s is not None and s.spread is not None for _, _, s in series_by_run):
        caption += "; bands: ± one standard deviation over subsets"
    name = f"metric-{safe_file_name(features)}-{safe_file_name(metric)}.png"
    return FigureImage(name, f"{ylabel} ({features})", caption + ".", _png(figure))


def _plot_with_interval(ax, x: np.ndarray, series: Series, *, colour: str, label: str) -> None:
    values = np.asarray(series.values, dtype=np.float64)
    low = high = None
    if series.has_interval:
        low = np.asarray(series.low, dtype=np.float64)
        high = np.asarray(series.high, dtype=np.float64)
    elif series.spread is not None:
        spread = np.asarray(series.spread, dtype=np.float64)
        low, high = values - spread, values + spread
    if low is not None:
        ax.fill_between(x, low, high, color=colour, alpha=0.18, linewidth=0)
    ax.plot(x, values, color=colour, linewidth=1.6, marker="o", markersize=3.5, label=label)


def _time_unit(longest_seconds: float) -> tuple[float, str]:
    """A divisor and unit that keep the time axis readable: s, min or h."""
    if longest_seconds < 120:
        return 1.0, "s"
    if longest_seconds < 2 * 3600:
        return 60.0, "min"
    return 3600.0, "h"


# --- Sample grids -----------------------------------------------------------------------------


def sample_strip_figure(run: RunSummary, index: int, *, count: int = 5) -> FigureImage | None:
    """The run's sample grids at a few evenly spaced steps and the last one, side by side.

    Returns None when the run has no sample grid yet. ``index`` is the run's position, which
    makes the file name unique even when two runs share a folder name.
    """
    from PIL import Image

    grids = pick_sample_steps(run.samples, count=count)
    if not grids:
        return None
    images = []
    for grid in grids:
        with Image.open(grid.path) as image:
            images.append(np.asarray(image.convert("RGB")))
    height = max(image.shape[0] for image in images)
    width = sum(image.shape[1] for image in images)
    # Drawn at (close to) the grids' own resolution, so pixels stay sharp.
    scale = min(1.0, 1800 / width)
    figure = _figure((width * scale / DPI + 0.2 * len(images), height * scale / DPI + 0.45))
    for i, (grid, image) in enumerate(zip(grids, images, strict=True)):
        ax = figure.add_subplot(1, len(images), i + 1)
        ax.imshow(image, interpolation="nearest")
        ax.set_title(_grid_title(grid, run), fontsize=9)
        ax.set_axis_off()
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.9, wspace=0.05)
    name = f"samples-{index + 1}-{safe_file_name(run.name)}.png"
    caption = "Samples from one fixed noise batch at evenly spaced steps and the last step."
    return FigureImage(name, f"Samples of {run.name}", caption, _png(figure))


def _grid_title(grid: SampleGrid, run: RunSummary) -> str:
    return f"step {grid.step}" + (" (last)" if grid.step == run.samples[-1].step else "")


# --- Memorisation ------------------------------------------------------------------------------


def closest_pairs_figure(pairs: ClosestPairs, run: RunSummary, index: int) -> FigureImage:
    """The closest generated/training pairs of a memorisation evaluation, one pair per column:
    generated above, its nearest training image below, the feature distance over each pair
    (red when below the copy threshold τ, i.e. counted as a copy)."""
    count = len(pairs.distances)
    figure = _figure((1.1 * count + 0.3, 2.7))
    for i in range(count):
        for row, images in enumerate((pairs.generated, pairs.training)):
            ax = figure.add_subplot(2, count, row * count + i + 1)
            image = images[i].transpose(1, 2, 0)
            grey = image.shape[2] == 1
            ax.imshow(
                image[..., 0] if grey else image,
                cmap="gray" if grey else None,
                vmin=0,
                vmax=255,
                interpolation="nearest",
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                copy = pairs.distances[i] < pairs.threshold
                ax.set_title(
                    f"{pairs.distances[i]:.3g}", fontsize=8, color="#c0392b" if copy else "#333333"
                )
            if i == 0:
                ax.set_ylabel("generated" if row == 0 else "training", fontsize=8)
    figure.subplots_adjust(left=0.06, right=0.99, bottom=0.02, top=0.86, wspace=0.08, hspace=0.1)
    name = f"closest-pairs-{index + 1}-{safe_file_name(run.name)}-{pairs.evaluation}.png"
    caption = (
        f"The {count} generated images of {run.name} closest to a training image of "
        f"{pairs.reference} in feature space (distance above each; red: below the copy "
        f"threshold τ = {pairs.threshold:.3g}, so counted as a copy). Memorised fraction "
        f"{pairs.fraction:.4f}."
    )
    return FigureImage(
        name, f"Closest generated/training pairs of {run.name}", caption, _png(figure)
    )


# --- Matplotlib plumbing ----------------------------------------------------------------------


def _figure(size: tuple[float, float]):
    return new_figure(size, dpi=DPI)


def _panel_grid(count: int):
    columns = min(count, PANELS_PER_ROW)
    rows = math.ceil(count / columns)
    figure = _figure((PANEL_WIDTH * columns, PANEL_HEIGHT * rows + 0.4))
    axes = [figure.add_subplot(rows, columns, i + 1) for i in range(count)]
    return figure, axes


def _style_axes(ax, *, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=10, loc="left", color="#222222")
    ax.set_xlabel(xlabel, fontsize=8.5, color="#444444")
    ax.set_ylabel(ylabel, fontsize=8.5, color="#444444")
    ax.tick_params(labelsize=8, colors="#444444")
    ax.grid(True, color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#999999")
    if not ax.get_lines() and not ax.collections:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color="#999999")


def _finish(figure, runs: Sequence[RunSummary], shown: set[int]) -> None:
    """A legend above the panels: the runs (by position) with data in the figure, in run order."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=colour, linewidth=2.0, label=run.name)
        for i, (run, colour) in enumerate(zip(runs, run_colours(runs), strict=True))
        if i in shown
    ]
    figure.legend(
        handles=handles,
        loc="upper left",
        ncol=min(len(handles), 4),
        frameon=False,
        fontsize=8.5,
        bbox_to_anchor=(0.01, 1.0),
    )
    # Room at the top for the legend: about 0.3 inch per row of four entries.
    legend_rows = math.ceil(len(handles) / 4)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.3 * legend_rows / figure.get_figheight()))


def _png(figure) -> bytes:
    return figure_bytes(figure, dpi=DPI, facecolor="white")


__all__ = [
    "PALETTE",
    "FigureImage",
    "metric_direction",
    "metric_figures",
    "metric_label",
    "moving_average",
    "run_colours",
    "safe_file_name",
    "sample_strip_figure",
    "training_figures",
]

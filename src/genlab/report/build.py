"""`write_report`: run folders in, an HTML page, a Markdown summary and figure PNGs out.

Every run is read (and checked) before anything is written, so a bad argument leaves no half
report behind; every file is written atomically (`genlab.fileio.atomic_write_bytes`).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import genlab
from genlab.errors import GenlabError
from genlab.fileio import atomic_write_bytes
from genlab.report.collect import DEFAULT_LIPSCHITZ_POINTS, RunSummary, collect_run
from genlab.report.figures import (
    FigureImage,
    closest_pairs_figure,
    metric_figures,
    sample_strip_figure,
    training_figures,
)
from genlab.report.html import render_html
from genlab.report.markdown import render_markdown

DEFAULT_OUT = Path("report.html")
#: Suffix of the default figure folder beside the page: ``report.html`` -> ``report_files/``.
FIGURES_SUFFIX = "_files"


@dataclass(frozen=True)
class ReportFiles:
    """What `write_report` wrote."""

    html: Path
    markdown: Path
    figures: tuple[Path, ...]


def write_report(
    runs: Sequence[str | os.PathLike],
    *,
    out: str | os.PathLike = DEFAULT_OUT,
    figures_dir: str | os.PathLike | None = None,
    lipschitz: bool = True,
    lipschitz_points: int = DEFAULT_LIPSCHITZ_POINTS,
    data_dir: str | None = None,
    title: str | None = None,
) -> ReportFiles:
    """Write the report of ``runs`` to ``out`` (HTML), ``out`` with ``.md`` and ``figures_dir``.

    Parameters
    ----------
    runs
        Run folders, shown in this order (colours follow it).
    out
        The HTML page; the Markdown summary goes beside it with the suffix ``.md``.
    figures_dir
        Folder for the figure PNGs (default: ``<out stem>_files`` beside ``out``).
    lipschitz, lipschitz_points, data_dir
        Whether and how to bound each GAN critic's Lipschitz constant (see `collect_run`).
    title
        The page title (default: ``genlab report: <run names>``).

    Raises
    ------
    GenlabError
        For no runs, a path that is not a run folder, or an output that cannot be written.
    """
    if not runs:
        raise GenlabError("no run folders given; pass one or more, e.g. genlab report runs/00000-*")
    out_path = Path(out)
    figures_path = (
        Path(figures_dir)
        if figures_dir is not None
        else out_path.with_name(out_path.stem + FIGURES_SUFFIX)
    )
    markdown_path = out_path.with_suffix(".md")
    _check_output(out_path, figures_path)
    summaries = [
        collect_run(run, lipschitz=lipschitz, lipschitz_points=lipschitz_points, data_dir=data_dir)
        for run in runs
    ]
    title = title or "genlab report: " + ", ".join(summary.name for summary in summaries)
    generated = (
        f"generated {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} "
        f"by genlab {genlab.__version__}"
    )
    training = training_figures(summaries)
    metrics = metric_figures(summaries)
    samples = [sample_strip_figure(summary, i) for i, summary in enumerate(summaries)]
    pairs = [
        closest_pairs_figure(found, summary, i)
        for i, summary in enumerate(summaries)
        for found in summary.closest_pairs
    ]
    written = _write_figures(
        figures_path, [*training, *metrics, *(s for s in samples if s), *pairs]
    )
    markdown = render_markdown(
        summaries,
        training=training,
        metrics=metrics,
        samples=samples,
        pairs=pairs,
        figures_link=_relative_link(figures_path, markdown_path.parent),
        title=title,
        generated=generated,
    )
    page = render_html(
        summaries, training=training, metrics=metrics, pairs=pairs, title=title, generated=generated
    )
    _write(markdown_path, markdown.encode("utf-8"))
    _write(out_path, page.encode("utf-8"))
    return ReportFiles(html=out_path, markdown=markdown_path, figures=tuple(written))


def _check_output(out: Path, figures: Path) -> None:
    if out.is_dir():
        raise GenlabError(
            f"--out {out} is a folder; pass a file name such as {out / 'report.html'}"
        )
    if out.suffix.lower() not in (".html", ".htm"):
        raise GenlabError(f"--out {out} should end in .html; the Markdown summary gets .md")
    for folder in (out.parent, figures):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GenlabError(
                f"cannot create the folder {folder} ({exc.strerror}); pass --out (or --figures) "
                "in a writable place"
            ) from exc
        if not os.access(folder, os.W_OK | os.X_OK):
            raise GenlabError(
                f"the folder {folder} is not writable; pass --out (or --figures) somewhere writable"
            )


def _write(path: Path, data: bytes) -> None:
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise GenlabError(
            f"cannot write {path} ({exc.strerror or exc}); pass --out in a writable place"
        ) from exc


def _write_figures(folder: Path, figures: Sequence[FigureImage]) -> list[Path]:
    paths = []
    for figure in figures:
        path = folder / figure.name
        _write(path, figure.png)
        paths.append(path)
    return paths


def _relative_link(target: Path, start: Path) -> str:
    """``target`` relative to ``start`` with forward slashes (absolute if on another drive)."""
    try:
        relative = os.path.relpath(target.resolve(), start.resolve())
    except ValueError:
        relative = str(target.resolve())
    return Path(relative).as_posix()


__all__ = ["DEFAULT_OUT", "ReportFiles", "RunSummary", "write_report"]

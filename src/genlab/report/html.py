"""The report as one self-contained HTML5 page: inline CSS, images as ``data:`` URIs, no script.

Everything the page needs travels inside it, so it can be mailed, attached to an issue or opened
offline. All text from run folders (names, options, error notes) is escaped with `html.escape`.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Sequence
from pathlib import Path

from genlab.report.collect import RunSummary, pick_sample_steps
from genlab.report.figures import FigureImage, run_colours
from genlab.report.tables import (
    Row,
    evaluation_heading,
    evaluation_rows,
    is_headline,
    lipschitz_rows,
    overview_rows,
)
from genlab.runs import EVALUATIONS_DIR

_NUMERIC = re.compile(r"[-+0-9.eE ±,\[\]—]+(?: s| min| h)?")

#: Sample grids shown per run: evenly spaced steps, the last one included.
SAMPLE_STEPS_SHOWN = 5

STYLE = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #e3e6ec; --panel: #f7f8fa; --accent: #2f5d9e; }
* { box-sizing: border-box; }
body { margin: 0; background: #ffffff; color: var(--ink);
  font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 28px 56px; }
header { border-bottom: 3px solid var(--accent); padding-bottom: 12px; margin-bottom: 8px; }
h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 8px; }
p { margin: 6px 0; }
.meta, .note, figcaption, .evalhead { color: var(--muted); font-size: 13px; }
.evalhead { margin: 12px 0 0; }
.note { font-style: italic; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
thead th { background: var(--panel); border-bottom: 2px solid var(--line); font-weight: 600; }
tbody th { font-weight: 500; color: var(--muted); white-space: nowrap; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.headline td, tr.headline th { font-weight: 700; color: var(--ink); }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px;
  margin-right: 6px; vertical-align: baseline; }
.path { display: block; font-weight: 400; color: var(--muted); font-size: 12px;
  word-break: break-all; }
figure { margin: 0 0 22px; }
figure img { max-width: 100%; height: auto; display: block; }
.plot { background: #ffffff; border: 1px solid var(--line); border-radius: 6px; padding: 8px;
  width: fit-content; max-width: 100%; }
.strip { display: flex; flex-wrap: wrap; gap: 12px; }
.strip figure { flex: 1 1 0; min-width: 120px; max-width: 280px; margin: 0; }
/* Grid cells are about 64 px (samples.py), so shown here they are downscaled: keep smoothing. */
.grid img, .strip img { width: 100%; border: 1px solid var(--line); border-radius: 3px; }
table.samples { table-layout: fixed; width: 100%; }
table.samples td { text-align: center; }
table.samples figure { margin: 0 auto; max-width: 240px; }
.empty { color: var(--muted); font-style: italic; padding: 18px 0; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


def render_html(
    runs: Sequence[RunSummary],
    *,
    training: Sequence[FigureImage],
    metrics: Sequence[FigureImage],
    title: str,
    generated: str,
    pairs: Sequence[FigureImage] = (),
) -> str:
    """The whole page for ``runs`` with the given training and evaluation figures.

    ``pairs`` are the closest generated/training pairs of memorisation evaluations; their
    section shows only when there are any (or notes on why they are missing).
    """
    colours = run_colours(runs)
    sections = [
        _header(title, generated, runs),
        _section("Runs", _overview_table(runs, colours)),
        _section("Samples", _samples(runs, colours)),
        _section("Training", _figures(training, "no training records logged yet")),
        _section(
            "Evaluation during training",
            _figures(metrics, "no evaluation records in metrics.jsonl"),
        ),
        _section("Final evaluation", _final_evaluations(runs, colours)),
        *_memorisation(runs, pairs),
        _section("Lipschitz constant of the critic", _lipschitz(runs, colours)),
        f"<footer>{_e(generated)}. Every image is embedded in this page.</footer>",
    ]
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="genlab">\n<title>{_e(title)}</title>\n'
        f"<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def png_data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI holding ``png``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _section(title: str, content: str) -> str:
    return f"<section>\n<h2>{_e(title)}</h2>\n{content}\n</section>"


def _header(title: str, generated: str, runs: Sequence[RunSummary]) -> str:
    count = f"{len(runs)} run" + ("s" if len(runs) != 1 else "")
    return (
        f"<header>\n<h1>{_e(title)}</h1>\n"
        f'<p class="meta">{_e(count)} · {_e(generated)}</p>\n</header>'
    )


def _run_label(run: RunSummary, colour: str) -> str:
    return f'<span class="swatch" style="background:{_e(colour)}"></span>{_e(run.name)}'


def _row_table(
    runs: Sequence[RunSummary], colours: Sequence[str], rows: Sequence[Row], *, first: str
) -> str:
    head = "".join(
        f'<th scope="col">{_run_label(run, colour)}<span class="path">{_e(run.path)}</span></th>'
        for run, colour in zip(runs, colours, strict=True)
    )
    body = []
    for label, values in rows:
        css = ' class="headline"' if is_headline(label) else ""
        cells = "".join(_cell(value) for value in values)
        body.append(f'<tr{css}><th scope="row">{_e(label)}</th>{cells}</tr>')
    return (
        f'<table>\n<thead><tr><th scope="col">{_e(first)}</th>{head}</tr></thead>\n'
        f"<tbody>\n{chr(10).join(body)}\n</tbody>\n</table>"
    )


def _cell(value: str) -> str:
    # Numbers keep to one line and line up; prose (notes, errors) wraps.
    css = ' class="num"' if _NUMERIC.fullmatch(value) else ""
    return f"<td{css}>{_e(value)}</td>"


def _overview_table(runs: Sequence[RunSummary], colours: Sequence[str]) -> str:
    return _row_table(runs, colours, overview_rows(runs), first="option")


def _image(png: bytes, alt: str) -> str:
    width, height = _png_size(png)
    return (
        f'<img src="{png_data_uri(png)}" alt="{_e(alt)}" width="{width}" height="{height}" '
        'loading="eager">'
    )


def _png_size(png: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return image.size


def _grid_figure(run: RunSummary, step: int, path: Path) -> str:
    last = run.samples and step == run.samples[-1].step
    caption = f"step {step}" + (" (last)" if last else "")
    image = _image(path.read_bytes(), f"samples of {run.name} at step {step}")
    return f"<figure>{image}<figcaption>{_e(caption)}</figcaption></figure>"


def _samples(runs: Sequence[RunSummary], colours: Sequence[str]) -> str:
    picked = [pick_sample_steps(run.samples, count=SAMPLE_STEPS_SHOWN) for run in runs]
    intro = (
        '<p class="note">Generated from one fixed noise batch, so the same cell shows the same '
        "latent vector at every step.</p>\n"
    )
    if len(runs) == 1:
        if not picked[0]:
            return intro + '<p class="empty">no samples yet</p>'
        figures = "".join(_grid_figure(runs[0], g.step, g.path) for g in picked[0])
        return intro + f'<div class="strip">{figures}</div>'
    head = "".join(
        f'<th scope="col">{_run_label(run, colour)}</th>'
        for run, colour in zip(runs, colours, strict=True)
    )
    rows = []
    for i in range(max(1, *(len(p) for p in picked))):
        cells = []
        for run, grids in zip(runs, picked, strict=True):
            if i < len(grids):
                cells.append(f"<td>{_grid_figure(run, grids[i].step, grids[i].path)}</td>")
            elif i == 0:
                cells.append('<td class="empty">no samples yet</td>')
            else:
                cells.append("<td></td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        intro + f'<table class="samples grid">\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{chr(10).join(rows)}\n</tbody>\n</table>"
    )


def _figures(figures: Sequence[FigureImage], empty: str) -> str:
    if not figures:
        return f'<p class="empty">{_e(empty)}</p>'
    parts = []
    for figure in figures:
        parts.append(
            f"<h3>{_e(figure.title)}</h3>\n"
            f'<figure class="plot">{_image(figure.png, figure.title)}'
            f"<figcaption>{_e(figure.caption)}</figcaption></figure>"
        )
    return "\n".join(parts)


def _memorisation(runs: Sequence[RunSummary], pairs: Sequence[FigureImage]) -> list[str]:
    notes = [note for run in runs for note in run.closest_pairs_notes]
    if not pairs and not notes:
        return []
    content = _figures(pairs, "no closest pairs to show")
    content += "".join(f'<p class="empty">{_e(note)}</p>' for note in notes)
    return [_section("Memorisation: closest generated/training pairs", content)]


def _final_evaluations(runs: Sequence[RunSummary], colours: Sequence[str]) -> str:
    parts = []
    for run, colour in zip(runs, colours, strict=True):
        parts.append(f"<h3>{_run_label(run, colour)}</h3>")
        if not run.evaluations:
            parts.append(
                f'<p class="empty">no final evaluation in {_e(run.path / EVALUATIONS_DIR)}</p>'
            )
            continue
        for evaluation in run.evaluations:
            rows = "".join(
                f'<tr><th scope="row">{_e(name)}</th><td class="num">{_e(value)}</td>'
                f'<td class="num">{_e(interval)}</td></tr>'
                for name, value, interval in evaluation_rows(evaluation)
            )
            parts.append(
                f'<p class="evalhead">{_e(evaluation_heading(evaluation))}</p>\n<table>\n'
                '<thead><tr><th scope="col">metric</th><th scope="col">value</th>'
                f'<th scope="col">95% CI</th></tr></thead>\n<tbody>{rows}</tbody>\n</table>'
            )
            if evaluation.reading:
                parts.append(f'<p class="verdict">verdict: {_e(evaluation.reading)}</p>')
    return "\n".join(parts)


def _lipschitz(runs: Sequence[RunSummary], colours: Sequence[str]) -> str:
    rows = lipschitz_rows(runs)
    if not rows:
        notes = "; ".join(f"{run.name}: {run.lipschitz_note}" for run in runs)
        return f'<p class="empty">no bounds ({_e(notes)})</p>'
    intro = (
        '<p class="note">Lower bounds are achieved ratios (L is at least this); upper bounds '
        "hold for every input (L is at most this). The gradient penalty pushes ‖∇f‖ towards 1; "
        "weight clipping only guarantees some finite L.</p>\n"
    )
    return intro + _row_table(runs, colours, rows, first="bound")


__all__ = ["STYLE", "png_data_uri", "render_html"]

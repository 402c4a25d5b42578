"""The report as Markdown: the same tables, with links to the figure PNGs written beside it.

For terminals, READMEs and issue comments. Image links are relative to the Markdown file, so the
summary and its figure folder can be moved together.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from genlab.report.collect import RunSummary
from genlab.report.figures import FigureImage
from genlab.report.tables import (
    Row,
    evaluation_heading,
    evaluation_rows,
    lipschitz_rows,
    overview_rows,
)


def render_markdown(
    runs: Sequence[RunSummary],
    *,
    training: Sequence[FigureImage],
    metrics: Sequence[FigureImage],
    samples: Sequence[FigureImage | None],
    figures_link: str,
    title: str,
    generated: str,
    pairs: Sequence[FigureImage] = (),
) -> str:
    """The Markdown summary; ``figures_link`` is the figure folder relative to the file.

    ``samples`` holds one sample-strip figure (or None) per run, in run order.
    """
    names = [run.name for run in runs]
    lines = [f"# {_text(title)}", "", f"_{_text(generated)}_", "", "## Runs", ""]
    lines += _table(["option", *names], overview_rows(runs))
    lines += ["## Samples", ""]
    for run, strip in zip(runs, samples, strict=True):
        lines += [f"### {_text(run.name)}", ""]
        lines += [_image(strip, figures_link) if strip else "_no samples yet_", ""]
    lines += ["## Training", ""]
    lines += _figures(training, figures_link, "_no training records logged yet_")
    lines += ["## Evaluation during training", ""]
    lines += _figures(metrics, figures_link, "_no evaluation records in metrics.jsonl_")
    lines += ["## Final evaluation", ""]
    for run in runs:
        lines += [f"### {_text(run.name)}", ""]
        if not run.evaluations:
            lines += ["_no final evaluation_", ""]
        for evaluation in run.evaluations:
            lines += [f"**{_text(evaluation_heading(evaluation))}**", ""]
            if evaluation.reading:
                lines += [f"Verdict: {_text(evaluation.reading)}", ""]
            rows = [
                (name, [value, interval]) for name, value, interval in evaluation_rows(evaluation)
            ]
            lines += _table(["metric", "value", "95% CI"], rows)
    notes = [note for run in runs for note in run.closest_pairs_notes]
    if pairs or notes:
        lines += ["## Memorisation: closest generated/training pairs", ""]
        lines += _figures(pairs, figures_link, "_no closest pairs to show_")
        lines += [f"_{_text(note)}_\n" for note in notes]
    lines += ["## Lipschitz constant of the critic", ""]
    rows = lipschitz_rows(runs)
    if rows:
        lines += _table(["bound", *names], rows)
    else:
        lines += [
            "_no bounds: " + _text("; ".join(f"{r.name}: {r.lipschitz_note}" for r in runs)) + "_",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


def _text(value: object) -> str:
    """Plain text safe inside a Markdown table cell or heading (pipes, newlines, markup)."""
    text = " ".join(str(value).split())
    # Underscores are left alone: inside words (n_critic) CommonMark does not read them as emphasis.
    for char in ("\\", "|", "*", "`", "[", "]", "<", ">"):
        text = text.replace(char, "\\" + char)
    return text


def _table(header: Sequence[str], rows: Sequence[Row]) -> list[str]:
    lines = [
        "| " + " | ".join(_text(h) for h in header) + " |",
        "|" + "|".join([" --- "] + [" ---: "] * (len(header) - 1)) + "|",
    ]
    for label, values in rows:
        lines.append("| " + " | ".join(_text(cell) for cell in (label, *values)) + " |")
    return [*lines, ""]


def _image(figure: FigureImage, figures_link: str) -> str:
    target = quote(f"{figures_link}/{figure.name}")
    return f"![{_text(figure.title)}]({target})"


def _figures(figures: Sequence[FigureImage], figures_link: str, empty: str) -> list[str]:
    if not figures:
        return [empty, ""]
    lines = []
    for figure in figures:
        lines += [f"### {_text(figure.title)}", "", _image(figure, figures_link), ""]
        lines += [_text(figure.caption), ""]
    return lines


__all__ = ["render_markdown"]

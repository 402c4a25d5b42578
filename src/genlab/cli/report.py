"""``genlab report``: one page with sample grids, curves and tables for one or more runs."""

from __future__ import annotations

import click

from genlab.report.collect import DEFAULT_LIPSCHITZ_POINTS


@click.command(context_settings={"show_default": True})
@click.argument("runs", nargs=-1, type=click.Path())
@click.option(
    "--out",
    default="report.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The HTML page; the Markdown summary goes beside it as .md.",
)
@click.option(
    "--figures",
    "figures_dir",
    type=click.Path(file_okay=False),
    help="Folder for the figure PNGs (default: <out stem>_files beside --out).",
)
@click.option("--title", help="Page title (default: the run names).")
@click.option(
    "--no-lipschitz",
    is_flag=True,
    help="Do not compute the critics' Lipschitz bounds (a run's lipschitz.json is still shown).",
)
@click.option(
    "--lipschitz-points",
    type=click.IntRange(min=2),
    default=DEFAULT_LIPSCHITZ_POINTS,
    show_default=True,
    help="Real and generated points for the Lipschitz lower bounds.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="Folder of data sets for the Lipschitz bounds, if not the runs' own.",
)
def report(
    runs: tuple[str, ...],
    out: str,
    figures_dir: str | None,
    title: str | None,
    no_lipschitz: bool,
    lipschitz_points: int,
    data_dir: str | None,
) -> None:
    """Write an HTML report (and a Markdown summary with PNG figures) of the run folders RUNS.

    The page shows each run's options, sample grids over training, loss, Wasserstein-estimate and
    gradient-norm curves, metrics logged during training, final evaluations (RUN/evaluations/*.json)
    with confidence intervals, and Lipschitz bounds of GAN critics (RUN/lipschitz.json, or
    computed). Several runs are shown side by side, one colour each.
    """
    from genlab.report import write_report

    written = write_report(
        list(runs),
        out=out,
        figures_dir=figures_dir,
        lipschitz=not no_lipschitz,
        lipschitz_points=lipschitz_points,
        data_dir=data_dir,
        title=title,
    )
    click.echo(f"report:   {written.html}")
    click.echo(f"summary:  {written.markdown}")
    folder = written.figures[0].parent if written.figures else None
    click.echo(f"figures:  {len(written.figures)} PNG files" + (f" in {folder}" if folder else ""))

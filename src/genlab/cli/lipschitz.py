"""``genlab lipschitz``: lower and upper bounds on a trained critic's Lipschitz constant."""

from __future__ import annotations

from pathlib import Path

import click

from genlab.fileio import write_json


@click.command(context_settings={"show_default": True})
@click.argument("run", type=click.Path(exists=True))
@click.option(
    "--lipschitz-points",
    type=click.IntRange(min=2),
    default=256,
    help="Real and generated points for the lower bounds.",
)
@click.option(
    "--data-dir", type=click.Path(file_okay=False), help="Folder of data sets, if not the run's."
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), help="Also write the bounds as JSON."
)
# The name before --lipschitz-points (the name of `genlab report`), kept working for old scripts.
@click.option(
    "--points", type=click.IntRange(min=2), hidden=True, deprecated="Use --lipschitz-points."
)
def lipschitz(
    run: str,
    lipschitz_points: int,
    data_dir: str | None,
    json_path: str | None,
    points: int | None,
) -> None:
    """Bound the Lipschitz constant of RUN's critic (a run folder or checkpoint file).

    Lower bounds come from gradient norms and difference quotients at real and generated points
    (and points optimised to make them large); upper bounds from the product of the layers'
    spectral norms and, for a weight-clipped critic, the closed form Π c·sqrt(m·n).
    """
    from genlab.training.inspect import critic_lipschitz_report

    points = lipschitz_points if points is None else points
    report = critic_lipschitz_report(Path(run), points=points, data_dir=data_dir)
    click.echo(format_report(report))
    if json_path:
        write_json(Path(json_path), report)


def format_report(report: dict) -> str:
    from genlab.divergences import lipschitz as keys

    lines = [f"critic of {report['source']} (Lipschitz method: {report['method']})", ""]
    lower = [k for k in report if k.startswith("lower_") and k != keys.LOWER_BOUND]
    for key in lower:
        lines.append(f"  {key:<30} {report[key]:.6g}")
    lines.append(f"  {'LOWER BOUND':<30} {report[keys.LOWER_BOUND]:.6g}")
    if report[keys.UPPER_BOUND] is None:
        lines.append(f"  upper bound unavailable: {report[keys.UPPER_BOUND_ERROR]}")
        return "\n".join(lines)
    lines.append(f"  {keys.UPPER_SPECTRAL_PRODUCT:<30} {report[keys.UPPER_SPECTRAL_PRODUCT]:.6g}")
    if report[keys.UPPER_CLIP] is not None:
        lines.append(f"  {keys.UPPER_CLIP:<30} {report[keys.UPPER_CLIP]:.6g}")
    lines.append(f"  {'UPPER BOUND':<30} {report[keys.UPPER_BOUND]:.6g}")
    return "\n".join(lines)

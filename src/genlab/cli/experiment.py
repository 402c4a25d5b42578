"""``genlab experiment``: the lecture's demonstrations, one subcommand each."""

from __future__ import annotations

import click


@click.group()
def experiment() -> None:
    """Run one of the lecture's experiments and write its numbers (JSON) and figure (PNG)."""


@experiment.command("parallel-lines")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="runs/experiments/parallel-lines",
    show_default=True,
    help="Folder for parallel_lines.json and parallel_lines.png.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--quick", is_flag=True, help="Short settings (seconds instead of a minute).")
def parallel_lines(out: str, seed: int, quick: bool) -> None:
    """KL, JS and W1 between the parallel lines P_0 and P_θ, and GAN vs WGAN training of θ.

    Arjovsky et al. (2017), Example 1: KL = +∞ and JS = log 2 for every θ ≠ 0, W1 = |θ|.
    """
    from genlab.experiments.parallel_lines import run_parallel_lines, save_parallel_lines

    result = run_parallel_lines(seed=seed, quick=quick)
    paths = save_parallel_lines(result, out)
    for key, value in result.summary().items():
        click.echo(f"{key}: {value:.6g}" if isinstance(value, float) else f"{key}: {value}")
    click.echo(f"took {result.seconds:.1f} s")
    click.echo(f"wrote {paths['json']}")
    click.echo(f"wrote {paths['figure']}")

"""``genlab experiment``: the lecture's demonstrations, one subcommand each."""

from __future__ import annotations

from pathlib import Path

import click


@click.group(context_settings={"show_default": True})
def experiment() -> None:
    """Run one of the lecture's experiments and write its numbers (JSON) and figure (PNG)."""


def _common_options(name: str, quick_help: str):
    """--out (default runs/experiments/NAME), --seed and --quick, shared by every experiment."""

    def decorate(command):
        command = click.option("--quick", is_flag=True, help=quick_help)(command)
        command = click.option(
            "--seed", type=int, default=0, show_default=True, help="Random seed."
        )(command)
        return click.option(
            "--out",
            type=click.Path(file_okay=False),
            default=f"runs/experiments/{name}",
            show_default=True,
            help="Folder for the JSON of numbers, the figure and any training runs.",
        )(command)

    return decorate


@experiment.command("parallel-lines")
@_common_options("parallel-lines", "Short settings (seconds instead of a minute).")
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


@experiment.command("toy")
@_common_options("toy", "100 steps and one data set: a smoke run.")
@click.option("--steps", type=int, default=2000, show_default=True, help="Generator steps per run.")
def toy(out: str, steps: int, seed: int, quick: bool) -> None:
    """GAN, WGAN (clipping) and WGAN-GP on 8 Gaussians, 25 Gaussians and the swiss roll.

    The figure shows generated points and the critic's value surface for each pair, as in
    Gulrajani et al. (2017), figure 2; the JSON gives the exact W1 to the data for each.
    """
    from genlab.experiments.toy import DATASETS, run_toy_experiment

    datasets = DATASETS[:1] if quick else DATASETS
    steps = 100 if quick else steps

    def show(run) -> None:
        click.echo(
            f"{run.dataset:<12} {run.method:<18} W1 = {run.w1_generated_vs_real:.4f}  "
            f"critic estimate = {run.critic_estimate:.4g}  ({run.seconds:.0f} s)"
        )

    run_toy_experiment(out, steps=steps, seed=seed, datasets=datasets, progress=show)
    click.echo(f"wrote {out}/toy.json and {out}/toy.png")


@experiment.command("clipping")
@_common_options("clipping", "200 steps and one data set: a smoke run.")
@click.option("--steps", type=int, default=1000, show_default=True, help="Critic steps per fit.")
@click.option("--mnist", is_flag=True, help="Also fit critics on flattened MNIST images (short).")
@click.option(
    "--data-dir", type=click.Path(file_okay=False), help="Folder of data sets, for --mnist."
)
def clipping(
    out: str, steps: int, seed: int, quick: bool, mnist: bool, data_dir: str | None
) -> None:
    """Weight clipping (c = 0.001, 0.01, 0.1) against gradient penalty and spectral norm.

    For a critic trained to optimality on each toy set: its W1 estimate beside the exact W1, lower
    and upper bounds on its Lipschitz constant, and the histogram of its weights.
    """
    from genlab.experiments.clipping import DATASETS, run_clipping_experiment

    datasets = (DATASETS[:1] if quick else DATASETS) + (("mnist",) if mnist else ())
    steps = 200 if quick else steps
    click.echo(
        f"{'data':<12} {'method':<17} {'exact W1':>9} {'estimate':>10} {'L lower':>9} "
        f"{'L upper':>9} {'est/L_up':>9}"
    )

    def show(row) -> None:
        click.echo(
            f"{row.dataset:<12} {row.method:<17} {row.exact_w1:>9.4f} {row.critic_estimate:>10.3g} "
            f"{row.lipschitz_lower:>9.3g} {row.lipschitz_upper:>9.3g} "
            f"{row.certified_w1_lower_bound:>9.4f}"
        )

    run_clipping_experiment(
        out, steps=steps, seed=seed, datasets=datasets, data_dir=data_dir, progress=show
    )
    click.echo(f"wrote {out}/clipping.json and {out}/clipping.png")


@experiment.command("compare")
@_common_options("compare", "Seconds per model, one seed, small samples: a smoke run.")
@click.option(
    "--minutes",
    type=float,
    default=5.0,
    show_default=True,
    help="Training time per run (5: the Wasserstein models need it to draw digits).",
)
@click.option("--seeds", type=int, default=3, show_default=True, help="Seeds per model.")
@click.option(
    "--models",
    default="all",
    show_default=True,
    help="Comma-separated subset of: vae, gan-minimax, gan-ns, wgan-clip-0.01, "
    "wgan-clip-0.001, wgan-gp, sngan, gan-ns-100 (trained on 100 images).",
)
@click.option("--n", type=int, default=2000, show_default=True, help="Samples, classifier metrics.")
@click.option(
    "--inception-n", type=int, default=300, show_default=True, help="Samples, Inception metrics."
)
@click.option(
    "--eval-seconds",
    type=float,
    default=30.0,
    show_default=True,
    help="Training seconds between classifier-FID evaluations (the curves).",
)
@click.option("--data-dir", type=click.Path(file_okay=False), help="Folder of data sets.")
def compare(
    out: str,
    seed: int,
    quick: bool,
    minutes: float,
    seeds: int,
    models: str,
    n: int,
    inception_n: int,
    eval_seconds: float,
    data_dir: str | None,
) -> None:
    """VAE, GAN (minimax, non-saturating), WGAN (clip 0.01, 0.001), WGAN-GP and SN-GAN on MNIST.

    Each model trains for the same minutes on the same networks, for several seeds, and is
    evaluated with FID (Inception and classifier), KID, precision/recall, density/coverage,
    digits covered, the classifier two-sample test, a held-out critic's W1, the Vendi score,
    the memorised fraction (against the run's own training images) and, for the VAE,
    reconstruction error. A GAN trained on only 100 images is the memorising contestant.
    Rerunning with the same --out keeps finished runs and resumes an interrupted one.
    """
    from genlab.experiments.compare.runner import run_compare
    from genlab.experiments.compare.spec import MODELS, CompareSettings

    chosen = tuple(MODELS) if models == "all" else tuple(m.strip() for m in models.split(","))
    settings = CompareSettings(
        minutes=minutes,
        seeds=tuple(range(seed, seed + seeds)),
        models=chosen,
        n=n,
        inception_n=inception_n,
        eval_seconds=eval_seconds,
        data_dir=data_dir,
    )
    if quick:
        settings = CompareSettings(
            minutes=0.05,
            seeds=(seed,),
            models=chosen,
            n=200,
            inception_n=16,
            eval_seconds=1.0,
            eval_n=200,
            limit=1000,
            data_dir=data_dir,
            ci_resamples=20,
        )
    run_compare(out, settings, progress=click.echo)
    click.echo((Path(out) / "compare.md").read_text())
    written = ("compare.json", "compare.md", "report.html", "grids.png", "fid_vs_time.png")
    for name in (*written, "wasserstein_vs_fid.png"):
        click.echo(f"wrote {Path(out) / name}")

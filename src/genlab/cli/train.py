"""``genlab train``: start a run from a preset, or resume one."""

from __future__ import annotations

from pathlib import Path

import click

from genlab.training.config import PRESETS, TrainConfig


def _preset_help() -> str:
    return "; ".join(f"{name}: {preset.description}" for name, preset in PRESETS.items())


def _default(field: str, *, gan_only: bool = False) -> str:
    """``[default: X]`` for options whose default is the preset's, e.g. ``wgan 5e-05, …``.

    Computed from `TrainConfig` and `PRESETS`, so the help never drifts from the code;
    ``gan_only`` leaves out the VAE, which has no critic.
    """
    base = TrainConfig().to_flat()
    by_value: dict[str, list[str]] = {}
    for name, preset in PRESETS.items():
        if gan_only and preset.overrides.get("kind") == "vae":
            continue
        text = _plain(preset.overrides.get(field, base[field]))
        by_value.setdefault(text, []).append(name)
    if len(by_value) == 1:
        return f"[default: {next(iter(by_value))}]"
    parts = [f"{'/'.join(names)} {text}" for text, names in by_value.items()]
    return f"[default: {', '.join(parts)}]"


def _plain(value: object) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_plain(item) for item in value) + ")"
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


@click.command(
    epilog="Presets — " + _preset_help(),
    context_settings={"show_default": True},
)
@click.option("--preset", default="wgan-gp", type=click.Choice(sorted(PRESETS)), help="Settings.")
@click.option(
    "--data",
    default="digits",
    help="Data set (digits, mnist, cifar10, cifar10-jpeg, 8gaussians, 25gaussians, swissroll) "
    "or a folder/.zip/.tar/.npz path.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="Folder of data sets (default: $GENLAB_DATA_DIR, else the user cache).",
)
@click.option("--limit", type=int, help="Use only the first N training images.  [default: all]")
@click.option(
    "--steps",
    type=int,
    help="Generator (or VAE) steps; with --resume, the total to reach.  [default: 1000, "
    "wgan-gp on digits 1500; no ceiling with --minutes]",
)
@click.option(
    "--minutes",
    type=float,
    help="Time budget: stop after this many minutes of training (with --resume, the total).  "
    "[default: none]",
)
@click.option("--seed", type=int, help="Random seed.  [default: 0]")
@click.option(
    "--out", type=click.Path(file_okay=False), help="Run folder (default: runs/NNNNN-PRESET-DATA)."
)
@click.option(
    "--resume",
    type=click.Path(exists=True, file_okay=False),
    help="Continue this run folder from its newest checkpoint.",
)
@click.option(
    "--batch-size",
    type=int,
    help="Images per batch; under torchrun the global batch, split evenly over the processes.  "
    + _default("batch_size"),
)
@click.option(
    "--arch",
    type=click.Choice(["mlp", "dcgan", "resnet"]),
    help="Networks (default: mlp below 16 px and for points, else dcgan).",
)
@click.option(
    "--width",
    type=int,
    help="Base channel count of the convolutional networks.  " + _default("width"),
)
@click.option("--latent-dim", type=int, help="Dimension of z.  " + _default("latent_dim"))
@click.option(
    "--objective",
    type=click.Choice(["minimax", "non-saturating", "wasserstein", "hinge"]),
    help="Override the preset's adversarial loss.  " + _default("objective", gan_only=True),
)
@click.option(
    "--lipschitz",
    type=click.Choice(["none", "clip", "gp", "sn"]),
    help="Override the preset's Lipschitz method.  " + _default("lipschitz", gan_only=True),
)
@click.option(
    "--clip",
    type=float,
    help="Weight-clipping value c, with --lipschitz clip (WGAN: 0.01; the lecture: 0.001).  "
    + _default("clip", gan_only=True),
)
@click.option(
    "--gp-weight",
    type=float,
    help="Gradient-penalty weight λ.  " + _default("gp_weight", gan_only=True),
)
@click.option(
    "--gp-every",
    type=int,
    help="Lazy gradient penalty: apply it on every k-th critic step only, weighted by k "
    "(StyleGAN2's lazy regularisation).  " + _default("gp_every", gan_only=True),
)
@click.option(
    "--n-critic",
    type=int,
    help="Critic steps per generator step.  " + _default("n_critic", gan_only=True),
)
@click.option(
    "--lr",
    type=float,
    help="Learning rate of both networks.  "
    + _default("lr_generator").replace("]", "; wgan-gp on digits 0.0003]"),
)
@click.option(
    "--ema",
    type=float,
    help="Generator EMA decay, e.g. 0.999 (0: off), warmed up as min(d, (1+t)/(10+t)) at step t."
    "  [default: 0; 0.99 for wgan-gp on digits and the GAN presets on MNIST]",
)
@click.option(
    "--lr-decay",
    type=click.Choice(["none", "linear"]),
    help="Learning-rate schedule: constant, or linear to 0 over the --steps or --minutes budget.  "
    + _default("lr_decay"),
)
@click.option(
    "--likelihood",
    type=click.Choice(["gaussian", "bernoulli"]),
    help="VAE likelihood.  [default: gaussian]",
)
@click.option("--beta", type=float, help="VAE KL weight β.  [default: 1]")
@click.option("--sample-every", type=int, help="Steps between sample grids.  [default: 200]")
@click.option("--checkpoint-every", type=int, help="Steps between checkpoints.  [default: 500]")
@click.option("--log-every", type=int, help="Steps between metric records.  [default: 10]")
@click.option(
    "--eval-every",
    help="Evaluate N samples against held-out images every so many steps (500) or seconds of "
    "training (30s, 2m); logged as FEATURES/METRIC in metrics.jsonl.  [default: off]",
)
@click.option("--eval-n", type=int, help="Samples per evaluation.  [default: 2000]")
@click.option(
    "--eval-metrics",
    help="Comma-separated metrics of `genlab eval`, e.g. fid,kid,pr.  [default: fid]",
)
@click.option(
    "--eval-features",
    help="Extractor (default: classifier-mnist for MNIST, cheap; else inception).",
)
@click.option("--eval-reference", help="Reference images (default: the data set's test split).")
@click.option(
    "--final-eval/--no-final-eval",
    "eval_final",
    default=None,
    help="After the last step, judge samples of the final generator against held-out images, "
    "beside two real sets (the floor), and print the verdict.  [default: on for digits and mnist]",
)
@click.option(
    "--deterministic", is_flag=True, default=None, help="Use deterministic algorithms only."
)
@click.option(
    "--device",
    help="torch device, e.g. cuda (under torchrun: each process its GPU).  [default: cpu]",
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16", "auto"]),
    help="Forward passes in float32, or under bfloat16 autocast (weights stay float32); auto: "
    "bf16 where the CPU has bf16 instructions (AVX512-BF16, AMX), else fp32.  "
    "[default: fp32; auto for the GAN presets on MNIST]",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--no-tensorboard", is_flag=True, help="Do not write TensorBoard scalars.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Two steps at batch 8 into a throwaway folder: checks the set-up end to end.",
)
def train(
    resume: str | None,
    lr: float | None,
    dry_run: bool,
    no_progress: bool,
    no_tensorboard: bool,
    **options,
) -> None:
    """Train a model; prints the run folder when done.

    \b
    genlab train                                   # WGAN-GP on the bundled digits
    genlab train --preset wgan --data mnist --steps 5000
    genlab train --preset wgan --clip 0.001        # the lecture's clip value
    genlab train --resume runs/00001-wgan-mnist --steps 10000
    torchrun --nproc_per_node 8 -m genlab train --device cuda --batch-size 512 ...
    """
    from genlab import distributed
    from genlab.training.config import resolve_config
    from genlab.training.trainer import Trainer

    if lr is not None:
        options["lr_generator"] = options["lr_critic"] = lr
    options["progress"] = False if no_progress else None
    options["tensorboard"] = False if no_tensorboard else None
    if resume:
        trainer = _resume(Path(resume), dry_run=dry_run, options=options)
    else:
        if dry_run:
            import tempfile

            options.update(steps=2, batch_size=8, sample_every=1, checkpoint_every=1, log_every=1)
            if not options["out"]:
                distributed.init()
                options["out"] = distributed.run_on_main(
                    lambda: tempfile.mkdtemp(prefix="genlab-dry-run-")
                )
        trainer = Trainer.start(resolve_config(options.pop("preset"), **options))
    run_dir = trainer.train()
    if distributed.is_main():
        click.echo(f"run folder: {run_dir}  (step {trainer.step}, {trainer.elapsed:.1f} s)")
    verdict = trainer.final_verdict()  # on every process: evaluation shares the work out
    if distributed.is_main():
        if verdict is not None:
            click.echo(str(verdict))
        report = _write_run_report(run_dir)
        _echo_next_steps(trainer, run_dir, report, verdict)


#: The page `genlab train` writes into the run folder at the end of a run.
REPORT_FILE = "report.html"


def _write_run_report(run_dir: Path) -> Path:
    """``RUN/report.html`` (with ``report.md`` and the figures in ``RUN/report_files``), as
    ``genlab report RUN --out RUN/report.html`` writes it."""
    from genlab.report import write_report

    return write_report([run_dir], out=Path(run_dir) / REPORT_FILE).html


def _echo_next_steps(trainer, run_dir: Path, report: Path, verdict) -> None:
    """The paths a user opens next and the commands that go on from here."""
    from genlab.runs import RunFolder
    from genlab.training.verdict import reproduce_command

    grids = RunFolder.open(run_dir).sample_grids()
    if grids:
        click.echo(f"samples:  {grids[-1][1]}")
    click.echo(f"report:   {report}")
    click.echo("next:")
    click.echo(f"  genlab sample {run_dir} --n 64 --out samples.npz --grid grid.png")
    if verdict is not None:
        click.echo(f"  {reproduce_command(verdict.plan, run_dir)}")
    else:
        click.echo(f"  genlab eval REFERENCE {run_dir} --n 1000")
    if trainer.config.tensorboard:
        click.echo(f"  tensorboard --logdir {Path(run_dir) / 'tensorboard'}")


def _resume(run_dir: Path, *, dry_run: bool, options: dict):
    """The trainer of ``run_dir`` continued with the options given on the command line.

    Only options typed by the user count as changes (a preset's or click's default does not);
    `Trainer.resume` refuses those that would define another run.
    """
    from genlab.errors import GenlabError
    from genlab.training.trainer import Trainer

    if dry_run:
        raise GenlabError("--dry-run starts a throwaway run; it cannot be combined with --resume")
    context = click.get_current_context()
    given = {
        key: value for key, value in options.items() if value is not None and _typed(context, key)
    }
    trainer = Trainer.resume(run_dir, **given)
    if trainer.finished():
        schedule = trainer.config.schedule
        if schedule.steps is not None and trainer.step >= schedule.steps:
            raise GenlabError(
                f"{run_dir} is at step {trainer.step} already and --steps is the total to reach; "
                f"pass a larger one, e.g. --steps {2 * trainer.step}"
            )
        raise GenlabError(
            f"{run_dir} has trained {trainer.elapsed / 60:.1f} min already, its --minutes "
            f"budget of {schedule.minutes:g}; --minutes is the total: pass a larger one"
        )
    return trainer


# Keys of `options` that are not click parameters of their own: set from another flag.
_SET_BY = {
    "lr_generator": "lr",
    "lr_critic": "lr",
    "progress": "no_progress",
    "tensorboard": "no_tensorboard",
}


def _typed(context: click.Context, key: str) -> bool:
    """Whether the user gave the flag behind ``key`` (rather than it taking its default)."""
    source = context.get_parameter_source(_SET_BY.get(key, key))
    return source in (
        click.core.ParameterSource.COMMANDLINE,
        click.core.ParameterSource.ENVIRONMENT,
    )

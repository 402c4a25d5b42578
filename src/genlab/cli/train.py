"""``genlab train``: start a run from a preset, or resume one."""

from __future__ import annotations

from pathlib import Path

import click

from genlab.training.config import PRESETS


def _preset_help() -> str:
    return "; ".join(f"{name}: {preset.description}" for name, preset in PRESETS.items())


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
@click.option("--limit", type=int, help="Use only the first N training images.")
@click.option(
    "--steps", type=int, help="Generator (or VAE) steps; with --resume, the total to reach."
)
@click.option("--minutes", type=float, help="Wall-clock budget: stop after this many minutes.")
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
    help="Images per batch; under torchrun the global batch, split evenly over the processes.",
)
@click.option(
    "--arch",
    type=click.Choice(["mlp", "dcgan", "resnet"]),
    help="Networks (default: mlp below 16 px and for points, else dcgan).",
)
@click.option("--width", type=int, help="Base channel count of the convolutional networks.")
@click.option("--latent-dim", type=int, help="Dimension of z.")
@click.option(
    "--objective",
    type=click.Choice(["minimax", "non-saturating", "wasserstein", "hinge"]),
    help="Override the preset's adversarial loss.",
)
@click.option(
    "--lipschitz",
    type=click.Choice(["none", "clip", "gp", "sn"]),
    help="Override the preset's Lipschitz method.",
)
@click.option(
    "--clip", type=float, help="Weight-clipping value c (WGAN: 0.01; the lecture: 0.001)."
)
@click.option("--gp-weight", type=float, help="Gradient-penalty weight λ.")
@click.option("--n-critic", type=int, help="Critic steps per generator step.")
@click.option("--lr", type=float, help="Learning rate of both networks.")
@click.option("--ema", type=float, help="Generator EMA decay, e.g. 0.999 (0: off).")
@click.option("--likelihood", type=click.Choice(["gaussian", "bernoulli"]), help="VAE likelihood.")
@click.option("--beta", type=float, help="VAE KL weight β.")
@click.option("--sample-every", type=int, help="Steps between sample grids.")
@click.option("--checkpoint-every", type=int, help="Steps between checkpoints.")
@click.option("--log-every", type=int, help="Steps between metric records.")
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
    "--deterministic", is_flag=True, default=None, help="Use deterministic algorithms only."
)
@click.option(
    "--device",
    help="torch device, e.g. cuda (under torchrun: each process its GPU).  [default: cpu]",
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16"]),
    help="Forward passes in float32, or under bfloat16 autocast (weights stay float32).  "
    "[default: fp32]",
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

    if options["eval_every"] is not None:
        steps, seconds = parse_eval_every(options["eval_every"])
        options.update(eval_every=steps, eval_every_seconds=seconds)
    if resume:
        trainer = Trainer.resume(Path(resume), steps=options["steps"])
    else:
        if lr is not None:
            options["lr_generator"] = options["lr_critic"] = lr
        options["progress"] = False if no_progress else None
        options["tensorboard"] = False if no_tensorboard else None
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


_TIME_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_eval_every(text: str) -> tuple[int, float]:
    """``"500"`` → (500 steps, 0 s); ``"30s"``, ``"2m"``, ``"1h"`` → (0 steps, seconds)."""
    from genlab.errors import GenlabError

    text = text.strip().lower()
    unit = _TIME_UNITS.get(text[-1:]) if text else None
    number = text[:-1] if unit else text
    try:
        value = float(number) if unit else int(number)
    except ValueError:
        raise GenlabError(
            f"--eval-every takes a number of steps (500) or a time (30s, 2m, 1h), got {text!r}"
        ) from None
    if value <= 0:
        raise GenlabError(f"--eval-every must be positive, got {text!r}")
    return (0, value * unit) if unit else (int(value), 0.0)

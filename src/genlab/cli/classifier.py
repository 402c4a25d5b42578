"""``genlab classifier``: train the domain classifiers (MNIST, 8×8 digits) and show the shipped
weights."""

from __future__ import annotations

from pathlib import Path

import click

from genlab.metrics.features import classifier as clf


@click.group(name="classifier", context_settings={"show_default": True})
def classifier() -> None:
    """The classifiers behind the classifier-mnist and classifier-digits features and mode
    coverage."""


_DATA_HELP = "Data set: mnist (classifier-mnist) or digits (classifier-digits, 8×8)."


def _recipe_default(field: str) -> str:
    """``[default: mnist 3, digits 40]``: each shipped classifier's value, from `clf.SHIPPED`."""
    values = ", ".join(f"{name} {getattr(entry, field)}" for name, entry in clf.SHIPPED.items())
    return f"  [default: {values}]"


@classifier.command(name="train", context_settings={"show_default": True})
@click.option(
    "--data", "dataset", type=click.Choice(sorted(clf.SHIPPED)), default="mnist", help=_DATA_HELP
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder holding mnist/ (default: $GENLAB_DATA_DIR, else the user cache).",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    help="Passes over the training images." + _recipe_default("epochs"),
)
@click.option("--seed", type=int, default=0, help="Seed of the initialisation and the shuffling.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    help="Images per step." + _recipe_default("batch_size"),
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    help="Adam's initial learning rate, decayed to 0 by a cosine."
    + _recipe_default("learning_rate"),
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Train on the first N training images only (quick smoke runs).",
)
@click.option(
    "--test-limit",
    type=click.IntRange(min=1),
    default=None,
    help="Evaluate on the first N test images only (quick smoke runs).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Weights file to write; its JSON metadata goes next to it.  "
    "[default: classifier-DATA.safetensors]",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
# The names before --lr and --limit (the names of `genlab train`), kept working for old scripts
# and the shipped weights' recorded command.
@click.option(
    "--learning-rate",
    type=click.FloatRange(min=0, min_open=True),
    hidden=True,
    deprecated="Use --lr.",
)
@click.option("--train-limit", type=click.IntRange(min=1), hidden=True, deprecated="Use --limit.")
def train(
    dataset: str,
    data_dir: Path | None,
    epochs: int | None,
    seed: int,
    batch_size: int | None,
    lr: float | None,
    limit: int | None,
    test_limit: int | None,
    out: Path | None,
    no_progress: bool,
    learning_rate: float | None,
    train_limit: int | None,
) -> None:
    """Train on a data set's train split and print the accuracy on its test split.

    MNIST: 60 000 train / 10 000 test images. digits: the first 1500 / the last 297 (held out).
    Writes the weights (safetensors) and their JSON metadata next to them, each atomically.
    """
    path, accuracy = clf.train_classifier(
        dataset=dataset,
        data_dir=data_dir,
        epochs=epochs,
        seed=seed,
        batch_size=batch_size,
        learning_rate=lr if learning_rate is None else learning_rate,
        train_limit=limit if train_limit is None else train_limit,
        test_limit=test_limit,
        out=out,
        progress=not no_progress,
    )
    click.echo(f"wrote {path} and {clf.metadata_path_for(path)}")
    click.echo(f"test accuracy: {accuracy:.4f}")


@classifier.command(name="info", context_settings={"show_default": True})
@click.option(
    "--data", "dataset", type=click.Choice(sorted(clf.SHIPPED)), default="mnist", help=_DATA_HELP
)
def info(dataset: str) -> None:
    """Show the shipped weights and their verified SHA-256.

    Also prints their test accuracy and the command that reproduces them.
    """
    from genlab.metrics.features.registry import get_extractor

    shipped = clf.SHIPPED[dataset]
    path = shipped.weights_path
    extractor = get_extractor(shipped.name)  # loads and verifies against the pinned SHA-256
    metadata = clf.read_metadata(path)
    click.echo(f"path: {path}")
    click.echo(f"sha256: {extractor.sha256} (verified)")
    accuracy = metadata.get(clf.JSON_TEST_ACCURACY)
    click.echo(f"test accuracy: {accuracy:.4f}" if accuracy is not None else "test accuracy: ?")
    click.echo(f"features: {extractor.dim} (penultimate layer)")
    click.echo(f"reproduce: {metadata.get(clf.JSON_COMMAND, '?')}")

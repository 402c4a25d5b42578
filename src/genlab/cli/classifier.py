"""``genlab classifier``: train the MNIST domain classifier and show the shipped weights."""

from __future__ import annotations

from pathlib import Path

import click

from genlab.metrics.features import classifier as clf


@click.group(name="classifier", context_settings={"show_default": True})
def classifier() -> None:
    """The MNIST classifier behind the classifier-mnist features and mode coverage."""


@classifier.command(name="train", context_settings={"show_default": True})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder holding mnist/ (default: $GENLAB_DATA_DIR, else the user cache).",
)
@click.option(
    "--epochs", type=click.IntRange(min=1), default=3, help="Passes over the training images."
)
@click.option("--seed", type=int, default=0, help="Seed of the initialisation and the shuffling.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, help="Images per step.")
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    default=1e-3,
    help="Adam's initial learning rate, decayed to 0 by a cosine.",
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
    default=Path(clf.WEIGHTS_FILENAME),
    help="Weights file to write; its JSON metadata goes next to it.",
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
    data_dir: Path | None,
    epochs: int,
    seed: int,
    batch_size: int,
    lr: float,
    limit: int | None,
    test_limit: int | None,
    out: Path,
    no_progress: bool,
    learning_rate: float | None,
    train_limit: int | None,
) -> None:
    """Train on MNIST and print the test accuracy.

    Writes the weights (safetensors) and their JSON metadata next to them, each atomically.
    """
    path, accuracy = clf.train_classifier(
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
def info() -> None:
    """Show the shipped weights and their verified SHA-256.

    Also prints their test accuracy and the command that reproduces them.
    """
    path = clf.shipped_weights_path()
    extractor = clf.ClassifierExtractor()  # loads and verifies against the pinned SHA-256
    metadata = clf.read_metadata(path)
    click.echo(f"path: {path}")
    click.echo(f"sha256: {extractor.sha256} (verified)")
    accuracy = metadata.get(clf.JSON_TEST_ACCURACY)
    click.echo(f"test accuracy: {accuracy:.4f}" if accuracy is not None else "test accuracy: ?")
    click.echo(f"features: {extractor.dim} (penultimate layer)")
    click.echo(f"reproduce: {metadata.get(clf.JSON_COMMAND, '?')}")

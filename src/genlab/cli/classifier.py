"""``genlab classifier``: train the MNIST domain classifier and show the shipped weights."""

from __future__ import annotations

from pathlib import Path

import click

from genlab.metrics.features import classifier as clf


@click.group(name="classifier")
def classifier() -> None:
    """The MNIST classifier behind the classifier-mnist features and mode coverage."""


@classifier.command(name="train")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder holding mnist/ (default: $GENLAB_DATA_DIR, else the user cache).",
)
@click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option(
    "--learning-rate",
    type=click.FloatRange(min=0, min_open=True),
    default=1e-3,
    show_default=True,
    help="Adam's initial rate, decayed to 0 by a cosine.",
)
@click.option(
    "--train-limit",
    type=click.IntRange(min=1),
    default=None,
    help="Train on the first N images only (quick smoke runs).",
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
    show_default=True,
    help="Weights file to write; its JSON metadata goes next to it.",
)
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def train(
    data_dir: Path | None,
    epochs: int,
    seed: int,
    batch_size: int,
    learning_rate: float,
    train_limit: int | None,
    test_limit: int | None,
    out: Path,
    progress: bool,
) -> None:
    """Train on MNIST and print the test accuracy.

    Writes the weights (safetensors) and their JSON metadata next to them, each atomically.
    """
    path, accuracy = clf.train_classifier(
        data_dir=data_dir,
        epochs=epochs,
        seed=seed,
        batch_size=batch_size,
        learning_rate=learning_rate,
        train_limit=train_limit,
        test_limit=test_limit,
        out=out,
        progress=progress,
    )
    click.echo(f"wrote {path} and {clf.metadata_path_for(path)}")
    click.echo(f"test accuracy: {accuracy:.4f}")


@classifier.command(name="info")
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

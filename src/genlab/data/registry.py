"""The registered data sets: names, descriptions, splits and loaders.

Specs that name them (``mnist``, ``mnist:test``) are parsed, with paths, by
`genlab.data.sources.parse_spec`, which also owns ``load_dataset`` (still importable from here).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from genlab.data import cifar10, digits, mnist
from genlab.data.base import ImageDataset
from genlab.errors import GenlabError

DEFAULT_SPLIT = "train"


@dataclass(frozen=True)
class RegisteredDataset:
    """A named data set: ``load(split, data_dir, limit)`` returns an `ImageDataset`."""

    name: str
    description: str
    splits: tuple[str, ...]
    load: Callable[[str, str | os.PathLike | None, int | None], ImageDataset]


def _limited(dataset: ImageDataset, limit: int | None) -> ImageDataset:
    return dataset if limit is None else dataset.subset(limit)


# Loaders look their function up on the module at call time, so tests can substitute one.
_REGISTRY: dict[str, RegisteredDataset] = {
    entry.name: entry
    for entry in (
        RegisteredDataset(
            "digits",
            "scikit-learn's 8×8 handwritten digits, 1×8×8, bundled (no download): 1500 train / "
            "297 test (the last 297 of the 1797); digits:all is the 1797",
            digits.DIGITS_SPLITS,
            lambda split, data_dir, limit: _limited(digits.load_digits_dataset(split), limit),
        ),
        RegisteredDataset(
            "mnist",
            "MNIST digits: 60000 train / 10000 test, 1×28×28; downloaded, SHA-256 checked",
            ("train", "test"),
            lambda split, data_dir, limit: _limited(
                mnist.load_mnist(split, data_dir=data_dir), limit
            ),
        ),
        RegisteredDataset(
            "cifar10",
            "CIFAR-10: 50000 train / 10000 test, 3×32×32; python archive downloaded, "
            "SHA-256 checked",
            ("train", "test"),
            lambda split, data_dir, limit: _limited(
                cifar10.load_cifar10(split, data_dir=data_dir), limit
            ),
        ),
        RegisteredDataset(
            "cifar10-jpeg",
            "CIFAR-10 from a local tar of JPEGs, 3×32×32; lossy, so FIDs are not comparable to "
            "published CIFAR-10 ones",
            ("train", "test"),
            lambda split, data_dir, limit: cifar10.load_cifar10_jpeg(
                split, data_dir=data_dir, limit=limit
            ),
        ),
    )
}


def list_datasets() -> list[str]:
    """Names of the registered data sets, sorted."""
    return sorted(_REGISTRY)


def describe_datasets() -> dict[str, str]:
    """Registered name -> one-line description."""
    return {name: _REGISTRY[name].description for name in list_datasets()}


def dataset_splits(name: str) -> tuple[str, ...]:
    """The splits of the registered data set ``name``; an unknown name lists the known ones."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise GenlabError(f"unknown data set {name!r}; registered: {', '.join(list_datasets())}")
    return entry.splits


def load_registered(
    name: str, split: str, data_dir: str | os.PathLike | None, limit: int | None
) -> ImageDataset:
    """The first ``limit`` images (all when None) of split ``split`` of the data set ``name``."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise GenlabError(f"unknown data set {name!r}; registered: {', '.join(list_datasets())}")
    if split not in entry.splits:
        raise GenlabError(f"{name} has no split {split!r}; use one of {list(entry.splits)}")
    return entry.load(split, data_dir, limit)

"""One entry point for every image source: a registered name, ``name:split``, or a path.

``load_dataset("mnist")``, ``load_dataset("mnist:test")``, ``load_dataset("digits")``,
``load_dataset("path/to/folder", size=64)``, ``load_dataset("images.zip")``,
``load_dataset("samples.npz")`` all return an `ImageDataset` of uint8 N×C×H×W images.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from genlab.data import cifar10, digits, mnist
from genlab.data.base import ImageDataset
from genlab.data.folder import load_image_folder
from genlab.data.imageio import read_npz
from genlab.data.toy import list_toy
from genlab.errors import GenlabError

# Options `load_image_folder` takes besides ``limit``; accepted for paths only.
FOLDER_OPTIONS = ("mode", "size", "resize", "on_error", "subdir", "max_pixels", "name")
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
            "scikit-learn's 8×8 handwritten digits: 1797 images, 1×8×8, bundled (no download)",
            ("train",),
            lambda split, data_dir, limit: _limited(digits.load_digits_dataset(), limit),
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


def _split_spec(spec: str, split: str) -> tuple[str, str] | None:
    """(name, split) when ``spec`` names a registered data set, else None (then it is a path)."""
    if spec in _REGISTRY:
        return spec, split
    name, colon, spec_split = spec.partition(":")
    if colon and name in _REGISTRY:
        return name, spec_split
    return None


def _closest_name(spec: str) -> str:
    """``did you mean 'mnist'? `` for a near miss of a registered name (``minst:test``)."""
    name, colon, split = spec.partition(":")
    close = difflib.get_close_matches(name, [*list_datasets(), *list_toy()], n=1)
    return f"did you mean {close[0] + colon + split!r}? " if close else ""


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise GenlabError(f"limit must be a positive integer or None, got {limit!r}")


def _load_path(spec: str, split: str, limit: int | None, folder_options: dict) -> ImageDataset:
    path = Path(spec).expanduser()
    if not path.exists():
        raise GenlabError(
            f"unknown data set {spec!r}: {_closest_name(spec)}not a registered name "
            f"({', '.join(list_datasets())}) and no such file or folder; a path to a folder of "
            "images, .zip, .tar or .npz works too"
        )
    if split != DEFAULT_SPLIT:
        raise GenlabError(
            f"split={split!r} applies to registered data sets only; for {path} pick a subfolder "
            "with subdir=..."
        )
    if path.is_file() and path.suffix.lower() == ".npz":
        if folder_options:
            raise GenlabError(
                f"{path}: options {sorted(folder_options)} apply to image folders, not .npz files"
            )
        return _limited(ImageDataset(read_npz(path), name=str(path)), limit)
    return load_image_folder(path, limit=limit, **folder_options)


def load_dataset(
    spec: str | os.PathLike,
    *,
    split: str = DEFAULT_SPLIT,
    data_dir: str | os.PathLike | None = None,
    limit: int | None = None,
    **folder_options: object,
) -> ImageDataset:
    """Load a registered data set or the images at a path, as uint8 N×C×H×W.

    Parameters
    ----------
    spec
        A registered name (`list_datasets`), optionally with a split (``"mnist:test"``, which
        overrides ``split``), or a path to a folder of images, a .zip, a .tar or an .npz.
    split
        ``"train"`` or ``"test"`` for registered data sets.
    data_dir
        Where registered data sets live (see `genlab.data.dirs.resolve_data_dir`).
    limit
        Keep only the first ``limit`` images, in the source's fixed order.
    **folder_options
        For folders and archives only: ``mode``, ``size``, ``resize``, ``on_error``, ``subdir``,
        ``max_pixels``, ``name`` of `genlab.data.folder.load_image_folder`.
    """
    _check_limit(limit)
    unknown = sorted(set(folder_options) - set(FOLDER_OPTIONS))
    if unknown:
        raise GenlabError(f"unknown option(s) {unknown}; folder options are {list(FOLDER_OPTIONS)}")
    spec = os.fspath(spec)
    named = _split_spec(spec, split)
    if named is None:
        return _load_path(spec, split, limit, folder_options)
    name, split = named
    entry = _REGISTRY[name]
    if folder_options:
        raise GenlabError(
            f"options {sorted(folder_options)} apply to image folders, not to the registered "
            f"data set {name!r}"
        )
    if split not in entry.splits:
        raise GenlabError(f"{name} has no split {split!r}; use one of {list(entry.splits)}")
    return entry.load(split, data_dir, limit)

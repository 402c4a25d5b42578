"""The one grammar of image-source specs, and the `Source` interface every kind of source offers.

`parse_spec` turns what a user types (``--data``, the two sides of ``genlab eval``, an evaluation
reference) into a `SourceSpec`, a parsed spec that says which kind of source it names:

=============================  ==================  ============================================
spec                           kind                opened by
=============================  ==================  ============================================
``mnist``, ``mnist:test``      ``"dataset"``       `DatasetSource` (`genlab.data.registry`)
folder of images               ``"folder"``        `FolderSource` (`genlab.data.folder`)
``.zip``, ``.tar[.gz|...]``    ``"archive"``       `FolderSource` (`genlab.data.containers`)
``images.npz``                 ``"npz"``           `NpzSource` (`genlab.data.imageio.read_npz`)
run folder, ``checkpoint.pt``  ``"run"``           a higher layer (`genlab.metrics.sources`)
``stats.npz``                  ``"statistics"``    a higher layer (`genlab.metrics.sources`)
=============================  ==================  ============================================

A registered name wins over a file of the same name. The data layer knows only data: registered
data sets, folders, archives and .npz files of images. Higher layers (runs, statistics files) plug
their kinds in by passing `PathKind` records to `parse_spec`, which checks them before the data
kinds (a checkpoint ``.pt`` is also a zip file; a statistics ``.npz`` is also an ``.npz``). They
are passed per call rather than registered globally so that a spec never parses differently
depending on which modules happen to have been imported: `load_dataset` reads data only, and a run
folder given to it is read as the folder of images it is.

Every `Source` has an `Source.identity` — a JSON-serialisable dict of everything about the source
that changes the images it yields — which the feature cache hashes into its keys:

- data set: name, split and the number of images taken (the files are SHA-256 checked on load);
- folder or archive: the absolute path and a SHA-256 over every file's relative path, size and
  modification time (an edited, added or removed file changes it), and N;
- .npz: the SHA-256 of the file's bytes, and N;
- images in memory: the SHA-256 of the image bytes, and N.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from genlab.arrays import check_integer
from genlab.data.base import ImageDataset
from genlab.data.containers import container_kind
from genlab.data.download import cached_sha256
from genlab.data.folder import ImageFolder, load_image_folder
from genlab.data.imageio import check_uint8_images, read_npz
from genlab.data.registry import DEFAULT_SPLIT, list_datasets, load_registered
from genlab.data.toy import list_toy
from genlab.errors import GenlabError, closest

#: Kinds of spec the data layer opens itself.
DATASET = "dataset"
FOLDER = "folder"
ARCHIVE = "archive"
NPZ = "npz"

#: Identity keys shared by every source kind.
KIND = "kind"
COUNT = "n"

# Options `load_image_folder` takes besides ``limit``; accepted by `load_dataset` for paths only.
FOLDER_OPTIONS = ("mode", "size", "resize", "on_error", "subdir", "max_pixels", "name")

_DATA_FORMS = "a folder of images, a .zip or .tar of images, an .npz of uint8 images"


# ---------------------------------------------------------------------------------------------
# The grammar


@dataclass(frozen=True)
class PathKind:
    """A kind of path a higher layer reads (a run folder, a statistics file), for `parse_spec`.

    Attributes
    ----------
    name : str
        The `SourceSpec.kind` a claimed path gets, e.g. ``"run"``.
    claims : callable
        ``claims(path) -> bool`` for an existing path; checked before the data kinds.
    form : str
        How the accepted form reads in error messages, e.g. ``"a run folder or checkpoint .pt"``.
    """

    name: str
    claims: Callable[[Path], bool]
    form: str


@dataclass(frozen=True)
class SourceSpec:
    """A parsed spec: its text, its kind, and the name and split or the path it names.

    ``split`` is None when a data set spec gives none (``"mnist"``), so the caller's default
    applies; ``path`` is None for data sets.
    """

    text: str
    kind: str
    name: str | None = None
    split: str | None = None
    path: Path | None = None


def closest_name(spec: str) -> str:
    """``did you mean 'mnist'? `` for a near miss of a registered name (``minst:test``)."""
    name, colon, split = spec.partition(":")
    close = closest(name, [*list_datasets(), *list_toy()])
    return f"did you mean {close + colon + split!r}? " if close else ""


def _accepted(kinds: Sequence[PathKind]) -> str:
    forms = ", ".join([_DATA_FORMS, *(kind.form for kind in kinds)])
    return f"pass a data set name[:split] ({', '.join(list_datasets())}) or a path to {forms}"


def parse_spec(spec: str | os.PathLike, *, kinds: Sequence[PathKind] = ()) -> SourceSpec:
    """The kind of source ``spec`` names (see the module docstring), without reading any images.

    Parameters
    ----------
    spec
        A registered data set name, optionally ``name:split``, or a path.
    kinds
        Kinds of path a higher layer reads, checked in order before the data kinds.

    Raises
    ------
    GenlabError
        If the spec is neither a registered name nor an existing path (with the closest registered
        name, when one is close), or the path is no kind of source known here.
    """
    text = os.fspath(spec)
    name, colon, split = text.partition(":")
    if name in list_datasets():
        return SourceSpec(text, DATASET, name=name, split=split if colon else None)
    path = Path(text).expanduser()
    if not path.exists():
        raise GenlabError(
            f"unknown source {text!r}: {closest_name(text)}not a registered data set and no such "
            f"file or folder; {_accepted(kinds)}"
        )
    for kind in kinds:
        if kind.claims(path):
            return SourceSpec(text, kind.name, path=path)
    if path.is_dir():
        return SourceSpec(text, FOLDER, path=path)
    if path.suffix.lower() == ".npz":
        return SourceSpec(text, NPZ, path=path)
    if container_kind(path) is not None:
        return SourceSpec(text, ARCHIVE, path=path)
    raise GenlabError(
        f"{text}: not a folder, .zip or .tar archive, nor another kind of file genlab reads; "
        f"{_accepted(kinds)}"
    )


# ---------------------------------------------------------------------------------------------
# The eager loader: a spec to one in-memory data set


def _limited(dataset: ImageDataset, limit: int | None) -> ImageDataset:
    return dataset if limit is None else dataset.subset(limit)


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
    check_integer(limit, "limit", or_none=True)
    unknown = sorted(set(folder_options) - set(FOLDER_OPTIONS))
    if unknown:
        raise GenlabError(f"unknown option(s) {unknown}; folder options are {list(FOLDER_OPTIONS)}")
    parsed = parse_spec(spec)
    if parsed.kind == DATASET:
        if folder_options:
            raise GenlabError(
                f"options {sorted(folder_options)} apply to image folders, not to the registered "
                f"data set {parsed.name!r}"
            )
        return load_registered(
            parsed.name, split if parsed.split is None else parsed.split, data_dir, limit
        )
    if split != DEFAULT_SPLIT:
        raise GenlabError(
            f"split={split!r} applies to registered data sets only; for {parsed.path} pick a "
            "subfolder with subdir=..."
        )
    if parsed.kind == NPZ:
        if folder_options:
            raise GenlabError(
                f"{parsed.path}: options {sorted(folder_options)} apply to image folders, not .npz "
                "files"
            )
        return _limited(ImageDataset(read_npz(parsed.path), name=str(parsed.path)), limit)
    return load_image_folder(parsed.path, limit=limit, **folder_options)


# ---------------------------------------------------------------------------------------------
# Sources: count, batches, identity


class Source(ABC):
    """Where images (or precomputed statistics) for one side of an evaluation come from.

    Attributes
    ----------
    spec : str
        The spec as the user gave it.
    kind : str
        ``"dataset"``, ``"folder"``, ``"npz"``, ``"images"``, or a higher layer's kind.
    """

    kind: str = ""
    #: Whether extracted features may go to the on-disk cache (not for one-off in-memory images).
    cacheable: bool = True

    def __init__(self, spec: str) -> None:
        self.spec = spec

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything that changes what this source yields, JSON-serialisable (for cache keys)."""

    @property
    @abstractmethod
    def count(self) -> int:
        """Number of images `batches` yields (for statistics: the n they were computed from)."""

    @abstractmethod
    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        """uint8 N×C×H×W batches of at most ``batch_size`` images, always in the same order."""

    def describe(self) -> str:
        """One line for reports: the spec and the number of images."""
        return f"{self.spec} ({self.count} images)"

    def images(self) -> torch.Tensor:
        """All images at once (for small sources and tests); prefer `batches` for large ones."""
        return torch.cat(list(self.batches(1024)))


def _check_enough(spec: str, available: int, wanted: int | None) -> None:
    if wanted is not None and available < wanted:
        raise GenlabError(
            f"{spec} has {available} images but {wanted} were asked for; pass --n {available} "
            "or fewer, or a larger source"
        )


def _slices(images: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    check_integer(batch_size, "batch_size")
    for start in range(0, images.shape[0], batch_size):
        yield images[start : start + batch_size]


class DatasetSource(Source):
    """A registered data set split; the first ``n`` images (all when ``n`` is None)."""

    kind = DATASET

    def __init__(
        self,
        spec: str,
        *,
        name: str,
        split: str,
        n: int | None = None,
        data_dir: str | os.PathLike | None = None,
    ) -> None:
        super().__init__(spec)
        self.name, self.split, self.n = name, split, n
        self.data_dir = data_dir

    @cached_property
    def dataset(self) -> ImageDataset:
        dataset = load_registered(self.name, self.split, self.data_dir, self.n)
        _check_enough(f"{self.name}:{self.split}", len(dataset), self.n)
        return dataset

    def identity(self) -> dict[str, Any]:
        # The data set files are verified by SHA-256 when loaded, so name + split + count is
        # the content; data_dir only says where the verified bytes lie.
        return {KIND: self.kind, "name": self.name, "split": self.split, COUNT: self.count}

    @property
    def count(self) -> int:
        return len(self.dataset)

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        return _slices(self.dataset.images, batch_size)

    def describe(self) -> str:
        return f"{self.name}:{self.split} ({self.count} images)"


class FolderSource(Source):
    """Images in a folder, .zip or .tar, decoded on demand in batches.

    Archives keep the identity kind ``"folder"`` they always had, so cached features stay valid.
    """

    kind = FOLDER

    def __init__(self, spec: str, *, path: Path, n: int | None = None) -> None:
        super().__init__(spec)
        self.path, self.n = path.resolve(), n

    @cached_property
    def folder(self) -> ImageFolder:
        folder = ImageFolder(self.path, limit=self.n)
        _check_enough(str(self.path), len(folder), self.n)
        return folder

    def identity(self) -> dict[str, Any]:
        return {
            KIND: self.kind,
            "path": str(self.path),
            "files_sha256": _listing_digest(self.path),
            COUNT: self.count,
        }

    @property
    def count(self) -> int:
        return len(self.folder)

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        check_integer(batch_size, "batch_size")
        folder = self.folder
        for start in range(0, len(folder), batch_size):
            stop = min(start + batch_size, len(folder))
            yield torch.stack([folder[index][0] for index in range(start, stop)])


def _listing_digest(path: Path) -> str:
    """SHA-256 over (relative path, size, mtime in ns) of every file below ``path``, sorted.

    Cheaper than hashing every image's bytes (one ``stat`` per file), and any edit that changes
    a file's size or modification time, or adds or removes a file, changes the digest.
    """
    digest = hashlib.sha256()
    if path.is_file():
        entries = [(path.name, path.stat())]
    else:
        entries = sorted(
            (file.relative_to(path).as_posix(), file.stat())
            for file in path.rglob("*")
            if file.is_file()
        )
    for name, info in entries:
        digest.update(f"{name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


class NpzSource(Source):
    """uint8 images in an .npz file (`genlab.data.imageio.read_npz`); the first ``n``."""

    kind = NPZ

    def __init__(self, spec: str, *, path: Path, n: int | None = None) -> None:
        super().__init__(spec)
        self.path, self.n = path.resolve(), n

    @cached_property
    def _images(self) -> torch.Tensor:
        images = read_npz(self.path)
        _check_enough(str(self.path), images.shape[0], self.n)
        return images if self.n is None else images[: self.n]

    def identity(self) -> dict[str, Any]:
        return {KIND: self.kind, "sha256": cached_sha256(self.path), COUNT: self.count}

    @property
    def count(self) -> int:
        return int(self._images.shape[0])

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        return _slices(self._images, batch_size)


class ImagesSource(Source):
    """uint8 images already in memory, e.g. samples drawn during training; never cached.

    Its identity is the SHA-256 of the image bytes, so results stay comparable, but one-off
    samples would only fill the cache, so `cacheable` is False.
    """

    kind = "images"
    cacheable = False

    def __init__(self, spec: str, images: torch.Tensor) -> None:
        super().__init__(spec)
        self._images = check_uint8_images(images, spec)

    def identity(self) -> dict[str, Any]:
        digest = hashlib.sha256(self._images.contiguous().numpy().tobytes()).hexdigest()
        return {KIND: self.kind, "sha256": digest, COUNT: self.count}

    @property
    def count(self) -> int:
        return int(self._images.shape[0])

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        return _slices(self._images, batch_size)


def open_source(
    spec: SourceSpec, *, n: int | None = None, data_dir: str | os.PathLike | None = None
) -> Source:
    """The `Source` of a parsed data spec (``"dataset"``, ``"folder"``, ``"archive"``, ``"npz"``).

    ``n`` takes the first ``n`` images (all when None; asking for more than there are is an error
    when the images are read). A higher layer's kind is that layer's to open.
    """
    check_integer(n, "n", or_none=True)
    if spec.kind == DATASET:
        split = DEFAULT_SPLIT if spec.split is None else spec.split
        return DatasetSource(spec.text, name=spec.name, split=split, n=n, data_dir=data_dir)
    if spec.kind in (FOLDER, ARCHIVE):
        return FolderSource(spec.text, path=spec.path, n=n)
    if spec.kind == NPZ:
        return NpzSource(spec.text, path=spec.path, n=n)
    raise GenlabError(f"{spec.text}: a {spec.kind} source is not opened by genlab.data")

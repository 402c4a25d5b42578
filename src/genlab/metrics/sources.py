"""Image sources for evaluation: one spec string → an object that yields uint8 batches.

`resolve_source` turns what a user types after ``genlab eval`` into a `Source`:

=============================  ===================================================================
spec                           source
=============================  ===================================================================
``mnist``, ``mnist:test``      a registered data set split (`genlab.data.registry`); the first N
                               images in the data set's fixed order
folder, ``.zip``, ``.tar``     image files, decoded lazily (`genlab.data.folder.ImageFolder`), so
                               60 000 images never sit in memory at once
``images.npz``                 uint8 images stored under the key ``images`` (or the only array)
run folder, ``checkpoint.pt``  N images generated from the newest checkpoint with a seeded noise
``stats.npz``                  feature statistics written by `FeatureStatistics.save` (or
                               ``genlab eval --save-stats``): FID and FID∞ only, no images
=============================  ===================================================================

A registered name wins over a file of the same name, as in `genlab.data.registry.load_dataset`.

Every source has an `Source.identity` — a JSON-serialisable dict of everything about the source
that changes the images it yields — which the feature cache hashes into its keys:

- data set: name, split and the number of images taken (the files are SHA-256 checked on load);
- folder or archive: the absolute path and a SHA-256 over every file's relative path, size and
  modification time (an edited, added or removed file changes it), and N;
- .npz: the SHA-256 of the file's bytes, and N;
- run: the SHA-256 of the checkpoint file, N, the seed and whether the EMA generator is used;
- statistics: the SHA-256 of the file's bytes.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.data.base import ImageDataset
from genlab.data.download import cached_sha256
from genlab.data.folder import ImageFolder
from genlab.data.imageio import check_uint8_images, read_npz
from genlab.data.registry import list_datasets, load_dataset
from genlab.errors import GenlabError
from genlab.metrics.statistics import FeatureStatistics
from genlab.runs import is_run_dir, iter_generated, latest_checkpoint, load_checkpoint

#: Identity keys shared by every source kind.
KIND = "kind"
COUNT = "n"

#: Suffixes of checkpoint files a run source accepts.
_CHECKPOINT_SUFFIXES = (".pt", ".pth")

_SPEC_HELP = (
    "pass a data set name[:split] ({datasets}), an image folder, a .zip or .tar of images, an "
    ".npz of uint8 images, a run folder, a checkpoint .pt or a statistics .npz"
)


class Source(ABC):
    """Where images (or precomputed statistics) for one side of an evaluation come from.

    Attributes
    ----------
    spec : str
        The spec as the user gave it.
    kind : str
        ``"dataset"``, ``"folder"``, ``"npz"``, ``"run"`` or ``"statistics"``.
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


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise GenlabError(f"batch_size must be a positive integer, got {batch_size!r}")


def _check_enough(spec: str, available: int, wanted: int | None) -> None:
    if wanted is not None and available < wanted:
        raise GenlabError(
            f"{spec} has {available} images but {wanted} were asked for; pass --n {available} "
            "or fewer, or a larger source"
        )


def _slices(images: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    _check_batch_size(batch_size)
    for start in range(0, images.shape[0], batch_size):
        yield images[start : start + batch_size]


class DatasetSource(Source):
    """A registered data set split; the first ``n`` images (all when ``n`` is None)."""

    kind = "dataset"

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
        dataset = load_dataset(self.name, split=self.split, data_dir=self.data_dir, limit=self.n)
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
    """Images in a folder, .zip or .tar, decoded on demand in batches."""

    kind = "folder"

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
        _check_batch_size(batch_size)
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

    kind = "npz"

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


class RunSource(Source):
    """``n`` images generated from a run folder's newest checkpoint or a checkpoint file.

    The latent noise comes from a private generator seeded with ``seed``, so the same checkpoint,
    ``n`` and ``seed`` always give the same images.
    """

    kind = "run"

    def __init__(
        self, spec: str, *, path: Path, n: int | None, seed: int = 0, ema: bool = True
    ) -> None:
        super().__init__(spec)
        self.path, self.n, self.seed, self.ema = path.resolve(), n, seed, ema

    @cached_property
    def checkpoint(self) -> Path:
        """The checkpoint file images are generated from."""
        return latest_checkpoint(self.path) if self.path.is_dir() else self.path

    @cached_property
    def _state(self) -> dict[str, Any]:
        return load_checkpoint(self.checkpoint)

    @property
    def data_shape(self) -> tuple[int, ...]:
        """(C, H, W) of the images the run's networks make and take."""
        return tuple(self._state["model_config"]["data_shape"])

    @property
    def is_vae(self) -> bool:
        """Whether the checkpoint holds a VAE (encoder and decoder)."""
        return "vae" in self._state["models"]

    def vae(self) -> torch.nn.Module:
        """The run's VAE in eval mode (for reconstruction error); an error for a GAN run."""
        from genlab.models.registry import ModelConfig, build_vae

        if not self.is_vae:
            raise GenlabError(
                f"{self.spec} is a GAN run; reconstruction error needs a VAE run (one trained "
                "with the vae preset)"
            )
        vae = build_vae(ModelConfig.from_dict(self._state["model_config"]))
        vae.load_state_dict(self._state["models"]["vae"])
        return vae.eval()

    def identity(self) -> dict[str, Any]:
        return {
            KIND: self.kind,
            "checkpoint_sha256": cached_sha256(self.checkpoint),
            COUNT: self.count,
            "seed": self.seed,
            "ema": self.ema,
        }

    @property
    def count(self) -> int:
        # Only generating needs n: a run used for its VAE's reconstructions does not.
        if self.n is None:
            raise GenlabError(
                f"{self.spec} is a training run: say how many images to generate with --n "
                "(for example --n 10000)"
            )
        return self.n

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        _check_batch_size(batch_size)
        for batch in iter_generated(
            self.checkpoint, self.count, seed=self.seed, batch_size=batch_size, ema=self.ema
        ):
            if batch.dtype != torch.uint8:
                raise GenlabError(
                    f"{self.spec} generates 2-D points, not images; genlab eval measures images "
                    "(compare point sets with genlab.divergences instead)"
                )
            yield check_uint8_images(batch, f"images generated by {self.spec}")

    def describe(self) -> str:
        return f"{self.spec} ({self.count} images generated, seed {self.seed})"


class StatisticsSource(Source):
    """Precomputed feature statistics (mean and covariance): enough for FID and nothing else."""

    kind = "statistics"

    def __init__(self, spec: str, *, path: Path) -> None:
        super().__init__(spec)
        self.path = path.resolve()

    @cached_property
    def statistics(self) -> FeatureStatistics:
        """The statistics, verified against their stored SHA-256."""
        return FeatureStatistics.load(self.path)

    def identity(self) -> dict[str, Any]:
        return {KIND: self.kind, "sha256": cached_sha256(self.path)}

    @property
    def count(self) -> int:
        return self.statistics.n

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        raise GenlabError(
            f"{self.spec} holds feature statistics, not images; it serves FID only — pass "
            "images (a data set, folder, .npz or run) for the other metrics"
        )

    def describe(self) -> str:
        return f"{self.spec} (statistics of {self.count} images)"


def is_statistics_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an .npz holding feature statistics (``mu`` and ``sigma``)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {"mu", "sigma"} <= set(archive.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return False


def resolve_source(
    spec: str | os.PathLike,
    *,
    n: int | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    ema: bool = True,
) -> Source:
    """The `Source` a spec names (see the module docstring for the forms accepted).

    Parameters
    ----------
    spec
        Data set name[:split], folder, archive, .npz of images or statistics, run folder or
        checkpoint file.
    n
        Images to use: the first ``n`` of a data set, folder or .npz (all when None; asking for
        more than there are is an error), or the number to generate from a run (required there).
        Ignored for a statistics file, which fixes its own n.
    seed
        Seed of the latent noise for a run.
    data_dir
        Where registered data sets live.
    ema
        Generate from a run's EMA generator when it kept one.

    Raises
    ------
    GenlabError
        If the spec names nothing known (the message lists the accepted forms), or ``n`` is not a
        positive integer.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise GenlabError(f"n must be a positive integer or None, got {n!r}")
    text = os.fspath(spec)
    name, colon, split = text.partition(":")
    if name in list_datasets():
        return DatasetSource(
            text, name=name, split=split if colon else "train", n=n, data_dir=data_dir
        )
    path = Path(text).expanduser()
    if not path.exists():
        raise GenlabError(
            f"unknown source {text!r}: not a registered data set and no such file or folder; "
            + _SPEC_HELP.format(datasets=", ".join(list_datasets()))
        )
    return _path_source(text, path, n=n, seed=seed, ema=ema)


def _path_source(text: str, path: Path, *, n: int | None, seed: int, ema: bool) -> Source:
    if path.is_dir():
        if is_run_dir(path):
            return RunSource(text, path=path, n=n, seed=seed, ema=ema)
        return FolderSource(text, path=path, n=n)
    suffix = path.suffix.lower()
    if suffix in _CHECKPOINT_SUFFIXES:
        return RunSource(text, path=path, n=n, seed=seed, ema=ema)
    if suffix == ".npz":
        if is_statistics_file(path):
            return StatisticsSource(text, path=path)
        return NpzSource(text, path=path, n=n)
    if zipfile.is_zipfile(path) or _is_tar(path):
        return FolderSource(text, path=path, n=n)
    raise GenlabError(
        f"{text}: not a kind of file genlab eval reads; "
        + _SPEC_HELP.format(datasets=", ".join(list_datasets()))
    )


def _is_tar(path: Path) -> bool:
    import tarfile

    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False

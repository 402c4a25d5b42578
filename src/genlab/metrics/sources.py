"""Image sources for evaluation: one spec string → an object that yields uint8 batches.

`resolve_source` turns what a user types after ``genlab eval`` into a `Source`. The grammar is
`genlab.data.sources.parse_spec`'s (data set names and splits, folders, archives, .npz images);
this module plugs in the two kinds of path that are not data:

=============================  ===================================================================
spec                           source
=============================  ===================================================================
run folder, ``checkpoint.pt``  `RunSource`: N images generated from the newest checkpoint with a
                               seeded noise
``stats.npz``                  `StatisticsSource`: feature statistics written by
                               `FeatureStatistics.save` (or ``genlab eval --save-stats``): FID and
                               FID∞ only, no images
=============================  ===================================================================

Their identities (see `genlab.data.sources` for the data kinds'):

- run: the SHA-256 of the checkpoint file, N, the seed and whether the EMA generator is used;
- statistics: the SHA-256 of the file's bytes.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.data.download import cached_sha256
from genlab.data.imageio import check_uint8_images
from genlab.data.sources import (
    COUNT,
    KIND,
    DatasetSource,
    FolderSource,
    ImagesSource,
    NpzSource,
    PathKind,
    Source,
    check_batch_size,
    check_positive,
    open_source,
    parse_spec,
)
from genlab.errors import GenlabError
from genlab.metrics.statistics import FeatureStatistics
from genlab.runs import is_run_dir, iter_generated, latest_checkpoint, load_checkpoint

__all__ = [
    "COUNT",
    "KIND",
    "DatasetSource",
    "FolderSource",
    "ImagesSource",
    "NpzSource",
    "RunSource",
    "Source",
    "StatisticsSource",
    "is_statistics_file",
    "resolve_source",
]

#: Suffixes of checkpoint files a run source accepts.
_CHECKPOINT_SUFFIXES = (".pt", ".pth")


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
        check_batch_size(batch_size)
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


def _is_run(path: Path) -> bool:
    if path.is_dir():
        return is_run_dir(path)
    return path.suffix.lower() in _CHECKPOINT_SUFFIXES


def _is_statistics(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".npz" and is_statistics_file(path)


#: The kinds of path evaluation reads besides data, checked in this order before the data kinds.
RUN = PathKind("run", _is_run, "a run folder or checkpoint .pt")
STATISTICS = PathKind("statistics", _is_statistics, "a statistics .npz")


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
    check_positive("n", n)
    parsed = parse_spec(spec, kinds=(RUN, STATISTICS))
    if parsed.kind == RUN.name:
        return RunSource(parsed.text, path=parsed.path, n=n, seed=seed, ema=ema)
    if parsed.kind == STATISTICS.name:
        return StatisticsSource(parsed.text, path=parsed.path)
    return open_source(parsed, n=n, data_dir=data_dir)

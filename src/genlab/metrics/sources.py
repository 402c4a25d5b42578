"""Image sources for evaluation: one spec string → an object that yields uint8 batches.

`resolve_source` turns what a user types after ``genlab eval`` into a `Source`. The grammar is
`genlab.data.sources.parse_spec`'s (data set names and splits, folders, archives, .npz images);
evaluation plugs in the two kinds of path that are not data (a run's is `genlab.runs`'):

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

from genlab.arrays import check_integer
from genlab.data.download import cached_sha256
from genlab.data.sources import (
    COUNT,
    KIND,
    DatasetSource,
    FolderSource,
    ImagesSource,
    NpzSource,
    PathKind,
    Source,
    open_source,
    parse_spec,
)
from genlab.errors import GenlabError
from genlab.metrics.statistics import FeatureStatistics
from genlab.runs.source import RUN, RunSource

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


def _is_statistics(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".npz" and is_statistics_file(path)


#: A statistics file: the kind of path evaluation reads besides data and runs.
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
    check_integer(n, "n", or_none=True)
    # Checked in this order, before the data kinds.
    parsed = parse_spec(spec, kinds=(RUN, STATISTICS))
    if parsed.kind == RUN.name:
        return RunSource(parsed.text, path=parsed.path, n=n, seed=seed, ema=ema)
    if parsed.kind == STATISTICS.name:
        return StatisticsSource(parsed.text, path=parsed.path)
    return open_source(parsed, n=n, data_dir=data_dir)

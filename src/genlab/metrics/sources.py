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
                               `FeatureStatistics.save` (or ``genlab eval --save-stats``), or an
                               external ``mu``/``sigma`` file (pytorch-fid, TTUR, clean-fid) whose
                               features the user names: FID and FID∞ only, no images
=============================  ===================================================================

Their identities (see `genlab.data.sources` for the data kinds'):

- run: the SHA-256 of the checkpoint file, N, the seed and whether the EMA generator is used;
- statistics: the SHA-256 of the file's bytes.
"""

from __future__ import annotations

import os
import warnings
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
from genlab.metrics.statistics import FeatureStatistics, is_external_statistics
from genlab.runs.source import RUN, RunSource

__all__ = [
    "COUNT",
    "EXTERNAL_ORIGIN",
    "KIND",
    "DatasetSource",
    "ExternalStatisticsWarning",
    "FolderSource",
    "ImagesSource",
    "NpzSource",
    "RunSource",
    "Source",
    "StatisticsSource",
    "is_statistics_file",
    "resolve_source",
]


class ExternalStatisticsWarning(UserWarning):
    """Statistics from an external file are used under a protocol the user asserted."""


#: What the protocol of a result records for statistics from an external file.
EXTERNAL_ORIGIN = "statistics from an external file, protocol asserted by the user"


class StatisticsSource(Source):
    """Precomputed feature statistics (mean and covariance): enough for FID and nothing else.

    From a file genlab wrote (`FeatureStatistics.save`: checksummed, with n and the protocol of
    the features), from an external file holding only ``mu`` and ``sigma`` (pytorch-fid, TTUR,
    clean-fid: `external`, usable once the user names the features that made it, see
    `assert_protocol`), or from a `FeatureStatistics` in memory (``statistics=``).
    """

    kind = "statistics"

    def __init__(
        self,
        spec: str,
        *,
        path: Path | None = None,
        statistics: FeatureStatistics | None = None,
    ) -> None:
        super().__init__(spec)
        if (path is None) == (statistics is None):
            raise GenlabError("a statistics source takes a path or statistics, not both")
        self.path = None if path is None else path.resolve()
        self._given = statistics
        self._asserted: dict[str, Any] | None = None

    @cached_property
    def external(self) -> bool:
        """Whether the file is an external ``mu``/``sigma`` file, without n or protocol."""
        if self.path is None:
            return False
        with np.load(self.path, allow_pickle=False) as archive:
            return is_external_statistics(archive.files)

    @cached_property
    def _stored(self) -> FeatureStatistics:
        if self._given is not None:
            return self._given
        if self.external:
            return FeatureStatistics.load_external(self.path)
        return FeatureStatistics.load(self.path)  # verified against its stored SHA-256

    @property
    def statistics(self) -> FeatureStatistics:
        """The statistics; an external file's carry the asserted protocol once there is one."""
        if self._asserted is not None:
            return self._stored.with_protocol(self._asserted)
        return self._stored

    def assert_protocol(self, protocol: dict[str, Any], *, extractor: str, dim: int | None) -> None:
        """Take an external file's features as made by ``protocol``, on the user's word.

        The dimension ``dim`` is checked when known (a mismatch is refused before anything is
        extracted; raw pixels know theirs only from the first image, and FID checks it then),
        and a warning says once that the protocol is taken on trust.
        """
        if dim is not None and self._stored.dim != dim:
            raise GenlabError(
                f"{self.spec} holds statistics of {self._stored.dim}-d features, but {extractor} "
                f"features are {dim}-d; name the features that made the file (--features)"
            )
        warnings.warn(
            f"{self.spec} holds only mu and sigma; taking them as {extractor} features on trust "
            "(the result's protocol records it)",
            ExternalStatisticsWarning,
            stacklevel=2,
        )
        self._asserted = dict(protocol)

    def identity(self) -> dict[str, Any]:
        if self.path is None:
            return {KIND: self.kind, "sha256": self._stored.digest()}
        identity = {KIND: self.kind, "sha256": cached_sha256(self.path)}
        if self.external:
            identity["origin"] = EXTERNAL_ORIGIN
        return identity

    @property
    def count(self) -> int | None:
        """The n the statistics were computed from; None for an external file (unknown)."""
        return self._stored.n

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        raise GenlabError(
            f"{self.spec} holds feature statistics, not images; it serves FID only — pass "
            "images (a data set, folder, .npz or run) for the other metrics"
        )

    def describe(self) -> str:
        if self.external:
            return f"{self.spec} ({EXTERNAL_ORIGIN})"
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

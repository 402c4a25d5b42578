"""`Metrics`: the streaming form of `genlab.evaluate`, for training loops.

::

    metrics = genlab.Metrics("fid,kid", features="inception", reference="mnist:test")
    for step in range(steps):
        ...
        if step % 1000 == 0:
            metrics.reset()                               # keeps the reference
            for _ in range(10):
                metrics.update(generator(z()), real=False, value_range=(-1, 1))
            print(metrics.compute())

Images arrive in any batch sizes; each side keeps a small buffer and hands the extractor the
same chunks of ``batch_size`` images that `genlab.evaluate` makes of the same images (0–199,
200–399, ...), so the features — and every metric — equal `genlab.evaluate`'s on the images
concatenated in update order (bit for bit for a deterministic extractor; a chunk cut short by
`Metrics.compute` moves the boundaries of the images after it, which only rounding can tell).

Memory: with FID alone each side keeps a running mean and covariance, O(d²) whatever N is (a
2048-d Inception space: 32 MiB). Metrics that need features (KID, precision/recall,
density/coverage, FID∞, intervals) keep every feature vector: N·d·4 bytes a side, 82 MB per
10 000 Inception images (2048-d), 5 MB per 10 000 in the 128-d space of ``classifier-mnist``.

Under torchrun each process updates with its own images; `Metrics.compute` combines them —
running statistics by the pairwise formula of Chan et al. (exact), features and logits by an
all-gather in rank order — and every process returns the same result (computed on rank 0 and
broadcast), equal to one process updated with rank 0's images, then rank 1's, and so on.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from genlab import distributed
from genlab.data.imageio import as_uint8_images
from genlab.data.sources import COUNT, KIND, Source
from genlab.errors import GenlabError
from genlab.metrics import registry
from genlab.metrics.cache import FeatureCache
from genlab.metrics.evaluate import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_FEATURES,
    DEFAULT_METRICS,
    Extracted,
    build_extractor,
    check_counts,
    check_extractor,
    check_statistics_protocol,
    checked_kid_subset_size,
    checked_options,
    combined_needs,
    extract,
    known_dim,
    logits_function,
    measure,
)
from genlab.metrics.features.registry import FeatureExtractor, extract_features
from genlab.metrics.inputs import as_source
from genlab.metrics.registry import (
    DEFAULT_CI_RESAMPLES,
    KID,
    KID_SUBSETS,
    MetricOptions,
    Needs,
)
from genlab.metrics.result import EvaluationResult
from genlab.metrics.sources import StatisticsSource
from genlab.metrics.statistics import RunningStatistics, statistics_from_features


class Metrics:
    """Metrics of generated images against real ones, fed batch by batch.

    Parameters
    ----------
    metrics
        Metric names (`genlab.metrics.available`), a sequence or ``"fid,kid"``. Metrics that
        read a run or the images themselves (``recon``) need `genlab.evaluate`.
    features
        Registered extractor name or an extractor object.
    device
        Where the extractor's network runs; images may come from any device.
    reference
        The real side, given once instead of ``update(..., real=True)``: anything
        `genlab.evaluate` takes (a spec such as ``"mnist:test"``, a path, an array, saved
        `FeatureStatistics` for FID). It is extracted at the first `compute` (a spec or file
        through the on-disk feature cache) and kept by `reset`.
    n_ref
        Images of ``reference`` to use (the first ``n_ref``; all when None).
    value_range
        Default range of float images given to `update`: ``(0, 1)`` or ``(-1, 1)``.
    batch_size
        Images per extractor call (the chunking `genlab.evaluate` uses with the same value).
    seed, ci, ci_resamples, kid_subsets, kid_subset_size
        As in `genlab.evaluate`.
    cache, data_dir, extractor_options
        As in `genlab.evaluate` (the cache serves ``reference`` only: streamed images are
        one-off).
    """

    def __init__(
        self,
        metrics: str | Sequence[str] = DEFAULT_METRICS,
        *,
        features: str | FeatureExtractor = DEFAULT_FEATURES,
        device: str = "cpu",
        reference: Any = None,
        n_ref: int | None = None,
        value_range: tuple[float, float] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        seed: int = 0,
        ci: bool = False,
        ci_resamples: int = DEFAULT_CI_RESAMPLES,
        kid_subsets: int = KID_SUBSETS,
        kid_subset_size: int | None = None,
        cache: bool | FeatureCache = True,
        data_dir: str | os.PathLike | None = None,
        extractor_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.records = registry.records(registry.resolve(metrics))
        for record in self.records:
            if not record.uses_extractor or record.needs_a.images or record.needs_b.run:
                raise GenlabError(
                    f"{record.title or record.name} reads a run or images itself, which a "
                    "streaming Metrics does not keep; use genlab.evaluate for it"
                )
        self.options = checked_options(
            MetricOptions(
                seed=seed,
                ci=ci,
                ci_resamples=ci_resamples,
                kid_subsets=kid_subsets,
                kid_subset_size=kid_subset_size,
                batch_size=batch_size,
                progress=False,
            )
        )
        self.extractor = build_extractor(
            features, device=device, extractor_options=extractor_options
        )
        check_extractor(self.records, self.extractor)
        self.value_range = value_range
        needs_real, needs_fake = combined_needs(self.records, ci=ci)
        self._real = _Stream("real", needs_real, self.extractor, batch_size)
        self._fake = _Stream("generated", needs_fake, self.extractor, batch_size)
        self._cache = (
            cache if isinstance(cache, FeatureCache) else FeatureCache() if cache else None
        )
        self._reference: Source | None = None
        self._reference_extracted: Extracted | None = None
        if reference is not None:
            self._reference = as_source(
                reference, name="reference", n=n_ref, seed=seed + 1, data_dir=data_dir
            )
            self._check_reference(self._reference)

    # --- feeding ---------------------------------------------------------------------------

    def update(
        self, images: Any, *, real: bool, value_range: tuple[float, float] | None = None
    ) -> None:
        """Add a batch of images to the real (``real=True``) or generated side.

        ``images``: a numpy array or torch tensor, uint8 or float with ``value_range`` (this
        call's, else the constructor's), N×C×H×W, N×H×W×C or N×H×W. Every batch of a side must
        have the same image size and channels.
        """
        if not isinstance(real, bool):
            raise GenlabError(f"real must be True or False, got {real!r}")
        if real and self._reference is not None:
            raise GenlabError(
                "the real side is the reference given at construction; update(real=False) with "
                "generated images, or reset(keep_reference=False) to stream real images instead"
            )
        side = self._real if real else self._fake
        chosen_range = value_range if value_range is not None else self.value_range
        side.add(as_uint8_images(images, value_range=chosen_range, what=f"{side.what} images"))

    def reset(self, *, keep_reference: bool = True) -> None:
        """Forget the generated images; the real side too unless ``keep_reference``.

        Keeping it keeps its features or statistics, the expensive half, for the next round.
        """
        self._fake.clear()
        if not keep_reference:
            self._real.clear()
            self._reference = None
            self._reference_extracted = None

    @property
    def counts(self) -> tuple[int, int]:
        """Images of the real and generated sides added by this process so far."""
        return self._real.count, self._fake.count

    # --- computing -------------------------------------------------------------------------

    def compute(self) -> EvaluationResult:
        """Every metric of the images so far, as `genlab.evaluate` returns them.

        Under several processes every process must call it (it gathers); all get one result.
        """
        started = time.perf_counter()
        real = self._real_side()
        fake = self._fake.gathered()
        for what, (_, extracted, _) in (("real", real), ("generated", fake)):
            if extracted.count == 0:
                raise GenlabError(
                    f"no {what} images yet; call update(images, real={what == 'real'}) first"
                )
        check_counts(self.records, real[0], fake[0])
        n_real, n_fake = real[1].count, fake[1].count
        options = self.options
        if any(record.name == KID for record in self.records):
            size = checked_kid_subset_size(n_real, n_fake, options.kid_subset_size)
            options = dataclasses.replace(options, kid_subset_size=size)
        return distributed.run_on_main(
            lambda: measure(
                self.records,
                real,
                fake,
                self.extractor,
                options,
                n_ref=n_real,
                started=started,
            )
        )

    def _real_side(self) -> tuple[Source, Extracted, dict[str, Any]]:
        if self._reference is None:
            return self._real.gathered()
        if self._reference_extracted is None:
            self._reference_extracted = extract(
                self._reference,
                self.extractor,
                self._real.needs,
                batch_size=self.options.batch_size,
                cache=self._cache,
                progress=False,
            )
        identity = {"spec": self._reference.spec, **self._reference.identity()}
        return self._reference, self._reference_extracted, identity

    # --- checks ----------------------------------------------------------------------------

    def _check_reference(self, source: Source) -> None:
        if not isinstance(source, StatisticsSource):
            return
        if self._real.needs.features or self._real.needs.logits:
            raise GenlabError(
                f"the reference {source.spec} holds feature statistics, which serve FID alone; "
                "pass reference images for the other metrics"
            )
        if source.external:  # the features were named: their protocol is taken on trust
            extractor = self.extractor
            source.assert_protocol(
                extractor.protocol(), extractor=extractor.name, dim=known_dim(extractor)
            )
        check_statistics_protocol(self.extractor, [("the reference", source)])


class _Stream:
    """One side's images: a buffer cut into ``batch_size`` chunks, and what their features give.

    Only what the metrics need is kept: running statistics (FID alone), or features (and
    statistics computed from them at the end, as `genlab.evaluate` does), and logits.
    """

    def __init__(
        self, what: str, needs: Needs, extractor: FeatureExtractor, batch_size: int
    ) -> None:
        self.what, self.needs, self.extractor, self.batch_size = what, needs, extractor, batch_size
        self._logits_of = logits_function(extractor) if needs.logits else None
        self.clear()

    def clear(self) -> None:
        self.count = 0
        self._shape: tuple[int, ...] | None = None
        self._pending: list[torch.Tensor] = []
        self._pending_count = 0
        self._running: RunningStatistics | None = None
        self._features: list[torch.Tensor] = []
        self._logits: list[torch.Tensor] = []

    def add(self, images: torch.Tensor) -> None:
        shape = tuple(images.shape[1:])
        if self._shape is not None and shape != self._shape:
            raise GenlabError(
                f"{self.what} images of shape C×H×W {shape} after {self._shape}: every batch "
                "of a side must have one size; resize them, or reset() first"
            )
        self._shape = shape
        self._pending.append(images)
        self._pending_count += images.shape[0]
        self.count += images.shape[0]
        while self._pending_count >= self.batch_size:
            self._extract(self._take(self.batch_size))

    def _take(self, count: int) -> torch.Tensor:
        buffered = torch.cat(self._pending)
        chunk, rest = buffered[:count], buffered[count:]
        self._pending = [rest] if rest.shape[0] else []
        self._pending_count = rest.shape[0]
        return chunk

    def _extract(self, chunk: torch.Tensor) -> None:
        features = extract_features(
            self.extractor, chunk, batch_size=self.batch_size, progress=False
        )
        if self.needs.features:
            self._features.append(features)
        elif self.needs.statistics:
            if self._running is None:
                self._running = RunningStatistics(
                    features.shape[1], protocol=self.extractor.protocol()
                )
            self._running.update(features)
        if self._logits_of is not None:
            self._logits.append(self._logits_of(chunk, features))

    def gathered(self) -> tuple[Source, Extracted, dict[str, Any]]:
        """What every process streamed into this side, combined (complete on rank 0)."""
        if self._pending_count:
            self._extract(self._take(self._pending_count))
        total = sum(distributed.all_gather_objects(self.count))
        features = _gather(self._features) if self.needs.features else None
        logits = _gather(self._logits) if self._logits_of is not None else None
        statistics = None
        if self.needs.statistics and total >= 1:
            if not self.needs.features:  # a collective: every process takes this branch
                statistics = _merged_statistics(self._running, self.extractor)
            elif features is not None and features.shape[0] >= 2:  # gathered on rank 0
                statistics = statistics_from_features(features, protocol=self.extractor.protocol())
        source = _Streamed(self.what, total)
        extracted = Extracted(count=total, statistics=statistics, features=features, logits=logits)
        return source, extracted, {"spec": source.spec, **source.identity()}


class _Streamed(Source):
    """The protocol's name for images given to `Metrics.update` (they are not read again)."""

    kind = "stream"
    cacheable = False

    def __init__(self, what: str, count: int) -> None:
        super().__init__(f"{what} images given to Metrics.update")
        self._count = count

    def identity(self) -> dict[str, Any]:
        return {KIND: self.kind, COUNT: self._count}

    @property
    def count(self) -> int:
        return self._count

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        raise GenlabError("streamed images are not kept; they cannot be read again")


def _gather(parts: list[torch.Tensor]) -> torch.Tensor | None:
    """This process's rows, or every process's in rank order (None on ranks other than 0)."""
    own = torch.cat(parts) if parts else None
    if not distributed.active():
        return own
    gathered = [part for part in distributed.all_gather_rows(own) if part is not None]
    if not distributed.is_main():
        return None
    return torch.cat(gathered) if gathered else None


def _merged_statistics(running: RunningStatistics | None, extractor: FeatureExtractor) -> Any:
    """The running statistics of every process merged in rank order, finalised on rank 0."""
    merged = RunningStatistics.across_processes(running, dim=extractor.dim)
    if not distributed.is_main() or merged.n < 2:  # too few: `check_counts` says so
        return None
    merged.protocol = dict(extractor.protocol())
    return merged.finalize()


__all__ = ["Metrics"]

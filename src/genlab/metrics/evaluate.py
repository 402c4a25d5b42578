"""The evaluation driver: two image sources → features (once, cached) → every requested metric.

``evaluate("mnist:test", "runs/00003-vae-mnist", metrics=("fid", "kid"), n=10_000)`` resolves
both sources (`genlab.metrics.sources`), runs one feature extractor over each source exactly once,
keeping only what the metrics need, and hands the results to the pure metric functions:

===========  ===================================================  ================================
name         metric                                               needs
===========  ===================================================  ================================
``fid``      Fréchet distance of Gaussian fits (`fid`)            statistics of A and B
``fid-inf``  FID extrapolated to N → ∞ (`fid.fid_infinity`)       statistics of A, features of B
``kid``      unbiased MMD², cubic kernel, subsets (`kid`)         features of A and B
``is``       Inception Score of B (`inception_score`)             logits of B
``pr``       precision and recall, k = 3 (`prdc`)                 features of A and B
``dc``       density and coverage, k = 5 (`prdc`)                 features of A and B
``modes``    classes covered by B (`genlab.metrics.modes`)        classifier probabilities of B
``recon``    reconstruction MSE/L2/PSNR (`reconstruction`)        A's images, B a VAE run
===========  ===================================================  ================================

A is the reference (real images, or their saved statistics), B the images being judged. When only
FID is asked, features are never held: the mean and covariance are accumulated batch by batch
(`RunningStatistics`), so memory stays O(d²) whatever N is. Features, logits and statistics are
cached on disk (`genlab.metrics.cache`) under a key of everything that changes them.

The result is a flat dict of metric values under the keys of `genlab.metrics.keys`, plus
``result[PROTOCOL]``: the extractor's protocol (name, weights SHA-256, resize mode, input size,
normalisation), both sources with their identities and sample counts, the metric settings, the
seed and the genlab version — everything needed to tell whether two numbers are comparable.

Under torchrun (``torchrun --nproc_per_node N -m genlab eval ...``, see `genlab.distributed`) the
extraction is shared: each source's batches are dealt round-robin, process r extracting batches
r, r + N, r + 2N, ..., and after every round of N batches the features are gathered back in
their original order. The batches are the ones a single process would make, so the features are
identical to a single-process run's and so are the statistics (accumulated batch by batch in the
same order) and every metric. Rank 0 reads and writes the cache, computes the metrics and hands
the result to every process; each process still reads (or generates) every image, as sources
only iterate in order, so the extractor's network — the expensive part — is what is divided.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

import genlab
from genlab import distributed
from genlab.data.imageio import signed_to_uint8, uint8_to_signed
from genlab.errors import GenlabError
from genlab.metrics import keys
from genlab.metrics.bootstrap import fid_with_ci, kid_with_ci
from genlab.metrics.cache import FEATURES, LOGITS, STATISTICS, FeatureCache, cache_key
from genlab.metrics.features.inception import PROTOCOL_EXTRACTOR
from genlab.metrics.features.registry import FeatureExtractor, extract_features, get_extractor
from genlab.metrics.fid import fid_from_statistics, fid_infinity
from genlab.metrics.inception_score import inception_score
from genlab.metrics.kid import kernel_inception_distance
from genlab.metrics.modes import mode_coverage
from genlab.metrics.prdc import density_coverage, precision_recall
from genlab.metrics.reconstruction import reconstruction_error
from genlab.metrics.sources import RunSource, Source, StatisticsSource, resolve_source
from genlab.metrics.statistics import (
    FeatureStatistics,
    RunningStatistics,
    statistics_from_features,
)
from genlab.metrics.validation import did_you_mean
from genlab.progress import Progress

# Metric names accepted by `evaluate` and ``genlab eval --metrics``.
FID = "fid"
FID_INFINITY = "fid-inf"
KID = "kid"
IS = "is"
PR = "pr"
DC = "dc"
MODES = "modes"
RECON = "recon"
METRICS: dict[str, str] = {
    FID: "Fréchet Inception Distance between A and B",
    FID_INFINITY: "FID extrapolated to infinitely many samples of B",
    KID: "Kernel Inception Distance (mean ± std over subsets)",
    IS: "Inception Score of B (needs logits: Inception weights with fc, or a classifier)",
    PR: "precision and recall of B against A (k = 3)",
    DC: "density and coverage of B against A (k = 5)",
    MODES: "classes of a classifier that B covers (classifier features only)",
    RECON: "reconstruction error of B, a VAE run, on A's images",
}
DEFAULT_METRICS = (FID,)
DEFAULT_FEATURES = "inception"
DEFAULT_BATCH_SIZE = 200

#: Key of the protocol dict in a result.
PROTOCOL = "protocol"
#: Keys inside ``result[PROTOCOL]``.
PROTOCOL_FEATURES = "features"
PROTOCOL_SOURCE_A = "source_a"
PROTOCOL_SOURCE_B = "source_b"
PROTOCOL_REFERENCE = "reference"
PROTOCOL_N_A = "n_a"
PROTOCOL_N_B = "n_b"
PROTOCOL_N_REF = "n_ref"
PROTOCOL_METRICS = "metrics"
PROTOCOL_SEED = "seed"
PROTOCOL_SETTINGS = "settings"
PROTOCOL_GENLAB_VERSION = "genlab_version"

#: ``n_ref=ALL``: every image of the reference A, whatever ``n`` is.
ALL = "all"

# Settings of the metrics, fixed by their papers' protocols and recorded in every result.
# KID's two are defaults (torch-fidelity's kid_subsets and kid_subset_size), overridable.
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
PR_K = 3
DC_K = 5
IS_SPLITS = 10
CI_CONFIDENCE = 0.95
CI_METHOD = "shifted_percentile"
DEFAULT_CI_RESAMPLES = 100

_FEATURE_METRICS = frozenset({FID, FID_INFINITY, KID, IS, PR, DC, MODES})


@dataclass(frozen=True)
class Needs:
    """What one extraction pass over a source must produce."""

    statistics: bool = False
    features: bool = False
    logits: bool = False

    @property
    def anything(self) -> bool:
        return self.statistics or self.features or self.logits


@dataclass
class Extracted:
    """What a source gave: its size and the outputs asked for (None where not asked)."""

    count: int
    statistics: FeatureStatistics | None = None
    features: torch.Tensor | None = None
    logits: torch.Tensor | None = None


def parse_metrics(metrics: str | Iterable[str]) -> tuple[str, ...]:
    """Metric names from ``"fid,kid"`` or a sequence, checked, duplicates removed, order kept."""
    names = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    cleaned = tuple(dict.fromkeys(name.strip().lower() for name in names if name.strip()))
    if not cleaned:
        raise GenlabError(f"no metric given; choose from {', '.join(METRICS)}")
    unknown = [name for name in cleaned if name not in METRICS]
    if unknown:
        named = ", ".join(f"{name!r}{did_you_mean(name, METRICS)}" for name in unknown)
        raise GenlabError(
            f"unknown metric{'s' if len(unknown) > 1 else ''} {named}; "
            f"choose from {', '.join(METRICS)}"
        )
    return cleaned


def build_extractor(
    features: str | FeatureExtractor,
    *,
    device: str = "cpu",
    extractor_options: Mapping[str, Any] | None = None,
) -> FeatureExtractor:
    """The extractor named ``features`` (or ``features`` itself when it is an extractor).

    ``device`` is passed to the extractor when it is not ``"cpu"`` (the pixel extractor takes no
    device: it is a reshape), ``extractor_options`` always.
    """
    if not isinstance(features, str):
        if extractor_options:
            raise GenlabError("extractor_options apply to a named extractor, not to an instance")
        return features
    options = dict(extractor_options or {})
    if str(device) != "cpu":
        options.setdefault("device", device)
    return get_extractor(features, **options)


def evaluate(
    source_a: str | os.PathLike | Source,
    source_b: str | os.PathLike | Source,
    *,
    metrics: str | Sequence[str] = DEFAULT_METRICS,
    features: str | FeatureExtractor | None = None,
    n: int | None = None,
    n_ref: int | str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    ci: bool = False,
    ci_resamples: int = DEFAULT_CI_RESAMPLES,
    kid_subsets: int = KID_SUBSETS,
    kid_subset_size: int | None = None,
    device: str = "cpu",
    cache: bool | FeatureCache = True,
    progress: bool = True,
    data_dir: str | os.PathLike | None = None,
    extractor_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Compare image source B against reference A with the requested metrics.

    Parameters
    ----------
    source_a, source_b
        Specs for `genlab.metrics.sources.resolve_source` (data set split, folder, archive,
        .npz of images or statistics, run folder, checkpoint) or resolved `Source` objects.
        A is the reference; B is judged (IS, modes and FID∞ are about B).
    metrics
        Names from `METRICS`, as a sequence or a comma-separated string.
    features
        Registered extractor name (``"inception"``, ``"classifier-mnist"``, ``"pixels"``) or an
        extractor object. None: the extractor that made a statistics file among the sources,
        else ``"inception"``. A name other than a statistics file's extractor is refused before
        any image is read.
    n
        Images per source: the first ``n`` of a data set, folder or .npz, or ``n`` generated from
        a run (required there). A statistics file keeps its own n.
    n_ref
        Images of the reference A when they should differ from ``n`` (the usual protocol is
        50 000 generated images against the whole training set): a count, `ALL` (``"all"``:
        every image of A) or None (the same as ``n``). Recorded in the protocol as ``n_ref``;
        refused for a statistics file, which keeps its own n.
    batch_size
        Images drawn from a source and handed to the extractor at once.
    seed
        Seed of the generated images of B (A, if a run, uses ``seed + 1`` so that a run
        compared with itself gives two independent samples), of the KID subsets, FID∞ subsets
        and bootstrap resamples.
    ci
        Add bootstrap confidence intervals (95 %, shifted percentile) for FID and KID, with
        ``ci_resamples`` resamples; this keeps the features of both sources in memory.
    kid_subsets, kid_subset_size
        KID's number of random subsets and rows per subset (torch-fidelity's names). The
        subset size defaults to 1000, or the smaller source's image count when that is less;
        when it equals both counts every subset is the whole sets and the spread is zero.
    device
        Where the extractor's network runs.
    cache
        Use the on-disk feature cache (True: the default location; or a `FeatureCache`).
    progress
        Show a progress bar per source with the images/s rate.
    data_dir
        Where registered data sets live.
    extractor_options
        Extra options for a named extractor (e.g. ``{"size": 16}`` for pixels).

    Returns
    -------
    dict
        Metric values under `genlab.metrics.keys` (``fid``, ``kid_mean``, ``kid_std``, ...;
        with ``ci``: ``fid_ci_low`` etc.) and the protocol under `PROTOCOL`.

    Raises
    ------
    GenlabError
        For an unknown metric or source, a metric the sources cannot serve (KID from a statistics
        file, IS without logits, reconstruction from a GAN), or bad options.
    """
    chosen = parse_metrics(metrics)
    _check_positive("batch_size", batch_size)
    _check_positive("ci_resamples", ci_resamples, minimum=2)
    _check_positive("seed", seed, minimum=0)
    _check_positive("kid_subsets", kid_subsets)
    if kid_subset_size is not None:
        _check_positive("kid_subset_size", kid_subset_size, minimum=2)
    n_a_asked = _reference_count(n, n_ref)
    distributed.init()
    a = _resolve(source_a, n=n_a_asked, seed=seed + 1, data_dir=data_dir)
    b = _resolve(source_b, n=n, seed=seed, data_dir=data_dir)
    _check_reference_count(a, n_ref)
    needs_a, needs_b = _needs(chosen, ci=ci)
    _check_servable(chosen, a, b, needs_a, needs_b)
    # Before any image is read: statistics files fix the extractor (read from their protocol).
    features = _features_for_statistics(features, a, b, needs_a, needs_b)
    subset_size = (
        _checked_kid_subset_size(a.count, b.count, kid_subset_size) if KID in chosen else None
    )
    store = _as_cache(cache)
    extractor = None
    if _extracts_images(a, needs_a) or _extracts_images(b, needs_b):
        extractor = build_extractor(features, device=device, extractor_options=extractor_options)
        _check_extractor(chosen, extractor)
    _check_statistics_protocol(extractor, a, b)
    # Identities hash files (checkpoints, .npz), so each is computed once, for keys and protocol.
    identity_a = a.identity()
    identity_b = b.identity() if _uses_images_of(b, chosen) else None
    extracted_a = _extract_side(a, identity_a, extractor, needs_a, store, batch_size, progress)
    extracted_b = _extract_side(b, identity_b, extractor, needs_b, store, batch_size, progress)
    identities = {"a": _with_spec(a, identity_a), "b": _with_spec(b, identity_b)}

    def metrics_of_extracted() -> dict[str, Any]:
        result: dict[str, Any] = {}
        kid = _KidSettings(subsets=kid_subsets, subset_size=subset_size)
        if _FEATURE_METRICS & set(chosen):
            result.update(
                _feature_metrics(
                    chosen, extracted_a, extracted_b, extractor, ci, ci_resamples, seed, kid
                )
            )
        if RECON in chosen:
            result.update(reconstruction_metrics(a, b, batch_size=batch_size, progress=progress))
        result[PROTOCOL] = _protocol(
            chosen,
            a,
            b,
            identities,
            extracted_a,
            extracted_b,
            extractor,
            seed,
            ci,
            ci_resamples,
            kid,
            n_ref=ALL if n_a_asked is None or isinstance(a, StatisticsSource) else n_a_asked,
        )
        return result

    # Rank 0 holds the gathered features; every process gets its result (or its error).
    return distributed.run_on_main(metrics_of_extracted)


def compute_statistics(
    source: str | os.PathLike | Source,
    *,
    features: str | FeatureExtractor | None = DEFAULT_FEATURES,
    n: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    device: str = "cpu",
    cache: bool | FeatureCache = True,
    progress: bool = True,
    data_dir: str | os.PathLike | None = None,
    extractor_options: Mapping[str, Any] | None = None,
) -> FeatureStatistics:
    """Feature statistics (mean, covariance, n, extractor protocol) of one source, streamed.

    What ``genlab eval A --save-stats FILE`` writes; options as in `evaluate` (``features=None``
    is `DEFAULT_FEATURES`). The statistics' protocol is the extractor's, so a later FID against
    them checks that the features agree.
    """
    _check_positive("batch_size", batch_size)
    distributed.init()
    resolved = _resolve(source, n=n, seed=seed, data_dir=data_dir)
    if isinstance(resolved, StatisticsSource):
        raise GenlabError(f"{resolved.spec} already holds statistics; pass images to compute them")
    extractor = build_extractor(
        DEFAULT_FEATURES if features is None else features,
        device=device,
        extractor_options=extractor_options,
    )
    extracted = _extract_side(
        resolved,
        resolved.identity(),
        extractor,
        Needs(statistics=True),
        _as_cache(cache),
        batch_size,
        progress,
    )
    return distributed.run_on_main(lambda: extracted.statistics)


def extract(
    source: Source,
    extractor: FeatureExtractor,
    needs: Needs,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    cache: FeatureCache | None = None,
    progress: bool = True,
) -> Extracted:
    """Run ``extractor`` over ``source`` once (or read the cache) and return what ``needs`` asks.

    Statistics are streamed when features are not kept (memory O(d²)); when features are kept,
    statistics are computed from them. Whatever a pass computes is written to ``cache``.

    Under several processes every process must call it; the extraction is shared and the result
    is complete on rank 0 only (elsewhere only ``count`` is set).
    """
    distributed.init()
    return _extract_side(source, source.identity(), extractor, needs, cache, batch_size, progress)


# --- Sources and needs -----------------------------------------------------------------------


def _resolve(
    source: str | os.PathLike | Source, *, n: int | None, seed: int, data_dir: Any
) -> Source:
    if isinstance(source, Source):
        return source
    return resolve_source(source, n=n, seed=seed, data_dir=data_dir)


def _reference_count(n: int | None, n_ref: int | str | None) -> int | None:
    """Images asked of A: ``n_ref``, ``n`` when ``n_ref`` is None, None (all) for `ALL`."""
    if n_ref is None:
        return n
    if n_ref == ALL:
        return None
    if isinstance(n_ref, bool) or not isinstance(n_ref, int) or n_ref < 1:
        raise GenlabError(f"n_ref must be a positive integer, {ALL!r} or None, got {n_ref!r}")
    return n_ref


def _check_reference_count(a: Source, n_ref: int | str | None) -> None:
    """Refuse an ``n_ref`` that A cannot honour, rather than ignore it."""
    if isinstance(a, StatisticsSource) and n_ref not in (None, ALL):
        raise GenlabError(
            f"--n-ref {n_ref} does not apply to A ({a.spec}): it holds statistics of "
            f"{a.count} images, fixed when they were saved; leave out --n-ref"
        )
    if isinstance(a, RunSource) and n_ref == ALL:
        raise GenlabError(
            f"--n-ref {ALL} needs a reference with a fixed number of images, but A ({a.spec}) is "
            "a run that generates them; pass --n-ref N"
        )


def _needs(chosen: tuple[str, ...], *, ci: bool) -> tuple[Needs, Needs]:
    """What each side must give. A is the reference, B is judged."""
    pairwise = {KID, PR, DC} & set(chosen) or (ci and {FID, KID} & set(chosen))
    needs_a = Needs(
        statistics=FID in chosen or FID_INFINITY in chosen,
        features=bool(pairwise),
    )
    needs_b = Needs(
        statistics=FID in chosen,
        features=bool(pairwise) or FID_INFINITY in chosen,
        logits=IS in chosen or MODES in chosen,
    )
    return needs_a, needs_b


def _extracts_images(source: Source, needs: Needs) -> bool:
    """Whether the extractor must run over this source's images (a statistics file has none)."""
    return needs.anything and not isinstance(source, StatisticsSource)


def _uses_images_of(source: Source, chosen: tuple[str, ...]) -> bool:
    # A VAE run used only for its reconstructions is never asked to generate (no --n needed).
    return bool(_FEATURE_METRICS & set(chosen)) or not isinstance(source, RunSource)


def _with_spec(source: Source, identity: dict[str, Any] | None) -> dict[str, Any]:
    """The identity for the protocol, with the spec as typed.

    The spec is never part of a cache key: ``mnist`` and ``mnist:train`` are the same data.
    """
    return {"spec": source.spec, **(identity or {})}


def _check_servable(
    chosen: tuple[str, ...], a: Source, b: Source, needs_a: Needs, needs_b: Needs
) -> None:
    for side, source, needs in (("A", a, needs_a), ("B", b, needs_b)):
        if isinstance(source, StatisticsSource) and (needs.features or needs.logits):
            wanted = [m for m in chosen if m not in (FID,)]
            raise GenlabError(
                f"source {side} ({source.spec}) holds only feature statistics, which serve FID "
                f"alone; {', '.join(wanted) or 'confidence intervals'} need(s) images or features "
                "— pass images for it"
            )
    if RECON in chosen:
        if not isinstance(b, RunSource):
            raise GenlabError(
                f"reconstruction error needs B to be a VAE run folder or checkpoint, got "
                f"{b.spec}; A gives the held-out images (e.g. mnist:test)"
            )
        if isinstance(a, StatisticsSource):
            raise GenlabError(
                f"reconstruction error needs images in A, but {a.spec} holds only statistics"
            )


def _features_for_statistics(
    features: str | FeatureExtractor | None, a: Source, b: Source, needs_a: Needs, needs_b: Needs
) -> str | FeatureExtractor:
    """The extractor to use, checked against the statistics files among the sources.

    Runs before any image is read: a statistics file's protocol names the extractor that made
    it, and features of another extractor could only end in a dimension or protocol mismatch
    after the whole extraction. ``features=None`` follows the statistics file (or is
    `DEFAULT_FEATURES` when there is none).
    """
    made_by = {
        side: (source, source.statistics.protocol.get(PROTOCOL_EXTRACTOR))
        for side, source, needs in (("A", a, needs_a), ("B", b, needs_b))
        if needs.anything and isinstance(source, StatisticsSource)
    }
    named = {side: (source, name) for side, (source, name) in made_by.items() if name}
    if len({name for _, name in named.values()}) > 1:
        (source_a, name_a), (source_b, name_b) = named["A"], named["B"]
        raise GenlabError(
            f"A ({source_a.spec}) holds statistics of {name_a} features but B ({source_b.spec}) "
            f"of {name_b} features; FID needs both from one extractor: recompute one of them "
            f"with the other's --features and --save-stats"
        )
    if not named:
        return DEFAULT_FEATURES if features is None else features
    side, (source, made) = next(iter(named.items()))
    if features is None:
        return made
    asked = features if isinstance(features, str) else features.name
    if asked != made:
        raise GenlabError(
            f"{side} ({source.spec}) holds statistics of {made} features, but --features is "
            f"{asked}; leave out --features to use {made}, or recompute the statistics with "
            f"--features {asked} --save-stats FILE"
        )
    return features


def _check_statistics_protocol(extractor: FeatureExtractor | None, a: Source, b: Source) -> None:
    """Refuse before extracting when statistics were made with other extractor settings.

    The extractor names agree (`_features_for_statistics`); this compares whole protocols
    (weights, resizing, size) of each statistics file with the extractor's, or with the other
    file's when both sources are statistics. Compared as stored: through JSON (tuples as lists).
    """
    stored = [
        (f"{side} ({source.spec})", source.statistics.protocol)
        for side, source in (("A", a), ("B", b))
        if isinstance(source, StatisticsSource) and source.statistics.protocol
    ]
    if extractor is not None:
        reference = (
            f"the {extractor.name} extractor",
            json.loads(json.dumps(extractor.protocol())),
        )
    elif len(stored) == 2:
        reference, stored = stored[1], stored[:1]
    else:
        return
    what, protocol = reference
    for holder, made in stored:
        differing = sorted(
            key for key in made.keys() | protocol.keys() if made.get(key) != protocol.get(key)
        )
        if differing:
            details = ", ".join(
                f"{key}: {made.get(key)!r} vs {protocol.get(key)!r}" for key in differing
            )
            raise GenlabError(
                f"{holder} holds statistics of a different feature protocol than {what} "
                f"({details}); recompute them with the same extractor settings"
            )


def _check_extractor(chosen: tuple[str, ...], extractor: FeatureExtractor) -> None:
    """Fail before any extraction when the extractor cannot give what a metric needs."""
    if IS in chosen:
        _logits_function(extractor)  # raises when there are no logits
    if MODES in chosen and not callable(getattr(extractor, "probabilities", None)):
        raise GenlabError(
            f"mode coverage counts the classes of a classifier of the data set, which the "
            f"{extractor.name!r} extractor is not; use --features classifier-mnist"
        )


def _as_cache(cache: bool | FeatureCache | None) -> FeatureCache | None:
    if isinstance(cache, FeatureCache):
        return cache
    return FeatureCache() if cache else None


def _check_positive(name: str, value: int, *, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise GenlabError(f"{name} must be an integer of at least {minimum}, got {value!r}")


# --- Extraction ------------------------------------------------------------------------------


def _extract_side(
    source: Source,
    identity: dict[str, Any] | None,
    extractor: FeatureExtractor | None,
    needs: Needs,
    store: FeatureCache | None,
    batch_size: int,
    progress: bool,
) -> Extracted | None:
    if not needs.anything:
        return None
    if isinstance(source, StatisticsSource):
        return Extracted(count=source.count, statistics=source.statistics)
    if extractor is None:
        return None
    protocol = extractor.protocol()
    entry_keys = {
        kind: cache_key(kind=kind, source_identity=identity, extractor_protocol=protocol)
        for kind in (FEATURES, LOGITS, STATISTICS)
    }
    if not source.cacheable:
        store = None
    # Rank 0 alone reads the cache and tells the others whether they may skip the extraction.
    found = None
    if store is not None and distributed.is_main():
        found = _from_cache(store, entry_keys, needs, protocol)
    cached_count = distributed.broadcast_object(None if found is None else found.count)
    if cached_count is not None:
        return found if distributed.is_main() else Extracted(count=cached_count)
    extracted = _extraction_pass(
        source, extractor, needs, protocol=protocol, batch_size=batch_size, progress=progress
    )
    if store is not None and distributed.is_main():
        _to_cache(store, entry_keys, extracted)
    return extracted


def _from_cache(
    store: FeatureCache, entry_keys: dict[str, str], needs: Needs, protocol: dict[str, Any]
) -> Extracted | None:
    """Everything ``needs`` asks from the cache, or None if anything is missing or damaged.

    Statistics come from a statistics entry or, failing that, from cached features (a KID run
    leaves features that a later FID-only run can use).
    """
    features = store.load_array(entry_keys[FEATURES]) if needs.features else None
    logits = store.load_array(entry_keys[LOGITS]) if needs.logits else None
    if (needs.features and features is None) or (needs.logits and logits is None):
        return None
    statistics = None
    count = None
    if needs.statistics:
        if features is None:
            statistics = store.load_statistics(entry_keys[STATISTICS])
        if statistics is None:
            kept = features if features is not None else store.load_array(entry_keys[FEATURES])
            if kept is None:
                return None
            statistics = statistics_from_features(kept, protocol=protocol)
        count = statistics.n
    for array in (features, logits):
        if array is not None:
            count = array.shape[0]
    return Extracted(count=count, statistics=statistics, features=features, logits=logits)


def _to_cache(store: FeatureCache, entry_keys: dict[str, str], extracted: Extracted) -> None:
    if extracted.features is not None:
        store.save_array(entry_keys[FEATURES], extracted.features)
    if extracted.logits is not None:
        store.save_array(entry_keys[LOGITS], extracted.logits)
    if extracted.statistics is not None:
        store.save_statistics(entry_keys[STATISTICS], extracted.statistics)


def _extraction_pass(
    source: Source,
    extractor: FeatureExtractor,
    needs: Needs,
    *,
    protocol: dict[str, Any],
    batch_size: int,
    progress: bool,
) -> Extracted:
    """One pass over the source's batches; features are kept only where a metric needs them.

    Under several processes the batches are shared out (`_batch_outputs`) and only rank 0 keeps
    what they give; the others return the count alone.
    """
    logits_of = _logits_function(extractor) if needs.logits else None
    stream = needs.statistics and not needs.features
    keep = distributed.is_main()
    running: RunningStatistics | None = None
    feature_parts: list[torch.Tensor] = []
    logit_parts: list[torch.Tensor] = []
    seen = 0
    with Progress(
        total=source.count,
        unit="img",
        desc=f"{extractor.name} features of {source.spec}",
        enabled=progress and keep,
    ) as bar:
        for batch_features, batch_logits in _batch_outputs(
            source, extractor, logits_of, batch_size
        ):
            seen += batch_features.shape[0]
            bar.update(batch_features.shape[0])
            if not keep:
                continue
            if stream:
                if running is None:
                    running = RunningStatistics(batch_features.shape[1], protocol=protocol)
                running.update(batch_features)
            if needs.features:
                feature_parts.append(batch_features)
            if batch_logits is not None:
                logit_parts.append(batch_logits)
    if seen == 0:
        raise GenlabError(f"{source.spec} gave no images; pass a source with images")
    if not keep:
        return Extracted(count=seen)
    features = torch.cat(feature_parts) if feature_parts else None
    statistics = None
    if needs.statistics:
        statistics = (
            running.finalize()
            if running is not None
            else statistics_from_features(features, protocol=protocol)
        )
    return Extracted(
        count=seen,
        statistics=statistics,
        features=features,
        logits=torch.cat(logit_parts) if logit_parts else None,
    )


def _batch_outputs(
    source: Source,
    extractor: FeatureExtractor,
    logits_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None,
    batch_size: int,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """(features, logits or None) of each of the source's batches, in the source's order.

    One process extracts every batch. N processes take the batches in rounds of N: in each round
    process r extracts the r-th batch, then all gather the round's outputs in rank order, which is
    the batches' order. A process with no batch in the last round takes part with nothing.
    """
    world, rank = distributed.world_size(), distributed.rank()
    batches = iter(source.batches(batch_size))
    while True:
        round_ = list(itertools.islice(batches, world))
        if not round_:
            return
        own_features = own_logits = None
        if rank < len(round_):
            own_features = extract_features(
                extractor, round_[rank], batch_size=batch_size, progress=False
            )
            if logits_of is not None:
                own_logits = logits_of(round_[rank], own_features)
        gathered_features = distributed.all_gather_rows(own_features)
        gathered_logits = (
            distributed.all_gather_rows(own_logits)
            if logits_of is not None
            else [None] * len(gathered_features)
        )
        for features, logits in zip(gathered_features, gathered_logits, strict=True):
            if features is not None:
                yield features, logits


def _logits_function(
    extractor: FeatureExtractor,
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``logits(images, features)`` for the extractor, reusing the features where possible.

    The FID Inception network's logits are pool3 · Wᵀ, so they come from the pool3 features at
    the cost of one matrix product instead of a second forward pass. Other extractors with a
    ``logits(images)`` method (a classifier) run it on the images.
    """
    network = getattr(extractor, "network", None)
    from_pool3 = getattr(network, "logits_from_pool3", None)
    if callable(from_pool3):
        if getattr(extractor, "has_fc", True) is False:
            from genlab.metrics.features.inception import NO_FC_MESSAGE

            raise GenlabError(NO_FC_MESSAGE)
        device = getattr(extractor, "device", torch.device("cpu"))

        @torch.inference_mode()
        def from_features(images: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
            return from_pool3(features.to(device)).float().cpu()

        return from_features
    logits = getattr(extractor, "logits", None)
    if callable(logits):
        return lambda images, features: logits(images).float().cpu()
    raise GenlabError(
        f"the Inception Score needs class logits, which the {extractor.name!r} extractor does not "
        "give; use --features inception (with the fc weights) or a classifier"
    )


# --- Metrics ---------------------------------------------------------------------------------


def _feature_metrics(
    chosen: tuple[str, ...],
    a: Extracted | None,
    b: Extracted | None,
    extractor: FeatureExtractor | None,
    ci: bool,
    ci_resamples: int,
    seed: int,
    kid: _KidSettings,
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if FID in chosen:
        result[keys.FID] = fid_from_statistics(a.statistics, b.statistics)
        if ci:
            interval = fid_with_ci(
                a.features, b.features, num_resamples=ci_resamples, seed=seed, method=CI_METHOD
            )
            result.update(_interval(keys.FID, interval))
    if FID_INFINITY in chosen:
        result[keys.FID_INFINITY] = fid_infinity(
            b.features, a.statistics, seed=seed, protocol=extractor.protocol()
        ).value
    if KID in chosen:
        mean, std = kernel_inception_distance(
            a.features,
            b.features,
            num_subsets=kid.subsets,
            subset_size=kid.subset_size,
            seed=seed,
        )
        result[keys.KID_MEAN], result[keys.KID_STD] = mean, std
        if ci:
            interval = kid_with_ci(
                a.features,
                b.features,
                num_resamples=ci_resamples,
                seed=seed,
                method=CI_METHOD,
                num_subsets=kid.subsets,
                subset_size=kid.subset_size,
            )
            result.update(_interval(keys.KID_MEAN, interval))
    if IS in chosen:
        result[keys.IS_MEAN], result[keys.IS_STD] = inception_score(b.logits, splits=IS_SPLITS)
    if PR in chosen:
        result.update(precision_recall(a.features, b.features, k=PR_K))
    if DC in chosen:
        result.update(density_coverage(a.features, b.features, k=DC_K))
    if MODES in chosen:
        probabilities = torch.softmax(b.logits.double(), dim=1)
        result.update(mode_coverage(probabilities, num_classes=probabilities.shape[1]))
    return result


@dataclass(frozen=True)
class _KidSettings:
    subsets: int
    subset_size: int | None  # None when KID is not asked


def kid_subset_size(n_a: int, n_b: int) -> int:
    """KID's default subset size: the standard 1000, or the smaller set's size when less."""
    return min(KID_SUBSET_SIZE, n_a, n_b)


def _checked_kid_subset_size(n_a: int, n_b: int, requested: int | None) -> int:
    """The subset size asked for (checked against both counts), or the default."""
    if requested is None:
        return kid_subset_size(n_a, n_b)
    if requested > min(n_a, n_b):
        raise GenlabError(
            f"--kid-subset-size {requested} is more than the images of A and B ({n_a} and "
            f"{n_b}); pass --kid-subset-size {min(n_a, n_b)} or less, or more images"
        )
    return requested


def _interval(key: str, interval: Any) -> dict[str, float]:
    return {key + keys.CI_LOW_SUFFIX: interval.low, key + keys.CI_HIGH_SUFFIX: interval.high}


def reconstruction_metrics(
    reference: Source, run: Source, *, batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = True
) -> dict[str, float]:
    """Mean reconstruction MSE, L2 and PSNR of ``run``'s VAE on ``reference``'s images.

    Each image x is mapped to [-1, 1], reconstructed deterministically from the posterior mean
    (x̂ = decoder(μ_φ(x)), `VAE.reconstruct`), mapped back to uint8, and compared with
    `reconstruction_error`. Every value there is a mean over images, so batch means weighted by
    batch size give exactly the mean over all images.
    """
    if not isinstance(run, RunSource):
        raise GenlabError(f"reconstruction error needs a VAE run, got {run.spec}")
    vae = run.vae()
    totals = {keys.MSE: 0.0, keys.L2: 0.0, keys.PSNR: 0.0}
    count = 0
    with Progress(
        total=reference.count, unit="img", desc="reconstructions", enabled=progress
    ) as bar:
        for batch in reference.batches(batch_size):
            if tuple(batch.shape[1:]) != run.data_shape:
                raise GenlabError(
                    f"{reference.spec} has {tuple(batch.shape[1:])} images but the VAE of "
                    f"{run.spec} takes {run.data_shape}; pass held-out images of its data set"
                )
            with torch.inference_mode():
                rebuilt = signed_to_uint8(vae.reconstruct(uint8_to_signed(batch)))
            errors = reconstruction_error(batch, rebuilt)
            for key in totals:
                totals[key] += errors[key] * batch.shape[0]
            count += batch.shape[0]
            bar.update(batch.shape[0])
    return {key: total / count for key, total in totals.items()}


# --- Protocol --------------------------------------------------------------------------------


def _protocol(
    chosen: tuple[str, ...],
    a: Source,
    b: Source,
    identities: dict[str, Any],
    extracted_a: Extracted | None,
    extracted_b: Extracted | None,
    extractor: FeatureExtractor | None,
    seed: int,
    ci: bool,
    ci_resamples: int,
    kid: _KidSettings,
    *,
    n_ref: int | str,
) -> dict[str, Any]:
    n_a = extracted_a.count if extracted_a is not None else a.count
    n_b = extracted_b.count if extracted_b is not None else None
    settings: dict[str, Any] = {}
    if KID in chosen:
        settings["kid_subsets"] = kid.subsets
        settings["kid_subset_size"] = kid.subset_size
    if PR in chosen:
        settings["pr_k"] = PR_K
    if DC in chosen:
        settings["dc_k"] = DC_K
    if IS in chosen:
        settings["is_splits"] = IS_SPLITS
    if ci:
        settings["ci"] = {
            "confidence": CI_CONFIDENCE,
            "method": CI_METHOD,
            "resamples": ci_resamples,
        }
    features = extractor.protocol() if extractor is not None else None
    if features is None:  # statistics files alone: their extractor's protocol
        for extracted in (extracted_a, extracted_b):
            if extracted is not None and extracted.statistics is not None:
                features = extracted.statistics.protocol or None
                break
    return {
        PROTOCOL_FEATURES: features,
        PROTOCOL_REFERENCE: a.describe(),
        PROTOCOL_SOURCE_A: identities["a"],
        PROTOCOL_SOURCE_B: identities["b"],
        PROTOCOL_N_A: n_a,
        PROTOCOL_N_REF: n_ref,
        PROTOCOL_N_B: n_b,
        PROTOCOL_METRICS: list(chosen),
        PROTOCOL_SETTINGS: settings,
        PROTOCOL_SEED: seed,
        PROTOCOL_GENLAB_VERSION: genlab.__version__,
    }


__all__ = [
    "ALL",
    "DEFAULT_METRICS",
    "METRICS",
    "PROTOCOL",
    "Extracted",
    "Needs",
    "build_extractor",
    "compute_statistics",
    "evaluate",
    "extract",
    "kid_subset_size",
    "parse_metrics",
    "reconstruction_metrics",
]

"""The evaluation driver: two image sources → features (once, cached) → every requested metric.

``evaluate("mnist:test", "runs/00003-vae-mnist", metrics=("fid", "kid"), n=10_000)`` resolves
both sources (`genlab.metrics.sources`), runs one feature extractor over each source exactly once,
keeping only what the metrics need, and hands the results to the pure metric functions. Each
metric is a record of `genlab.metrics.registry` (what it needs, what it requires of the extractor,
its compute function, settings and result keys); the built-in ones:

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

The result is an `EvaluationResult` (`genlab.metrics.result`): a mapping of metric values under
the records' keys (`genlab.metrics.keys`) with ``result.protocol``: the extractor's protocol (name,
weights SHA-256, resize mode, input size, normalisation), both sources with their identities and
sample counts, the metric settings, the seed and the genlab version — everything needed to tell
whether two numbers are comparable.

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

import dataclasses
import itertools
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

import genlab
from genlab import distributed
from genlab.arrays import check_integer
from genlab.data.imageio import signed_to_uint8, uint8_to_signed
from genlab.errors import GenlabError
from genlab.metrics import keys, registry
from genlab.metrics.cache import FEATURES, LOGITS, STATISTICS, FeatureCache, cache_key
from genlab.metrics.features.inception import PROTOCOL_EXTRACTOR
from genlab.metrics.features.registry import (
    FeatureExtractor,
    capabilities,
    extract_features,
    get_extractor,
)
from genlab.metrics.inputs import as_source
from genlab.metrics.reconstruction import reconstruction_error
from genlab.metrics.registry import (
    CI_CONFIDENCE,
    CI_METHOD,
    DC,
    DEFAULT_CI_RESAMPLES,
    FID,
    FID_INFINITY,
    IS,
    KID,
    KID_SUBSET_SIZE,
    KID_SUBSETS,
    MODES,
    PR,
    RECON,
    Metric,
    MetricInputs,
    MetricOptions,
    Needs,
)
from genlab.metrics.result import PROTOCOL, EvaluationResult
from genlab.metrics.sources import RunSource, Source, StatisticsSource
from genlab.metrics.statistics import (
    FeatureStatistics,
    RunningStatistics,
    statistics_from_features,
)
from genlab.progress import Progress

#: The built-in metric names with one line each (`genlab.metrics.registry.available` also lists
#: metrics registered later).
METRICS = registry.available()
DEFAULT_METRICS = (FID,)
DEFAULT_FEATURES = "inception"
DEFAULT_BATCH_SIZE = 200

#: Keys inside ``result.protocol``.
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
PROTOCOL_HELDOUT = "heldout"
PROTOCOL_N = "n"
#: ``{result key: name}`` for results named by a non-Inception feature space (``FD_dinov2-vit-l14``
#: for ``fid``); present only when some name changes (`genlab.metrics.registry.in_space`).
PROTOCOL_LABELS = "labels"

#: ``n_ref=ALL``: every image of the reference A, whatever ``n`` is.
ALL = "all"


@dataclass
class Extracted:
    """What a source gave: its size and the outputs asked for (None where not asked)."""

    count: int
    statistics: FeatureStatistics | None = None
    features: torch.Tensor | None = None
    logits: torch.Tensor | None = None


def parse_metrics(metrics: str | Iterable[str]) -> tuple[str, ...]:
    """Metric names from ``"fid,kid"`` or a sequence, checked, duplicates removed, order kept."""
    return registry.resolve(metrics)


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
    source_a: Any,
    source_b: Any,
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
    value_range: tuple[float, float] | None = None,
    latent_dim: int | None = None,
    heldout: Any = None,
) -> EvaluationResult:
    """Compare image source B against reference A with the requested metrics.

    Parameters
    ----------
    source_a, source_b
        Anything that holds images (`genlab.metrics.inputs.as_source`): a spec or path (data set
        split, folder, archive, .npz of images, statistics .npz — genlab's, or an external
        ``mu``/``sigma`` file with ``features`` named —, run folder, checkpoint), a numpy array
        or torch tensor of images, `FeatureStatistics`, an ``nn.Module`` generator or a callable
        ``f(batch_size) -> images`` (both with ``n``), or a `Source`. A is the reference; B is
        judged (IS, modes and FID∞ are about B).
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
    value_range
        The range of float images among the sources (arrays, tensors, generator outputs):
        ``(0, 1)`` or ``(-1, 1)``; they become uint8 as a PNG of them would. None: uint8 only.
    latent_dim
        Latent size of an ``nn.Module`` generator without a ``latent_dim`` attribute.
    heldout
        Real images the model never saw (any form of a source, all of them), for metrics that
        use them (``memorization``: the null distances are theirs rather than leave-one-out
        distances within A, a sharper test). Recorded in the protocol under ``heldout``.

    Returns
    -------
    EvaluationResult
        A mapping of the metric values under `genlab.metrics.keys` (``fid``, ``kid_mean``,
        ``kid_std``, ...; with ``ci``: ``fid_ci_low`` etc.), with ``.protocol``, a table as its
        ``str`` and ``.to_json()``.

    Raises
    ------
    GenlabError
        For an unknown metric or source, a metric the sources cannot serve (KID from a statistics
        file, IS without logits, reconstruction from a GAN), or bad options.
    """
    started = time.perf_counter()
    chosen = parse_metrics(metrics)
    records = registry.records(chosen)
    options = checked_options(
        MetricOptions(
            seed=seed,
            ci=ci,
            ci_resamples=ci_resamples,
            kid_subsets=kid_subsets,
            kid_subset_size=kid_subset_size,
            batch_size=batch_size,
            progress=progress,
        )
    )
    n_a_asked = _reference_count(n, n_ref)
    distributed.init()
    inputs = dict(value_range=value_range, latent_dim=latent_dim, data_dir=data_dir)
    a = as_source(source_a, name="A", n=n_a_asked, seed=seed + 1, **inputs)
    b = as_source(source_b, name="B", n=n, seed=seed, **inputs)
    h = _heldout_source(heldout, records, seed=seed + 2, **inputs)
    _check_reference_count(a, n_ref)
    needs_a, needs_b = combined_needs(records, ci=ci)
    _check_servable(records, a, b, needs_a, needs_b)
    # Before any image is read: statistics files fix the extractor (read from their protocol).
    external = _external_statistics(features, a, b, needs_a, needs_b)
    features = _features_for_statistics(features, a, b, needs_a, needs_b)
    check_counts(records, a, b)
    subset_size = (
        checked_kid_subset_size(a.count, b.count, kid_subset_size) if KID in chosen else None
    )
    store = as_cache(cache)
    extractor = None
    if _extracts_images(a, needs_a) or _extracts_images(b, needs_b) or external:
        extractor = build_extractor(features, device=device, extractor_options=extractor_options)
        check_extractor(records, extractor)
    for source in external:  # the user named the features: their protocol is taken on trust
        source.assert_protocol(
            extractor.protocol(), extractor=extractor.name, dim=known_dim(extractor)
        )
    check_statistics_protocol(extractor, [("A", a), ("B", b)])
    # Identities hash files (checkpoints, .npz), so each is computed once, for keys and protocol.
    identity_a = a.identity()
    identity_b = b.identity() if _uses_images_of(b, records) else None
    extracted_a = _extract_side(a, identity_a, extractor, needs_a, store, batch_size, progress)
    extracted_b = _extract_side(b, identity_b, extractor, needs_b, store, batch_size, progress)
    identities = {"a": _with_spec(a, identity_a), "b": _with_spec(b, identity_b)}
    held = None
    if h is not None:
        identity_h = h.identity()
        extracted_h = _extract_side(
            h, identity_h, extractor, Needs(features=True), store, batch_size, progress
        )
        held = (h, extracted_h, _with_spec(h, identity_h))

    options = dataclasses.replace(options, kid_subset_size=subset_size)

    def metrics_of_extracted() -> EvaluationResult:
        return measure(
            records,
            (a, extracted_a, identities["a"]),
            (b, extracted_b, identities["b"]),
            extractor,
            options,
            n_ref=ALL if n_a_asked is None or isinstance(a, StatisticsSource) else n_a_asked,
            started=started,
            heldout=held,
        )

    # Rank 0 holds the gathered features; every process gets its result (or its error).
    return distributed.run_on_main(metrics_of_extracted)


#: One side of a measurement: its source, what was extracted from it, its identity.
Side = tuple[Source, "Extracted | None", dict[str, Any]]


def measure(
    records: Sequence[Metric],
    side_a: Side,
    side_b: Side,
    extractor: FeatureExtractor | None,
    options: MetricOptions,
    *,
    n_ref: int | str,
    started: float | None = None,
    heldout: Side | None = None,
) -> EvaluationResult:
    """Every record's values from what was extracted, with the protocol (`evaluate`'s last step,
    and `genlab.Metrics.compute`'s)."""
    (a, extracted_a, identity_a), (b, extracted_b, identity_b) = side_a, side_b
    inputs = MetricInputs(
        a=extracted_a,
        b=extracted_b,
        source_a=a,
        source_b=b,
        protocol=extractor.protocol() if extractor is not None else None,
        options=options,
        heldout=None if heldout is None else heldout[1],
    )
    values: dict[str, Any] = {}
    for record in records:
        values.update(record.run(inputs))
    protocol = _protocol(
        records,
        a,
        b,
        {"a": identity_a, "b": identity_b},
        extracted_a,
        extracted_b,
        extractor,
        options,
        n_ref=n_ref,
    )
    if heldout is not None:
        protocol[PROTOCOL_HELDOUT] = {**heldout[2], PROTOCOL_N: heldout[1].count}
    seconds = None if started is None else time.perf_counter() - started
    return EvaluationResult(values, protocol, seconds=seconds)


def _heldout_source(value: Any, records: Sequence[Metric], **options: Any) -> Source | None:
    """The held-out images' source, refused when no chosen metric uses them."""
    if value is None:
        return None
    if not any(record.takes_heldout for record in records):
        takers = [record.name for record in registry.records() if record.takes_heldout]
        raise GenlabError(
            f"held-out images serve {', '.join(takers)}, which --metrics does not ask for; add "
            "it or leave --heldout out"
        )
    source = as_source(value, name="held-out", **options)
    if isinstance(source, StatisticsSource):
        raise GenlabError(
            f"held-out images are compared one by one; {source.spec} holds statistics"
        )
    return source


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
    check_integer(batch_size, "batch_size")
    distributed.init()
    resolved = as_source(source, name="images", n=n, seed=seed, data_dir=data_dir)
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
        as_cache(cache),
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


def checked_options(options: MetricOptions) -> MetricOptions:
    """``options`` once every count in it is a valid integer (one-line errors otherwise)."""
    check_integer(options.batch_size, "batch_size")
    check_integer(options.ci_resamples, "ci_resamples", minimum=2)
    check_integer(options.seed, "seed", minimum=0)
    check_integer(options.kid_subsets, "kid_subsets")
    if options.kid_subset_size is not None:
        check_integer(options.kid_subset_size, "kid_subset_size", minimum=2)
    return options


def check_counts(records: Sequence[Metric], a: Source, b: Source) -> None:
    """Refuse, before extraction, a side with fewer images than a metric that reads it needs."""
    for record in records:
        for side, source, needs in (("A", a, record.needs_a), ("B", b, record.needs_b)):
            count = source.count if needs.anything else None  # a run counts only with --n
            if count is not None and count < record.min_images:
                raise GenlabError(
                    f"{record.title or record.name} needs at least {record.min_images} images "
                    f"on each side, but {side} ({source.spec}) has {count}; pass more images"
                )


def combined_needs(records: Sequence[Metric], *, ci: bool) -> tuple[Needs, Needs]:
    """What each side must give, over all the metrics. A is the reference, B is judged."""
    needs_a = needs_b = Needs()
    for record in records:
        needs_a, needs_b = needs_a | record.needs_a, needs_b | record.needs_b
        if ci and record.ci_needs is not None:
            needs_a, needs_b = needs_a | record.ci_needs, needs_b | record.ci_needs
    return needs_a, needs_b


def _extracts_images(source: Source, needs: Needs) -> bool:
    """Whether the extractor must run over this source's images (a statistics file has none)."""
    return needs.anything and not isinstance(source, StatisticsSource)


def _uses_images_of(source: Source, records: Sequence[Metric]) -> bool:
    # A VAE run used only for its reconstructions is never asked to generate (no --n needed).
    return any(record.uses_extractor for record in records) or not isinstance(source, RunSource)


def _with_spec(source: Source, identity: dict[str, Any] | None) -> dict[str, Any]:
    """The identity for the protocol, with the spec as typed.

    The spec is never part of a cache key: ``mnist`` and ``mnist:train`` are the same data.
    """
    return {"spec": source.spec, **(identity or {})}


def _check_servable(
    records: Sequence[Metric], a: Source, b: Source, needs_a: Needs, needs_b: Needs
) -> None:
    statistics_only = Needs(statistics=True)
    for side, source, needs in (("A", a, needs_a), ("B", b, needs_b)):
        if isinstance(source, StatisticsSource) and (needs.features or needs.logits):
            wanted = [
                r.name
                for r in records
                if (r.needs_a | r.needs_b | statistics_only) != statistics_only
            ]
            raise GenlabError(
                f"source {side} ({source.spec}) holds only feature statistics, which serve FID "
                f"alone; {', '.join(wanted) or 'confidence intervals'} need(s) images or features "
                "— pass images for it"
            )
    for record in records:
        what = record.title or record.name
        if record.needs_b.run and not isinstance(b, RunSource):
            raise GenlabError(
                f"{what} needs B to be a VAE run folder or checkpoint, got "
                f"{b.spec}; A gives the held-out images (e.g. mnist:test)"
            )
        if record.needs_a.images and isinstance(a, StatisticsSource):
            raise GenlabError(f"{what} needs images in A, but {a.spec} holds only statistics")


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


def known_dim(extractor: FeatureExtractor) -> int | None:
    """The extractor's feature dimension, or None while it is unknown (raw pixels learn theirs
    from the first image)."""
    try:
        return int(extractor.dim)
    except AttributeError:
        return None


def _external_statistics(
    features: str | FeatureExtractor | None, a: Source, b: Source, needs_a: Needs, needs_b: Needs
) -> list[StatisticsSource]:
    """The external ``mu``/``sigma`` files among the sources; refused unless features are named.

    Such files record nothing of how their features were made, so only the user can say it.
    """
    external = [
        (side, source)
        for side, source, needs in (("A", a, needs_a), ("B", b, needs_b))
        if needs.anything and isinstance(source, StatisticsSource) and source.external
    ]
    if external and features is None:
        side, source = external[0]
        raise GenlabError(
            f"{side} ({source.spec}) holds only mu and sigma (a pytorch-fid/clean-fid statistics "
            "file), with no record of the features that made them; name them with --features "
            "(features=...), e.g. inception, to use the file on trust"
        )
    return [source for _, source in external]


def check_statistics_protocol(
    extractor: FeatureExtractor | None, sides: Sequence[tuple[str, Source]]
) -> None:
    """Refuse before extracting when statistics were made with other extractor settings.

    The extractor names agree (`_features_for_statistics`); this compares whole protocols
    (weights, resizing, size) of each statistics file with the extractor's, or with the other
    file's when both sources are statistics. Compared as stored: through JSON (tuples as lists).
    """
    stored = [
        (f"{side} ({source.spec})", source.statistics.protocol)
        for side, source in sides
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


def check_extractor(records: Sequence[Metric], extractor: FeatureExtractor) -> None:
    """Fail before any extraction when the extractor cannot give what a metric requires."""
    declared = capabilities(extractor)
    for record in records:
        if registry.LOGITS in record.requires and not declared.logits:
            raise GenlabError(declared.no_logits or record.refusal.format(extractor=extractor.name))
        if registry.CLASSIFIER in record.requires and declared.classes is None:
            raise GenlabError(record.refusal.format(extractor=extractor.name))
        if registry.CLIP_EMBEDDING in record.requires and not declared.clip_embedding:
            raise GenlabError(record.refusal.format(extractor=extractor.name))


def as_cache(cache: bool | FeatureCache | None) -> FeatureCache | None:
    if isinstance(cache, FeatureCache):
        return cache
    return FeatureCache() if cache else None


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
    logits_of = logits_function(extractor) if needs.logits else None
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


def logits_function(
    extractor: FeatureExtractor,
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``logits(images, features)`` of an extractor that declares logits.

    The features of the same batch are passed along: an extractor whose logits follow from its
    features (the FID Inception network's are pool3 · Wᵀ) needs one matrix product instead of a
    second forward pass.
    """
    declared = capabilities(extractor)
    if not declared.logits:
        raise GenlabError(
            declared.no_logits
            or f"the {extractor.name!r} extractor gives no class logits; use --features "
            "inception (with the fc weights) or a classifier"
        )
    return lambda images, features: extractor.logits(images, features=features).float().cpu()


# --- Metrics ---------------------------------------------------------------------------------


def kid_subset_size(n_a: int, n_b: int) -> int:
    """KID's default subset size: the standard 1000, or the smaller set's size when less."""
    return min(KID_SUBSET_SIZE, n_a, n_b)


def checked_kid_subset_size(n_a: int, n_b: int, requested: int | None) -> int:
    """The subset size asked for (checked against both counts), or the default."""
    if requested is None:
        return kid_subset_size(n_a, n_b)
    if requested > min(n_a, n_b):
        raise GenlabError(
            f"--kid-subset-size {requested} is more than the images of A and B ({n_a} and "
            f"{n_b}); pass --kid-subset-size {min(n_a, n_b)} or less, or more images"
        )
    return requested


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
    records: Sequence[Metric],
    a: Source,
    b: Source,
    identities: dict[str, Any],
    extracted_a: Extracted | None,
    extracted_b: Extracted | None,
    extractor: FeatureExtractor | None,
    options: MetricOptions,
    *,
    n_ref: int | str,
) -> dict[str, Any]:
    n_a = extracted_a.count if extracted_a is not None else a.count
    n_b = extracted_b.count if extracted_b is not None else None
    settings: dict[str, Any] = {}
    for record in records:
        settings.update(record.settings(options))
    if options.ci:
        settings["ci"] = {
            "confidence": CI_CONFIDENCE,
            "method": CI_METHOD,
            "resamples": options.ci_resamples,
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
        PROTOCOL_METRICS: [record.name for record in records],
        PROTOCOL_SETTINGS: settings,
        PROTOCOL_SEED: options.seed,
        PROTOCOL_GENLAB_VERSION: genlab.__version__,
        **_space_labels(records, features),
    }


def _space_labels(records: Sequence[Metric], features: dict[str, Any] | None) -> dict[str, Any]:
    """``{PROTOCOL_LABELS: {...}}`` when the feature space renames a result (FID → FD_<space>)."""
    extractor = (features or {}).get(PROTOCOL_EXTRACTOR)
    labels = registry.space_labels(extractor, [record.name for record in records])
    return {PROTOCOL_LABELS: labels} if labels else {}


__all__ = [
    "ALL",
    "DC",
    "DEFAULT_METRICS",
    "FID",
    "FID_INFINITY",
    "IS",
    "KID",
    "METRICS",
    "MODES",
    "PR",
    "PROTOCOL",
    "RECON",
    "EvaluationResult",
    "Extracted",
    "Needs",
    "as_cache",
    "build_extractor",
    "check_counts",
    "check_extractor",
    "check_statistics_protocol",
    "checked_kid_subset_size",
    "checked_options",
    "combined_needs",
    "compute_statistics",
    "evaluate",
    "extract",
    "kid_subset_size",
    "known_dim",
    "logits_function",
    "measure",
    "parse_metrics",
    "reconstruction_metrics",
]

"""The metric registry: one record per metric, the one place that says what a metric is.

A record (`Metric`) holds everything the rest of genlab needs to know about a metric:

- its ``name`` (what ``evaluate(metrics=...)`` and ``genlab eval --metrics`` accept) and a
  one-line ``summary`` (what `available` lists);
- what it ``needs`` from the reference A and from the judged B (`Needs`: feature statistics,
  features, logits, the images themselves, a run), and what more it needs for confidence
  intervals;
- what it ``requires`` of the feature extractor (class logits, or being a classifier of the data
  set), with the message for an extractor that cannot serve it;
- a pure ``compute(inputs) -> dict`` from what was extracted (`MetricInputs`) to result values;
- the ``settings`` it records in the result's protocol;
- its result keys (`ResultKey`): each with the CLI table's label, the report's title, which
  direction is better and the key of its spread (``kid_std`` beside ``kid_mean``).

`genlab.metrics.evaluate` resolves names here, combines the records' needs, extracts once and loops
over the chosen records; the CLI's table, the report's labels and the comparison's columns read
their labels here. Adding a metric is one `register` call with its record, its function and its
test. Importing this module imports no torch (``genlab --help`` stays fast): ``compute`` may be a
``"module:function"`` string, imported on first use.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from genlab.errors import GenlabError, did_you_mean
from genlab.metrics import keys

#: Directions of `ResultKey.better`.
HIGHER = "↑"
LOWER = "↓"
NEITHER = ""
_DIRECTION_TEXT = {HIGHER: "higher is better", LOWER: "lower is better", NEITHER: ""}

#: Names of the built-in metrics, as `evaluate` and ``genlab eval --metrics`` take them.
FID = "fid"
FID_INFINITY = "fid-inf"
KID = "kid"
IS = "is"
PR = "pr"
DC = "dc"
MODES = "modes"
RECON = "recon"
C2ST = "c2st"
CRITIC_W1 = "critic-w1"
MEMORIZATION = "memorization"
VENDI = "vendi"

# Settings fixed by the metrics' papers, recorded in every result. KID's two are defaults
# (torch-fidelity's kid_subsets and kid_subset_size), overridable.
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
PR_K = 3
DC_K = 5
IS_SPLITS = 10
CI_CONFIDENCE = 0.95
CI_METHOD = "shifted_percentile"
DEFAULT_CI_RESAMPLES = 100


@dataclass(frozen=True)
class Needs:
    """What a metric needs from one source; `evaluate` extracts the union over the metrics.

    ``statistics``, ``features`` and ``logits`` come from one extraction pass; ``images`` means
    the metric reads the source's images itself (so a statistics file cannot serve it), ``run``
    that the source must be a run folder or checkpoint (a VAE, for reconstructions).
    """

    statistics: bool = False
    features: bool = False
    logits: bool = False
    images: bool = False
    run: bool = False

    @property
    def anything(self) -> bool:
        """Whether the extractor must run over the source."""
        return self.statistics or self.features or self.logits

    def __or__(self, other: Needs) -> Needs:
        return Needs(
            **{f.name: getattr(self, f.name) or getattr(other, f.name) for f in fields(self)}
        )


@dataclass(frozen=True)
class ResultKey:
    """One value of a metric's result.

    ``label`` is the CLI table's row name (with `scale_text` after it when ``scale`` is not 1),
    ``title`` the report's and the comparison's name for it, ``better`` `HIGHER`, `LOWER` or
    `NEITHER`, ``spread`` the key of its ± (a standard deviation over subsets or splits), and
    ``scale`` the factor tables show it multiplied by (KID ×10³; JSON stays raw).
    ``space_label`` is its name outside Inception's feature space (``FD`` for FID): see
    `in_space`.
    """

    key: str
    label: str
    title: str
    better: str
    spread: str | None = None
    scale: float = 1.0
    scale_text: str = ""
    space_label: str = ""

    @property
    def table_label(self) -> str:
        """The CLI table's row name: ``FID``, ``KID ×10³``."""
        return f"{self.label} {self.scale_text}" if self.scale_text else self.label

    @property
    def direction(self) -> str:
        """``"lower is better"``, ``"higher is better"`` or ``""``."""
        return _DIRECTION_TEXT[self.better]


@dataclass(frozen=True)
class MetricOptions:
    """The evaluation's options that metrics read (each records what it used in `settings`)."""

    seed: int = 0
    ci: bool = False
    ci_resamples: int = DEFAULT_CI_RESAMPLES
    kid_subsets: int = KID_SUBSETS
    kid_subset_size: int | None = None  # resolved by evaluate when KID is asked
    batch_size: int = 200
    progress: bool = True


@dataclass(frozen=True)
class MetricInputs:
    """What `Metric.compute` receives.

    ``a`` and ``b`` are `genlab.metrics.evaluate.Extracted` (count, statistics, features, logits;
    None for a side the metrics need nothing extracted from), ``source_a``/``source_b`` the
    resolved sources (for metrics that read images or a run), ``protocol`` the extractor's
    protocol (None when no extractor ran), ``heldout`` the features of held-out real images
    when the user gave them (for metrics with ``takes_heldout``), else None.
    """

    a: Any
    b: Any
    source_a: Any
    source_b: Any
    protocol: dict[str, Any] | None
    options: MetricOptions
    heldout: Any = None


#: Capabilities a metric may require of the feature extractor (see `ExtractorCapabilities`).
LOGITS = "logits"
CLASSIFIER = "classifier"
CLIP_EMBEDDING = "clip_embedding"
_REQUIREMENTS = (LOGITS, CLASSIFIER, CLIP_EMBEDDING)


@dataclass(frozen=True)
class Metric:
    """One metric: name, needs, requirements, compute, settings and result keys."""

    name: str
    summary: str
    compute: Callable[[MetricInputs], dict[str, Any]] | str
    results: tuple[ResultKey, ...]
    needs_a: Needs = Needs()
    needs_b: Needs = Needs()
    #: Extra needs on both sides for bootstrap confidence intervals; None: no interval.
    ci_needs: Needs | None = None
    #: `LOGITS`, `CLASSIFIER`, `CLIP_EMBEDDING`.
    requires: frozenset[str] = frozenset()
    #: Why an extractor without a requirement cannot serve it; ``{extractor}`` is its name.
    refusal: str = ""
    settings: Callable[[MetricOptions], dict[str, Any]] = field(default=lambda options: {})
    #: Keys of non-numeric values the result also holds (per-class counts), not shown in tables.
    other_keys: tuple[str, ...] = ()
    #: What error messages call it (``reconstruction error``); empty: its name.
    title: str = ""
    #: Images it needs on each side it reads (a covariance needs 2; k-NN radii k + 1).
    min_images: int = 2
    #: Whether it uses held-out real images when given (``evaluate(heldout=...)``).
    takes_heldout: bool = False

    @property
    def uses_extractor(self) -> bool:
        """Whether it is computed from extracted statistics, features or logits."""
        return self.needs_a.anything or self.needs_b.anything

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key the result holds (without confidence-interval bounds)."""
        spreads = tuple(r.spread for r in self.results if r.spread)
        return tuple(r.key for r in self.results) + spreads + self.other_keys

    def run(self, inputs: MetricInputs) -> dict[str, Any]:
        """``compute(inputs)``, importing a ``"module:function"`` compute first."""
        return load(self.compute, what=f"metric {self.name!r}")(inputs)


def load(target: Callable[..., Any] | str, *, what: str) -> Callable[..., Any]:
    """``target`` itself, or the object a ``"package.module:attribute"`` string names, imported
    now (registries keep such strings so that importing them loads no network or torch code)."""
    if not isinstance(target, str):
        return target
    module_name, _, attribute = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise GenlabError(
            f"{what} could not be loaded from {target!r} ({exc}); "
            "check the registration or install what it needs"
        ) from exc


_BUILTIN = "genlab.metrics.compute"

_METRICS: dict[str, Metric] = {}


def register(metric: Metric, *, replace: bool = False) -> Metric:
    """Add ``metric`` to the registry, making its name selectable in `evaluate` and the CLI.

    Raises
    ------
    GenlabError
        If the name is taken (unless ``replace``), or a result key or label is another metric's.
    """
    if not isinstance(metric, Metric):
        raise GenlabError(f"register takes a Metric record, got {type(metric).__name__}")
    if not metric.name or metric.name != metric.name.strip().lower() or "," in metric.name:
        raise GenlabError(
            f"metric name must be lowercase without commas or spaces, got {metric.name!r}"
        )
    if metric.name in _METRICS and not replace:
        raise GenlabError(
            f"a metric named {metric.name!r} is already registered; choose another name or pass "
            "replace=True"
        )
    unknown = metric.requires - set(_REQUIREMENTS)
    if unknown:
        raise GenlabError(
            f"unknown requirement(s) {sorted(unknown)}; use {', '.join(_REQUIREMENTS)}"
        )
    for result in metric.results:
        if result.better not in _DIRECTION_TEXT:
            raise GenlabError(
                f"{result.key}: better must be HIGHER, LOWER or NEITHER, got {result.better!r}"
            )
    others = [m for m in _METRICS.values() if m.name != metric.name]
    taken = {key for other in others for key in other.keys} & set(metric.keys)
    if taken:
        raise GenlabError(f"result key(s) {sorted(taken)} belong to another metric; rename them")
    _METRICS[metric.name] = metric
    return metric


def unregister(name: str) -> None:
    """Remove a metric (a test's toy record, for instance)."""
    _METRICS.pop(name, None)


def available() -> dict[str, str]:
    """Registered metric names, in registration order, each with its one-line summary."""
    return {name: metric.summary for name, metric in _METRICS.items()}


def get(name: str) -> Metric:
    """The record of ``name``; an unknown name suggests the closest and lists the known ones."""
    return _METRICS[resolve([name])[0]]


def resolve(metrics: str | Iterable[str]) -> tuple[str, ...]:
    """Metric names from ``"fid,kid"`` or a sequence, checked, duplicates removed, order kept."""
    names = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    cleaned = tuple(dict.fromkeys(name.strip().lower() for name in names if name.strip()))
    if not cleaned:
        raise GenlabError(f"no metric given; choose from {', '.join(_METRICS)}")
    unknown = [name for name in cleaned if name not in _METRICS]
    if unknown:
        named = ", ".join(f"{name!r}{did_you_mean(name, _METRICS)}" for name in unknown)
        raise GenlabError(
            f"unknown metric{'s' if len(unknown) > 1 else ''} {named}; "
            f"choose from {', '.join(_METRICS)}"
        )
    return cleaned


def records(names: Iterable[str] | None = None) -> tuple[Metric, ...]:
    """The records of ``names`` (checked, in that order), or every record."""
    chosen = tuple(_METRICS) if names is None else resolve(names)
    return tuple(_METRICS[name] for name in chosen)


def result_keys() -> tuple[ResultKey, ...]:
    """Every metric's labelled result keys, in registration order (the CLI table's rows)."""
    return tuple(result for metric in _METRICS.values() for result in metric.results)


def result_key(key: str) -> ResultKey | None:
    """The labelled record of a result key, or None for a key no metric declares."""
    return next((result for result in result_keys() if result.key == key), None)


#: The extractor whose feature space gives FID its name.
INCEPTION_SPACE = "inception"


def in_space(result: ResultKey, extractor: str | None) -> ResultKey:
    """``result`` named for the feature space it was measured in.

    FID and FID∞ are "Inception" distances only on Inception features; on another extractor's
    they are the Fréchet distance in that space, named by it as the literature does (FD_DINOv2:
    Stein et al. 2023, EDM2): ``FD_dinov2-vit-l14``, ``FD∞_clip-vit-b32``.
    Results without a ``space_label``, and any result when the extractor is Inception or unknown
    (None), keep their names. The result *keys* never change (``fid`` stays ``fid``).
    """
    if not result.space_label or extractor is None or extractor == INCEPTION_SPACE:
        return result
    name = f"{result.space_label}_{extractor}"
    return dataclasses.replace(result, label=name, title=name)


def space_labels(extractor: str | None, names: Iterable[str] | None = None) -> dict[str, str]:
    """``{result key: label}`` for the results of the metrics ``names`` (all when None) whose name
    changes in ``extractor``'s space (`in_space`); empty for Inception."""
    renamed = {}
    for metric in records(names):
        for result in metric.results:
            named = in_space(result, extractor)
            if named is not result:
                renamed[result.key] = named.label
    return renamed


# --- The built-in metrics ----------------------------------------------------------------------

register(
    Metric(
        name=FID,
        summary="Fréchet Inception Distance between A and B",
        compute=f"{_BUILTIN}:fid",
        results=(ResultKey(keys.FID, "FID", "FID", LOWER, space_label="FD"),),
        needs_a=Needs(statistics=True),
        needs_b=Needs(statistics=True),
        ci_needs=Needs(features=True),
    )
)
register(
    Metric(
        name=FID_INFINITY,
        summary="FID extrapolated to infinitely many samples of B",
        compute=f"{_BUILTIN}:fid_infinity",
        results=(ResultKey(keys.FID_INFINITY, "FID∞", "FID∞", LOWER, space_label="FD∞"),),
        needs_a=Needs(statistics=True),
        needs_b=Needs(features=True),
    )
)
register(
    Metric(
        name=KID,
        summary="Kernel Inception Distance (mean ± std over subsets)",
        compute=f"{_BUILTIN}:kid",
        # KID is quoted ×10³ (Bińkowski et al. 2018; StyleGAN2-ADA's tables), as its raw values
        # of a few thousandths lose their digits at four decimals.
        results=(
            ResultKey(
                keys.KID_MEAN,
                "KID",
                "KID",
                LOWER,
                spread=keys.KID_STD,
                scale=1e3,
                scale_text="×10³",
            ),
        ),
        needs_a=Needs(features=True),
        needs_b=Needs(features=True),
        ci_needs=Needs(features=True),
        settings=lambda o: {"kid_subsets": o.kid_subsets, "kid_subset_size": o.kid_subset_size},
    )
)
register(
    Metric(
        name=IS,
        summary="Inception Score of B (needs logits: Inception weights with fc, or a classifier)",
        compute=f"{_BUILTIN}:inception_score",
        results=(ResultKey(keys.IS_MEAN, "IS", "Inception Score", HIGHER, spread=keys.IS_STD),),
        needs_b=Needs(logits=True),
        requires=frozenset({LOGITS}),
        refusal="the Inception Score needs class logits, which the {extractor!r} extractor does "
        "not give; use --features inception (with the fc weights) or a classifier",
        settings=lambda o: {"is_splits": IS_SPLITS},
        min_images=IS_SPLITS,
    )
)
register(
    Metric(
        name=PR,
        summary=f"precision and recall of B against A (k = {PR_K})",
        compute=f"{_BUILTIN}:precision_recall",
        results=(
            ResultKey(keys.PRECISION, "Precision", "precision", HIGHER),
            ResultKey(keys.RECALL, "Recall", "recall", HIGHER),
        ),
        needs_a=Needs(features=True),
        needs_b=Needs(features=True),
        settings=lambda o: {"pr_k": PR_K},
        min_images=PR_K + 1,
    )
)
register(
    Metric(
        name=DC,
        summary=f"density and coverage of B against A (k = {DC_K})",
        compute=f"{_BUILTIN}:density_coverage",
        results=(
            ResultKey(keys.DENSITY, "Density", "density", HIGHER),
            ResultKey(keys.COVERAGE, "Coverage", "coverage", HIGHER),
        ),
        needs_a=Needs(features=True),
        needs_b=Needs(features=True),
        settings=lambda o: {"dc_k": DC_K},
        min_images=DC_K + 1,
    )
)
register(
    Metric(
        name=MODES,
        summary="classes of a classifier that B covers (classifier features only)",
        compute=f"{_BUILTIN}:modes",
        results=(
            ResultKey(keys.MODES_COVERED, "Modes", "modes covered", HIGHER),
            ResultKey(keys.MODE_KL_UNIFORM, "Mode KL", "KL(modes ‖ uniform), nats", LOWER),
            ResultKey(keys.MODE_CONFIDENCE, "Confidence", "classifier confidence", NEITHER),
        ),
        other_keys=(keys.MODE_COUNTS,),
        needs_b=Needs(logits=True),
        requires=frozenset({CLASSIFIER}),
        refusal="mode coverage counts the classes of a classifier of the data set, which the "
        "{extractor!r} extractor is not; use --features classifier-mnist",
    )
)
register(
    Metric(
        name=RECON,
        summary="reconstruction error of B, a VAE run, on A's images",
        compute=f"{_BUILTIN}:reconstruction",
        results=(
            ResultKey(keys.MSE, "MSE", "reconstruction MSE", LOWER),
            ResultKey(keys.L2, "L2", "reconstruction L2", LOWER),
            ResultKey(keys.PSNR, "PSNR (dB)", "PSNR (dB)", HIGHER),
        ),
        needs_a=Needs(images=True),
        needs_b=Needs(run=True),
        title="reconstruction error",
    )
)

# --- Metrics on the newer feature spaces (DINOv2, CLIP) -----------------------------------------

CMMD = "cmmd"
#: CMMD's kernel bandwidth and scale, the reference code's ``_SIGMA`` and ``_SCALE``.
CMMD_SIGMA = 10.0
CMMD_SCALE = 1000.0

register(
    Metric(
        name=CMMD,
        summary="CLIP-MMD: 1000 · MMD² (Gaussian, σ = 10) of L2-normalised CLIP embeddings "
        "(--features clip-vit-l14-336)",
        compute=f"{_BUILTIN}:cmmd",
        results=(ResultKey(keys.CMMD, "CMMD", "CMMD", LOWER),),
        needs_a=Needs(features=True),
        needs_b=Needs(features=True),
        requires=frozenset({CLIP_EMBEDDING}),
        refusal="CMMD is defined on CLIP image embeddings, which the {extractor!r} extractor does "
        "not give; use --features clip-vit-l14-336 (the paper's) or clip-vit-b32",
        settings=lambda o: {
            "cmmd_sigma": CMMD_SIGMA,
            "cmmd_scale": CMMD_SCALE,
            "cmmd_estimator": "biased V-statistic, as the reference code",
        },
    )
)

# The learned judges, memorisation and diversity (issue 14). Their settings are the defaults of
# genlab.metrics.judges / memorization, repeated here as numbers so that this module stays free
# of torch; tests/metrics/test_judges.py checks that they agree.
register(
    Metric(
        name=C2ST,
        summary="classifier two-sample test: held-out accuracy telling A from B (0.5: alike)",
        compute="genlab.metrics.judges:c2st_metric",
        results=(
            ResultKey(keys.C2ST, "C2ST", "C2ST accuracy", LOWER),
            ResultKey(keys.C2ST_P_VALUE, "C2ST p", "C2ST p-value (A = B)", NEITHER),
        ),
        needs_a=Needs(features=True),
        needs_b=Needs(features=True),
        settings=lambda o: {"c2st_hidden": [32, 32], "c2st_steps": 300, "c2st_holdout": 0.5},
        title="classifier two-sample test",
    )
)
register(
    Metric(
        name=CRITIC_W1,
        summary="W1(A, B) by a gradient-penalty critic fitted on one half, scored on the other",
        compute="genlab.metrics.judges:critic_w1_metric",
        results=(ResultKey(keys.CRITIC_W1, "Critic W1", "critic W₁ (held out)", LOWER),),
        needs_a=Needs(features=True),
        needs_b=Needs(features=True),
        settings=lambda o: {"critic_hidden": [64, 64], "critic_steps": 500, "critic_gp": 10.0},
        title="held-out critic W1",
    )
)
register(
    Metric(
        name=MEMORIZATION,
        summary="fraction of B that are near-copies of A (A: the training images)",
        compute="genlab.metrics.memorization:memorization_metric",
        results=(
            ResultKey(keys.MEMORIZATION, "Memorized", "memorised fraction", LOWER),
            ResultKey(keys.MEMORIZATION_Z, "Copy Z_U", "data-copying Z_U", NEITHER),
            ResultKey(keys.MEMORIZATION_THRESHOLD, "Copy dist.", "copy threshold", NEITHER),
        ),
        other_keys=(keys.MEMORIZATION_PAIRS,),
        needs_a=Needs(features=True),
        needs_b=Needs(features=True),
        settings=lambda o: {"memorization_alpha": 0.01, "memorization_null_size": 2000},
        takes_heldout=True,
    )
)
register(
    Metric(
        name=VENDI,
        summary="Vendi score of B: effective number of distinct images (cosine kernel)",
        compute="genlab.metrics.vendi:vendi_metric",
        results=(ResultKey(keys.VENDI, "Vendi", "Vendi score", HIGHER),),
        needs_b=Needs(features=True),
        settings=lambda o: {"vendi_kernel": "cosine"},
    )
)

__all__ = [
    "CLASSIFIER",
    "CLIP_EMBEDDING",
    "HIGHER",
    "LOGITS",
    "LOWER",
    "NEITHER",
    "Metric",
    "MetricInputs",
    "MetricOptions",
    "Needs",
    "ResultKey",
    "available",
    "get",
    "in_space",
    "records",
    "register",
    "resolve",
    "result_key",
    "result_keys",
    "space_labels",
    "unregister",
]

"""Read a run folder into a plain `RunSummary`: what the figures, the page and the summary show.

A run folder (`genlab.runs.RunFolder`) holds ``config.json``, ``model.json``, a metrics log
``metrics.jsonl``, sample grids ``samples/step-XXXXXXXX.png``, checkpoints, and optionally
final evaluations ``evaluations/*.json`` (each the dict of `genlab.metrics.evaluate.evaluate`)
and ``lipschitz.json`` (the dict of `genlab.training.inspect.critic_lipschitz_report`).

The metrics log mixes training records (losses under plain keys) and evaluation records
(``"<features>/<metric key>"`` keys, `genlab.runs.records`), e.g. ``"classifier-mnist/fid"`` and
its bootstrap bounds ``"classifier-mnist/fid_ci_low"`` / ``"..._ci_high"`` (`genlab.metrics.keys`).

Everything here is read-only: collecting never changes the run folder. A run killed early simply
gives fewer pieces (no samples, no checkpoint, no evaluations); only a folder that is not a run at
all is an error.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genlab.errors import GenlabError
from genlab.metrics import keys, registry
from genlab.runs import (
    LIPSCHITZ_FILE,
    READING_KEY,
    RunFolder,
    checkpoint_step,
    is_eval_key,
    read_json,
    split_eval_key,
)
from genlab.training.config import flat_config

#: Keys of a metrics record that are not metric values.
STEP = "step"
TIME = "time"
#: Real and generated points for a Lipschitz report computed by the report itself: few, so that
#: a report stays quick; ``genlab lipschitz --lipschitz-points`` gives tighter lower bounds.
DEFAULT_LIPSCHITZ_POINTS = 64

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CI_SUFFIXES = (keys.CI_LOW_SUFFIX, keys.CI_HIGH_SUFFIX)


@dataclass(frozen=True)
class Series:
    """One logged quantity over training: values at ``steps``, logged ``times`` seconds in.

    ``low`` and ``high`` hold confidence-interval bounds where the log has them (NaN elsewhere);
    ``spread`` the standard deviation logged beside a mean (``kid_std`` for ``kid_mean``).
    Values the log stored as non-finite strings (``"nan"``, ``"inf"``) come back as floats.
    """

    steps: tuple[int, ...]
    times: tuple[float, ...]
    values: tuple[float, ...]
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None
    spread: tuple[float, ...] | None = None

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def has_interval(self) -> bool:
        return self.low is not None and any(math.isfinite(v) for v in self.low)


@dataclass(frozen=True)
class SampleGrid:
    """A sample grid the trainer wrote at ``step``."""

    step: int
    path: Path


@dataclass(frozen=True)
class MetricValue:
    """One final metric: its value, an optional spread (``± std``) and 95 % interval."""

    key: str
    value: float
    std: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class FinalEvaluation:
    """One ``evaluations/*.json`` file: the metrics and what they were measured with."""

    name: str
    features: str | None
    reference: str | None
    n_reference: int | None
    n_generated: int | None
    metrics: tuple[MetricValue, ...]
    #: A one-line reading filed beside the values (the verdict of `genlab train`), if any.
    reading: str | None = None


@dataclass
class RunSummary:
    """Everything a report shows about one run folder, as plain values."""

    path: Path
    name: str
    #: The training options by flat (command-line) names: `genlab.training.config.flat_config`.
    config: dict[str, Any]
    model: dict[str, Any]
    steps_reached: int
    elapsed: float | None
    #: Training curves by metrics-log key (``loss_critic``, ``wasserstein_estimate``, ...).
    training: dict[str, Series] = field(default_factory=dict)
    #: Evaluation curves: features name -> metric key -> series (with CI bounds if logged).
    evaluation: dict[str, dict[str, Series]] = field(default_factory=dict)
    samples: list[SampleGrid] = field(default_factory=list)
    evaluations: list[FinalEvaluation] = field(default_factory=list)
    #: The critic's Lipschitz report, or None; ``lipschitz_note`` says where it came from or why
    #: there is none.
    lipschitz: dict[str, Any] | None = None
    lipschitz_note: str = ""
    #: Closest generated/training pairs of each memorisation evaluation, and why any is missing.
    closest_pairs: list[ClosestPairs] = field(default_factory=list)
    closest_pairs_notes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return str(self.config.get("kind", "gan"))

    @property
    def has_critic(self) -> bool:
        return self.kind != "vae"


def collect_run(
    path: str | Path,
    *,
    lipschitz: bool = True,
    lipschitz_points: int = DEFAULT_LIPSCHITZ_POINTS,
    data_dir: str | None = None,
    pairs: bool = True,
) -> RunSummary:
    """Read the run folder ``path`` into a `RunSummary`.

    Parameters
    ----------
    path
        A run folder (with ``config.json`` and ``model.json``).
    lipschitz
        The critic's Lipschitz bounds come from ``lipschitz.json`` if the folder has one;
        otherwise, for a GAN run and with ``lipschitz`` True, they are computed with
        `critic_lipschitz_report` on ``lipschitz_points`` real and generated points (needs a
        checkpoint and the run's data, looked up in ``data_dir``). A failure there is reported in
        ``lipschitz_note``, never raised: the rest of the report stands.
    pairs
        Fetch the images of the closest generated/training pairs of memorisation evaluations
        (`read_closest_pairs`: regenerates the evaluated images from the run).

    Raises
    ------
    GenlabError
        If ``path`` is not a run folder or one of its JSON files cannot be read.
    """
    run = RunFolder.open(path)
    records = run.records()
    summary = RunSummary(
        path=run.path,
        name=run.name,
        # By flat option names, whether the file is nested or flat (genlab 0.1.0).
        config=flat_config(run.config()),
        model=run.model(),
        steps_reached=0,
        elapsed=None,
        training=training_series(records),
        evaluation=evaluation_series(records),
        samples=list_sample_grids(run),
        evaluations=read_final_evaluations(run),
    )
    summary.steps_reached = _steps_reached(records, summary.samples, run)
    summary.elapsed = _elapsed(records)
    summary.lipschitz, summary.lipschitz_note = _lipschitz(
        summary, compute=lipschitz, points=lipschitz_points, data_dir=data_dir
    )
    if pairs:
        summary.closest_pairs, summary.closest_pairs_notes = read_closest_pairs(
            run.path, data_dir=data_dir
        )
    return summary


# --- Metrics log ------------------------------------------------------------------------------


def interval_base(metric: str) -> tuple[str, str] | None:
    """``"fid_ci_low"`` -> ``("fid", "_ci_low")``; None for a key that is no interval bound."""
    for suffix in _CI_SUFFIXES:
        if metric.endswith(suffix) and len(metric) > len(suffix):
            return metric[: -len(suffix)], suffix
    return None


def training_series(records: list[dict[str, Any]]) -> dict[str, Series]:
    """Series of every plain (non-evaluation) numeric key of the log, in log order."""
    columns: dict[str, list[tuple[int, float, float]]] = {}
    for record in records:
        step, time = _step_and_time(record)
        if step is None:
            continue
        for key, value in record.items():
            if key in (STEP, TIME) or is_eval_key(key):
                continue
            number = _number(value)
            if number is not None:
                columns.setdefault(key, []).append((step, time, number))
    return {key: _series(rows) for key, rows in columns.items()}


def evaluation_series(records: list[dict[str, Any]]) -> dict[str, dict[str, Series]]:
    """Evaluation curves: features -> metric -> series, CI bound keys folded into their metric."""
    values: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    bounds: dict[tuple[str, str, str, int], float] = {}
    for record in records:
        step, time = _step_and_time(record)
        if step is None:
            continue
        for key, value in record.items():
            number = _number(value)
            parts = split_eval_key(key)
            if parts is None or number is None:
                continue
            features, metric = parts
            bound = interval_base(metric)
            if bound is not None:
                bounds[(features, bound[0], bound[1], step)] = number
            else:
                values.setdefault((features, metric), []).append((step, time, number))
    result: dict[str, dict[str, Series]] = {}
    for (features, metric), rows in values.items():
        series = _series(rows)
        low = tuple(
            bounds.get((features, metric, keys.CI_LOW_SUFFIX, s), math.nan) for s in series.steps
        )
        high = tuple(
            bounds.get((features, metric, keys.CI_HIGH_SUFFIX, s), math.nan) for s in series.steps
        )
        if any(math.isfinite(v) for v in low + high):
            series = dataclasses.replace(series, low=low, high=high)
        result.setdefault(features, {})[metric] = series
    for metrics in result.values():
        _fold_spreads(metrics)
    return result


def _fold_spreads(metrics: dict[str, Series]) -> None:
    """Move each spread curve (``kid_std``) into the ``spread`` of its metric's (``kid_mean``),
    as one curve; which key is whose spread is the metric registry's word."""
    for mean_key in [k for k in metrics if _spread_key(k) in metrics]:
        std, mean = metrics.pop(_spread_key(mean_key)), metrics[mean_key]
        by_step = dict(zip(std.steps, std.values, strict=True))
        spread = tuple(by_step.get(step, math.nan) for step in mean.steps)
        metrics[mean_key] = dataclasses.replace(mean, spread=spread)


def _spread_key(key: str) -> str | None:
    """The key of the spread logged beside ``key`` (``kid_std`` beside ``kid_mean``), if any."""
    result = registry.result_key(key)
    return None if result is None else result.spread


def _step_and_time(record: dict[str, Any]) -> tuple[int | None, float]:
    step = record.get(STEP)
    if isinstance(step, bool) or not isinstance(step, int | float):
        return None, math.nan
    time = _number(record.get(TIME))
    return int(step), math.nan if time is None else time


def _number(value: Any) -> float | None:
    """A log value as a float: numbers, and the strings ``"nan"``/``"inf"`` the logger writes."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in ("nan", "inf", "-inf"):
        return float(value)
    return None


def _series(rows: list[tuple[int, float, float]]) -> Series:
    # A resumed run truncates its log, so steps only repeat if a log was appended to by hand;
    # keeping the last record per step keeps the curve a function of the step.
    by_step = {step: (time, value) for step, time, value in rows}
    steps = tuple(sorted(by_step))
    return Series(
        steps=steps,
        times=tuple(by_step[s][0] for s in steps),
        values=tuple(by_step[s][1] for s in steps),
    )


def _steps_reached(records: list[dict[str, Any]], samples: list[SampleGrid], run: RunFolder) -> int:
    """The furthest step any trace of the run shows: log, sample grids, checkpoints."""
    candidates = [s for s in (_step_and_time(r)[0] for r in records) if s is not None]
    candidates += [grid.step for grid in samples]
    candidates += [checkpoint_step(path) for path in run.checkpoints()]
    return max(candidates, default=0)


def _elapsed(records: list[dict[str, Any]]) -> float | None:
    times = [t for t in (_step_and_time(r)[1] for r in records) if math.isfinite(t)]
    return max(times) if times else None


# --- Samples, evaluations, Lipschitz ----------------------------------------------------------


def list_sample_grids(run: RunFolder) -> list[SampleGrid]:
    """The run's sample grids in step order (files that are not PNGs are left out)."""
    return [
        SampleGrid(step, path)
        for step, path in run.sample_grids()
        if path.is_file() and _looks_like_png(path)
    ]


def _looks_like_png(path: Path) -> bool:
    # A grid torn by a kill mid-write is skipped rather than embedded as a broken image.
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()
        return path.read_bytes()[:8] == _PNG_SIGNATURE
    except (OSError, SyntaxError, ValueError):
        return False


def pick_sample_steps(samples: list[SampleGrid], *, count: int = 5) -> list[SampleGrid]:
    """At most ``count`` grids: evenly spaced over training, always including the last one."""
    if count < 1:
        raise GenlabError(f"the number of sample grids to show must be at least 1, got {count}")
    if len(samples) <= count:
        return list(samples)
    if count == 1:
        return [samples[-1]]
    last = len(samples) - 1
    # Half-up rounding (not Python's half-to-even), so the spacing does not depend on parity.
    indices = sorted({math.floor(i * last / (count - 1) + 0.5) for i in range(count)})
    return [samples[i] for i in indices]


def read_final_evaluations(run: RunFolder) -> list[FinalEvaluation]:
    """Every ``evaluations/*.json`` of the run, in file-name order."""
    return [final_evaluation(path.stem, read_json(path)) for path in run.evaluations()]


def final_evaluation(name: str, result: dict[str, Any]) -> FinalEvaluation:
    """A `FinalEvaluation` from a dict returned by `genlab.metrics.evaluate.evaluate`.

    Numeric top-level keys are metrics; ``<key>_ci_low``/``_ci_high`` are the interval of
    ``<key>``, and a metric's spread key (the registry's: ``kid_std`` for ``kid_mean``) its
    spread, so each shows as one row.
    """
    from genlab.metrics.evaluate import (
        PROTOCOL,
        PROTOCOL_FEATURES,
        PROTOCOL_N_A,
        PROTOCOL_N_B,
        PROTOCOL_REFERENCE,
    )
    from genlab.metrics.features.inception import PROTOCOL_EXTRACTOR

    numbers = {k: n for k, v in result.items() if (n := _number(v)) is not None}
    folded = {k for k in numbers if interval_base(k) is not None}
    folded |= {_spread_key(k) for k in numbers if _spread_key(k) in numbers}
    metrics = []
    for key, value in numbers.items():
        if key in folded:
            continue
        std_key = _spread_key(key)
        metrics.append(
            MetricValue(
                key=key,
                value=value,
                std=numbers.get(std_key) if std_key else None,
                ci_low=numbers.get(key + keys.CI_LOW_SUFFIX),
                ci_high=numbers.get(key + keys.CI_HIGH_SUFFIX),
            )
        )
    protocol = result.get(PROTOCOL) if isinstance(result.get(PROTOCOL), dict) else {}
    features = protocol.get(PROTOCOL_FEATURES)
    if isinstance(features, dict):  # an extractor's protocol(): its name is under "extractor"
        features = features.get(PROTOCOL_EXTRACTOR)
    return FinalEvaluation(
        name=name,
        features=None if features is None else str(features),
        reference=_optional_str(protocol.get(PROTOCOL_REFERENCE)),
        n_reference=_optional_int(protocol.get(PROTOCOL_N_A)),
        n_generated=_optional_int(protocol.get(PROTOCOL_N_B)),
        metrics=tuple(metrics),
        reading=result[READING_KEY] if isinstance(result.get(READING_KEY), str) else None,
    )


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _optional_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _lipschitz(
    summary: RunSummary, *, compute: bool, points: int, data_dir: str | None
) -> tuple[dict[str, Any] | None, str]:
    run = RunFolder(summary.path)
    if run.lipschitz_path.is_file():
        return read_json(run.lipschitz_path), f"from {LIPSCHITZ_FILE}"
    if not summary.has_critic:
        return None, "a VAE has no critic"
    if not compute:
        return None, "not computed (--no-lipschitz)"
    if not run.checkpoints():
        return None, "no checkpoint yet"
    from genlab.training.inspect import critic_lipschitz_report

    try:
        report = critic_lipschitz_report(summary.path, points=points, data_dir=data_dir)
    except GenlabError as exc:
        return None, f"not computed: {exc}"
    return report, f"computed for this report ({points} real + {points} generated points)"


__all__ = [
    "FinalEvaluation",
    "MetricValue",
    "RunSummary",
    "SampleGrid",
    "Series",
    "collect_run",
    "evaluation_series",
    "final_evaluation",
    "pick_sample_steps",
    "training_series",
]


# --- Memorisation: the closest generated/training pairs ---------------------------------------


@dataclass(frozen=True)
class ClosestPairs:
    """The closest (generated, training) image pairs of a run's memorisation evaluation.

    ``generated`` and ``training`` are uint8 arrays (k, C, H, W), row i of each one pair at
    feature distance ``distances[i]``; ``reference`` the spec of the training images, ``threshold``
    the copy threshold τ and ``fraction`` the memorised fraction.
    """

    evaluation: str
    generated: np.ndarray
    training: np.ndarray
    distances: tuple[float, ...]
    reference: str
    threshold: float
    fraction: float


def read_closest_pairs(
    path: str | Path, *, data_dir: str | None = None
) -> tuple[list[ClosestPairs], list[str]]:
    """The closest pairs of each memorisation evaluation of the run at ``path``, with notes.

    The pairs are stored as indices (`keys.MEMORIZATION_PAIRS`); the images are fetched again:
    the training images from the reference spec of the evaluation's protocol (the first n_a,
    looked up in ``data_dir``), the generated ones by generating the same n_b images from the
    run with the evaluation's seed and `DEFAULT_BATCH_SIZE` (the images depend on both). When the
    run's checkpoint is no longer the one evaluated, or a source cannot be read, that evaluation
    gets a note instead of pairs: the rest of the report stands.
    """
    from genlab.metrics.evaluate import (
        DEFAULT_BATCH_SIZE,
        PROTOCOL,
        PROTOCOL_N_A,
        PROTOCOL_N_B,
        PROTOCOL_SEED,
        PROTOCOL_SOURCE_A,
        PROTOCOL_SOURCE_B,
    )
    from genlab.metrics.sources import resolve_source

    run = RunFolder.open(path)
    found, notes = [], []
    for file in run.evaluations():
        result = read_json(file)
        pairs = result.get(keys.MEMORIZATION_PAIRS)
        protocol = result.get(PROTOCOL)
        if not pairs or not isinstance(protocol, dict):
            continue
        try:
            seed = int(protocol[PROTOCOL_SEED])
            spec_a = str(protocol[PROTOCOL_SOURCE_A]["spec"])
            a = resolve_source(spec_a, n=protocol[PROTOCOL_N_A], seed=seed + 1, data_dir=data_dir)
            b = resolve_source(str(run.path), n=protocol[PROTOCOL_N_B], seed=seed)
            evaluated = protocol[PROTOCOL_SOURCE_B].get("checkpoint_sha256")
            if evaluated is not None and b.identity().get("checkpoint_sha256") != evaluated:
                notes.append(f"{file.stem}: the run has a newer checkpoint than the one evaluated")
                continue
            generated = _images_at(b, [int(p[0]) for p in pairs], DEFAULT_BATCH_SIZE)
            training = _images_at(a, [int(p[1]) for p in pairs], DEFAULT_BATCH_SIZE)
        except (GenlabError, KeyError, TypeError, ValueError, OSError) as exc:
            notes.append(f"{file.stem}: closest pairs not shown ({exc})")
            continue
        found.append(
            ClosestPairs(
                evaluation=file.stem,
                generated=generated,
                training=training,
                distances=tuple(float(p[2]) for p in pairs),
                reference=spec_a,
                threshold=float(result.get(keys.MEMORIZATION_THRESHOLD, math.nan)),
                fraction=float(result.get(keys.MEMORIZATION, math.nan)),
            )
        )
    return found, notes


def _images_at(source: Any, indices: list[int], batch_size: int) -> np.ndarray:
    """The images of ``source`` at ``indices`` (in that order), reading only as far as needed."""
    wanted, last, start = {}, max(indices), 0
    for batch in source.batches(batch_size):
        for index in indices:
            if start <= index < start + len(batch):
                wanted[index] = batch[index - start].numpy()
        start += len(batch)
        if start > last:
            break
    missing = sorted(set(indices) - set(wanted))
    if missing:
        raise GenlabError(f"{source.spec} has no image {missing[0]} (it holds {start})")
    return np.stack([wanted[index] for index in indices])

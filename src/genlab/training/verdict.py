"""The verdict at the end of a run: how far the final generator's samples are from real images.

After the last step, N samples of the final generator (its EMA copy when the run keeps one) are
compared with N held-out real images in a cheap feature space of the data set, and the same
measures are taken between two sets of *real* images, the floor that finite samples and the
split between writers leave even for a perfect generator:

- samples: ``genlab.evaluate(reference, samples)`` with the metrics `VERDICT_METRICS`;
- floor:   ``genlab.evaluate(reference, real)``, ``real`` the first N training images.

The defaults (`plan_verdict`): on ``digits`` the 64-D ``classifier-digits`` features against
``digits:test`` (the 297 held-out images; N = 297), on ``mnist`` ``classifier-mnist`` against
``mnist:test`` (N = ``--eval-n``, 2000), elsewhere ``--eval-features`` (else Inception) against
``--eval-reference`` (else the data set's test split). The samples are drawn with the latent
noise of seed `VERDICT_SEED` in batches of `genlab.metrics.evaluate.DEFAULT_BATCH_SIZE`, exactly
as ``genlab eval REFERENCE RUN --n N`` draws them from the saved run, so that command reproduces
the numbers.

The one-line reading compares each measure with its floor (`read_verdict`):

- **close to real**: FD ≤ 2 × the floor's FD, coverage ≥ 0.8 × the floor's coverage, and every
  class the real images show is covered (when the features have classes);
- **far from real**: FD > 5 × the floor's FD, or coverage < 0.5 × the floor's, or two or more
  classes fewer than the real images show;
- **on the way** otherwise.

The factors are deliberately coarse: the floor's own FD varies by tens of per cent between
subsets of a few hundred images, so finer bands would read noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from genlab.data.imageio import signed_to_uint8
from genlab.data.registry import dataset_splits
from genlab.data.sources import open_source, parse_spec
from genlab.data.toy import is_toy
from genlab.errors import GenlabError
from genlab.metrics import keys, registry
from genlab.metrics.evaluate import DEFAULT_BATCH_SIZE, build_extractor, evaluate
from genlab.metrics.features.registry import FeatureExtractor, capabilities
from genlab.metrics.result import EvaluationResult
from genlab.runs.evaluations import READING_KEY, evaluation_name
from genlab.training.config import TrainConfig, registered_data_name
from genlab.training.periodic_eval import default_eval_features

#: Data sets whose runs end with a verdict unless ``--no-final-eval``.
VERDICT_DATA = ("digits", "mnist")
#: Seed of the samples' latent noise, and `genlab.evaluate`'s (and ``genlab eval``'s) default.
VERDICT_SEED = 0
#: The measures, each beside its floor: FD, precision and recall, density and coverage, and the
#: classes covered where the features come from a classifier of the data set.
VERDICT_METRICS = ("fid", "pr", "dc")
MODES_METRIC = "modes"
#: The readings' factors relative to the floor (see the module docstring).
CLOSE_FD, FAR_FD = 2.0, 5.0
CLOSE_COVERAGE, FAR_COVERAGE = 0.8, 0.5
FAR_MISSING_CLASSES = 2
CLOSE, ON_THE_WAY, FAR = "close to", "on the way to", "far from"
#: Prefix of the verdict's evaluation files in the run's ``evaluations/``.
VERDICT_PREFIX = "verdict-"


def final_eval_enabled(config: TrainConfig) -> bool:
    """``--final-eval``/``--no-final-eval`` as given, else on for the digit data sets."""
    if config.evaluation.final is not None:
        return config.evaluation.final
    return registered_data_name(config.data) in VERDICT_DATA


@dataclass(frozen=True)
class VerdictPlan:
    """What the verdict compares: built before the first step, so mistakes stop the start."""

    extractor: FeatureExtractor
    reference: str  # held-out real images (a spec)
    real: str  # the other real images of the floor (a spec)
    n: int
    metrics: tuple[str, ...]
    noun: str  # "digits", or "images"
    device: str
    data_dir: str | None

    @property
    def features(self) -> str:
        return self.extractor.name


def plan_verdict(config: TrainConfig) -> VerdictPlan:
    """The features, reference, floor images and N of ``config``'s verdict (see module doc).

    Raises
    ------
    GenlabError
        For 2-D toy data, or data with neither a test split nor ``--eval-reference``.
    """
    if is_toy(config.data):
        raise GenlabError(
            f"--final-eval measures images, but {config.data} is a 2-D toy set; "
            "leave --final-eval out (the scatter plots in samples/ show its progress)"
        )
    evaluation = config.evaluation
    name = registered_data_name(config.data)
    has_test = name is not None and "test" in dataset_splits(name)
    if evaluation.reference is None and not has_test:
        raise GenlabError(
            f"{config.data} has no held-out test split to judge the samples against; pass "
            "--eval-reference with held-out real images, or --no-final-eval"
        )
    reference = evaluation.reference or f"{name}:test"
    # The floor's second real set: the training images (never the reference itself).
    real = f"{name}:train" if has_test else config.data
    counts = [_count(source, config.data_dir) for source in (reference, real)]
    n = min(evaluation.n, *counts)
    extractor = build_extractor(
        evaluation.features or default_eval_features(config.data), device=config.device
    )
    metrics = VERDICT_METRICS + ((MODES_METRIC,) if capabilities(extractor).classes else ())
    # Checked now, not after the last step: density/coverage need k + 1 = 6 images per set.
    needed = max(record.min_images for record in registry.records(metrics))
    if n < needed:
        raise GenlabError(
            f"the verdict needs at least {needed} images per set ({', '.join(metrics)}), got "
            f"{n} (--eval-n {evaluation.n}, reference and training sets {counts}); raise "
            "--eval-n or pass --no-final-eval"
        )
    return VerdictPlan(
        extractor=extractor,
        reference=reference,
        real=real,
        n=n,
        metrics=metrics,
        noun="digits" if name in VERDICT_DATA else "images",
        device=config.device,
        data_dir=config.data_dir,
    )


def _count(spec: str, data_dir: str | None) -> int:
    return open_source(parse_spec(spec), data_dir=data_dir).count


@torch.no_grad()
def verdict_samples(
    sampler: Callable[[torch.Tensor], torch.Tensor], *, n: int, latent_dim: int, device: str
) -> torch.Tensor:
    """``n`` uint8 samples of ``sampler`` (z ↦ images in [-1, 1]) with the verdict's noise.

    z is drawn in batches of `DEFAULT_BATCH_SIZE` from a CPU generator seeded `VERDICT_SEED`,
    as `genlab.runs.iter_generated` draws it for ``genlab eval``: the same z, the same images.
    """
    generator = torch.Generator().manual_seed(VERDICT_SEED)
    parts = []
    for start in range(0, n, DEFAULT_BATCH_SIZE):
        count = min(DEFAULT_BATCH_SIZE, n - start)
        z = torch.randn(count, latent_dim, generator=generator)
        parts.append(signed_to_uint8(sampler(z.to(device)).float().cpu()))
    return torch.cat(parts)


@dataclass(frozen=True)
class Verdict:
    """The samples' result, the floor's (two real sets), and the one-line reading."""

    samples: EvaluationResult
    floor: EvaluationResult
    reading: str
    plan: VerdictPlan

    def rows(self) -> list[tuple[str, float, float]]:
        """``(label, samples' value, floor's value)`` for each measure, in table order."""
        rows = []
        for key in (keys.FID, keys.PRECISION, keys.RECALL, keys.COVERAGE, keys.MODES_COVERED):
            if key in self.samples and key in self.floor:
                rows.append((_label(key, self.plan.features), self.samples[key], self.floor[key]))
        return rows

    def table(self) -> str:
        """The measures beside their floor, then the reading."""
        plan = self.plan
        head = (
            f"verdict: {plan.n} samples of the final generator and {plan.n} real images "
            f"({plan.real}) against {plan.n} held-out ({plan.reference}), "
            f"{plan.features} features"
        )
        width = max(len(label) for label, _, _ in self.rows())
        lines = [head, f"  {'':<{width}}  {'samples':>9}  {'real (floor)':>12}"]
        for label, value, floor in self.rows():
            lines.append(f"  {label:<{width}}  {_format(value):>9}  {_format(floor):>12}")
        lines.append(f"  => {self.reading}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _label(key: str, features: str) -> str:
    result = registry.result_key(key)
    if result is None:
        return key
    return registry.in_space(result, features).label + (
        " (classes)" if key == keys.MODES_COVERED else ""
    )


def _format(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def read_verdict(samples: Any, floor: Any, *, noun: str = "digits") -> str:
    """The one-line reading of ``samples``' values against the ``floor``'s (module docstring).

    Both are mappings with ``fid`` and ``coverage``, and ``modes_covered`` when classes were
    counted.
    """
    ratio = samples[keys.FID] / floor[keys.FID] if floor[keys.FID] > 0 else math.inf
    coverage = samples[keys.COVERAGE] / floor[keys.COVERAGE] if floor[keys.COVERAGE] > 0 else 1.0
    missing = 0
    if keys.MODES_COVERED in samples and keys.MODES_COVERED in floor:
        missing = max(0, floor[keys.MODES_COVERED] - samples[keys.MODES_COVERED])
    if ratio <= CLOSE_FD and coverage >= CLOSE_COVERAGE and missing == 0:
        level = CLOSE
    elif ratio > FAR_FD or coverage < FAR_COVERAGE or missing >= FAR_MISSING_CLASSES:
        level = FAR
    else:
        level = ON_THE_WAY
    details = [f"FD {ratio:.1f}× the real-vs-real floor", f"coverage {coverage:.0%} of the floor's"]
    if keys.MODES_COVERED in samples and keys.MODES_COVERED in floor:
        details.append(f"{samples[keys.MODES_COVERED]} of {floor[keys.MODES_COVERED]} classes")
    return f"{level} real {noun} ({'; '.join(details)})"


def judge(plan: VerdictPlan, samples: torch.Tensor, *, progress: bool = False) -> Verdict:
    """Evaluate ``samples`` and the floor with ``plan``; read the result."""
    options = dict(
        metrics=plan.metrics,
        features=plan.extractor,
        n=plan.n,
        seed=VERDICT_SEED,
        device=plan.device,
        data_dir=plan.data_dir,
        progress=progress,
    )
    judged = evaluate(plan.reference, samples, **options)
    floor = evaluate(plan.reference, plan.real, **options)
    return Verdict(
        samples=judged, floor=floor, reading=read_verdict(judged, floor, noun=plan.noun), plan=plan
    )


def verdict_files(verdict: Verdict) -> dict[str, dict[str, Any]]:
    """The evaluation files of a verdict: name → layout (`genlab.runs.write_evaluation`).

    ``verdict-`` and the name ``genlab eval REFERENCE RUN --n N`` would file the samples'
    values under (with the reading beside them), and ``verdict-floor-`` and the floor's own name:
    rerunning that command files the same values beside them, without replacing the reading.
    """
    samples = {**verdict.samples.to_dict(), READING_KEY: verdict.reading}
    floor = verdict.floor.to_dict()
    return {
        VERDICT_PREFIX + evaluation_name(verdict.samples): samples,
        VERDICT_PREFIX + "floor-" + evaluation_name(verdict.floor): floor,
    }


def reproduce_command(plan: VerdictPlan, run_dir: Any) -> str:
    """The ``genlab eval`` command that recomputes the samples' values from the saved run."""
    return (
        f"genlab eval {plan.reference} {run_dir} --n {plan.n} --features {plan.features} "
        f"--metrics {','.join(plan.metrics)}"
    )


__all__ = [
    "READING_KEY",
    "VERDICT_DATA",
    "VERDICT_METRICS",
    "VERDICT_SEED",
    "Verdict",
    "VerdictPlan",
    "final_eval_enabled",
    "judge",
    "plan_verdict",
    "read_verdict",
    "reproduce_command",
    "verdict_files",
    "verdict_samples",
]

"""The report's tables as rows of plain strings, shared by the HTML page and the Markdown summary.

Rows hold unescaped text; each writer escapes for its own format.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from genlab.divergences import lipschitz as bounds
from genlab.metrics import registry
from genlab.report.collect import FinalEvaluation, MetricValue, RunSummary
from genlab.report.figures import metric_label

MISSING = "—"

#: Lipschitz report keys shown, in order, with their labels.
LIPSCHITZ_ROWS = (
    (bounds.LOWER_GRADIENT_DATA, "max ‖∇f‖ at data points"),
    (bounds.LOWER_GRADIENT_INTERPOLATES, "max ‖∇f‖ at interpolates"),
    (bounds.LOWER_GRADIENT_ASCENT, "max ‖∇f‖ after gradient ascent"),
    (bounds.LOWER_PAIRS_SAMPLED, "max |f(x) − f(y)| / ‖x − y‖, sampled pairs"),
    (bounds.LOWER_PAIRS_OPTIMISED, "max |f(x) − f(y)| / ‖x − y‖, optimised pairs"),
    (bounds.LOWER_BOUND, "lower bound on L"),
    (bounds.UPPER_SPECTRAL_PRODUCT, "product of layer spectral norms"),
    (bounds.UPPER_CLIP, "weight-clipping bound Π c·√(m·n)"),
    (bounds.UPPER_BOUND, "upper bound on L"),
)
#: Rows that are the headline bounds (shown in bold).
LIPSCHITZ_HEADLINES = frozenset({bounds.LOWER_BOUND, bounds.UPPER_BOUND})

Row = tuple[str, list[str]]


def format_number(value: float | int | None) -> str:
    """Four significant digits (integers whole); ``—`` for None."""
    if value is None:
        return MISSING
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}".replace(",", " ")
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def format_duration(seconds: float | None) -> str:
    """``42 s``, ``3 min 12 s`` or ``1 h 05 min``; ``—`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


# --- Run overview -----------------------------------------------------------------------------


def _gan_only(format_value: Callable[[dict[str, Any]], str]) -> Callable[[RunSummary], str]:
    return lambda run: MISSING if run.kind == "vae" else format_value(run.config)


def _option(name: str) -> Callable[[dict[str, Any]], str]:
    return lambda config: _plain(config.get(name))


def _plain(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, list | tuple):
        return "(" + ", ".join(_plain(v) for v in value) + ")"
    return str(value)


def _objective(run: RunSummary) -> str:
    config = run.config
    if run.kind == "vae":
        return f"ELBO, {config.get('likelihood', '?')} likelihood, β = {_plain(config.get('beta'))}"
    return _plain(config.get("objective"))


def _clip(config: dict[str, Any]) -> str:
    return _plain(config.get("clip")) if config.get("lipschitz") == "clip" else MISSING


def _gp_weight(config: dict[str, Any]) -> str:
    if config.get("lipschitz") != "gp":
        return MISSING
    every = config.get("gp_every", 1)
    lazy = f", lazy: every {every} critic steps, weighted by {every}" if every > 1 else ""
    return _plain(config.get("gp_weight")) + lazy


def _learning_rates(run: RunSummary) -> str:
    config = run.config
    if run.kind == "vae":
        return _plain(config.get("lr_generator"))
    generator, critic = config.get("lr_generator"), config.get("lr_critic")
    return f"G {_plain(generator)} · D {_plain(critic)}"


def _optimizer(run: RunSummary) -> str:
    config = run.config
    name = _plain(config.get("optimizer"))
    if config.get("optimizer") == "adam" and config.get("betas"):
        return f"{name}, betas {_plain(config['betas'])}"
    return name


def _steps(run: RunSummary) -> str:
    planned, minutes = run.config.get("steps"), run.config.get("minutes")
    reached = format_number(run.steps_reached)
    if minutes:  # a time budget: the planned steps are only a ceiling
        return f"{reached} in a budget of {format_number(minutes)} min"
    return f"{reached} of {format_number(planned)}" if isinstance(planned, int) else reached


def _networks(run: RunSummary) -> str:
    arch = run.model.get("arch", MISSING)
    latent = run.model.get("latent_dim")
    return f"{arch}, latent {latent}" if latent is not None else str(arch)


def _data(run: RunSummary) -> str:
    data = _plain(run.config.get("data"))
    limit = run.config.get("limit")
    return f"{data} (first {format_number(limit)})" if limit else data


OVERVIEW_ROWS: tuple[tuple[str, Callable[[RunSummary], str]], ...] = (
    ("preset", lambda run: _plain(run.config.get("preset"))),
    ("data", _data),
    ("networks", _networks),
    ("objective", _objective),
    ("Lipschitz method", _gan_only(_option("lipschitz"))),
    ("clip c", _gan_only(_clip)),
    ("GP weight λ", _gan_only(_gp_weight)),
    ("n_critic", _gan_only(_option("n_critic"))),
    ("optimizer", _optimizer),
    ("learning rates", _learning_rates),
    ("batch size", lambda run: _plain(run.config.get("batch_size"))),
    ("steps reached", _steps),
    ("training time", lambda run: format_duration(run.elapsed)),
    ("sample grids", lambda run: format_number(len(run.samples))),
    ("final evaluations", lambda run: format_number(len(run.evaluations))),
)


def overview_rows(runs: Sequence[RunSummary]) -> list[Row]:
    """The header table: one row per option, one column per run."""
    return [(label, [value(run) for run in runs]) for label, value in OVERVIEW_ROWS]


# --- Final evaluations ------------------------------------------------------------------------


def evaluation_heading(evaluation: FinalEvaluation) -> str:
    """``fid-test: classifier-mnist features · reference mnist:test (10000 images) · N = ...``."""
    parts = [f"{evaluation.features or 'no'} features"]
    if evaluation.reference:
        parts.append(f"reference {evaluation.reference}")
    counts = [
        f"{format_number(n)} {what}"
        for n, what in ((evaluation.n_reference, "reference"), (evaluation.n_generated, "judged"))
        if n is not None
    ]
    if counts:
        parts.append("N = " + " / ".join(counts))
    return f"{evaluation.name}: " + " · ".join(parts)


def evaluation_rows(evaluation: FinalEvaluation) -> list[tuple[str, str, str]]:
    """``(metric, value, 95 % CI)`` for each metric of a final evaluation."""
    return [
        (_metric_name(m, evaluation.features), _metric_value(m), _interval(m))
        for m in evaluation.metrics
    ]


def _metric_name(metric: MetricValue, features: str | None) -> str:
    """The registry's title of the metric with its better direction: ``FID ↓``; named by its
    feature space outside Inception's (``FD_dinov2-vit-l14 ↓``, `registry.in_space`)."""
    result = registry.result_key(metric.key)
    if result is None:
        return metric_label(metric.key)
    named = registry.in_space(result, features)
    return named.title + (f" {named.better}" if named.better else "")


def _metric_value(metric: MetricValue) -> str:
    if metric.std is None:
        return format_number(metric.value)
    return f"{format_number(metric.value)} ± {format_number(metric.std)}"


def _interval(metric: MetricValue) -> str:
    if metric.ci_low is None or metric.ci_high is None:
        return MISSING
    return f"[{format_number(metric.ci_low)}, {format_number(metric.ci_high)}]"


# --- Lipschitz --------------------------------------------------------------------------------


def lipschitz_rows(runs: Sequence[RunSummary]) -> list[Row]:
    """The critic's Lipschitz bounds, one column per run; empty when no run has a report."""
    if not any(run.lipschitz for run in runs):
        return []
    rows = []
    for key, label in LIPSCHITZ_ROWS:
        values = [_lipschitz_value(run.lipschitz, key) for run in runs]
        if any(value != MISSING for value in values):
            rows.append((label, values))
    errors = [str((run.lipschitz or {}).get(bounds.UPPER_BOUND_ERROR) or "") for run in runs]
    if any(errors):
        rows.append(("why no upper bound", [error or MISSING for error in errors]))
    rows.append(("source", [run.lipschitz_note or MISSING for run in runs]))
    return rows


def is_headline(label: str) -> bool:
    """Whether a Lipschitz row label is one of the headline bounds."""
    return any(label == text for key, text in LIPSCHITZ_ROWS if key in LIPSCHITZ_HEADLINES)


def _lipschitz_value(report: dict[str, Any] | None, key: str) -> str:
    if not report:
        return MISSING
    value = report.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_number(float(value))
    return MISSING


__all__ = [
    "MISSING",
    "evaluation_heading",
    "evaluation_rows",
    "format_duration",
    "format_number",
    "is_headline",
    "lipschitz_rows",
    "overview_rows",
]

"""Run the model comparison: train and evaluate each (model, seed), collect, save the results."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from genlab.experiments.compare.spec import (
    CLASSIFIER,
    COLUMNS,
    DATA,
    DONE_MARK,
    INCEPTION,
    MEMORIZATION,
    MODELS,
    NETWORKS,
    REFERENCE,
    TRAINING,
    WASSERSTEIN_MODELS,
    CompareSettings,
    estimate_fid_pairs,
    run_name,
    training_limit,
)
from genlab.fileio import atomic_write_bytes, write_json
from genlab.metrics import keys, registry
from genlab.metrics.evaluate import ALL, PROTOCOL, evaluate
from genlab.runs import CONFIG_FILE, RunFolder, read_json
from genlab.training.config import resolve_config
from genlab.training.trainer import Trainer

# Shown ×1000 (the registry's scale of KID) so that the table has no columns of zeros.
_SCALED = {"kid_inception": registry.result_key(keys.KID_MEAN).scale}
# Where each value can lie: a t interval over few seeds can reach past it, and is cut there
# (the mean itself always lies inside). Everything else is at least 0.
_DOMAIN = {
    "precision": (0.0, 1.0),
    "recall": (0.0, 1.0),
    "coverage": (0.0, 1.0),
    "modes": (0.0, 10.0),
    "c2st": (0.0, 1.0),
    "memorization": (0.0, 1.0),
    "critic_w1": (-math.inf, math.inf),  # a held-out gap can come out below 0
    "spearman_w_fid": (-1.0, 1.0),
}


# --- Running --------------------------------------------------------------------------------


def train_config(model: str, seed: int, settings: CompareSettings, run_dir: Path):
    """The `TrainConfig` of one run: the model's preset, shared networks, the time budget."""
    spec = MODELS[model]
    options = {**NETWORKS, **spec.overrides, "limit": training_limit(model, settings)}
    return resolve_config(
        spec.preset,
        **options,
        data=DATA,
        data_dir=settings.data_dir,
        steps=10**9,  # the budget stops the run
        minutes=settings.minutes,
        seed=seed,
        eval_every_seconds=settings.eval_seconds,
        eval_n=settings.eval_n,
        eval_features=CLASSIFIER,
        eval_reference=REFERENCE,
        sample_every=10**9,  # grids at the end only; the budget is for training
        checkpoint_every=500,
        progress=False,
        tensorboard=False,
        out=str(run_dir),
    )


def train_run(model: str, seed: int, settings: CompareSettings, run_dir: Path) -> Path:
    """Train one run to its budget, resuming a run that was interrupted."""
    if (run_dir / CONFIG_FILE).exists():
        return Trainer.resume(run_dir).train()
    return Trainer.start(train_config(model, seed, settings, run_dir)).train()


def evaluate_run(model: str, seed: int, settings: CompareSettings, run_dir: Path) -> None:
    """Final evaluations of a run, each written as JSON into ``run_dir/evaluations``."""
    common = dict(seed=seed, data_dir=settings.data_dir, progress=False)
    classifier = evaluate(
        REFERENCE,
        run_dir,
        metrics="fid,pr,dc,modes,c2st,critic-w1,vendi",
        features=CLASSIFIER,
        n=settings.n,
        ci=True,
        ci_resamples=settings.ci_resamples,
        **common,
    )
    # KID's bootstrap would recompute 100 subsets per resample (minutes on a CPU); its spread
    # over subsets (kid_std) and over seeds says enough. The features come from the cache.
    kid = evaluate(REFERENCE, run_dir, metrics="kid", features=CLASSIFIER, n=settings.n, **common)
    run = RunFolder(run_dir)
    run.write_evaluation({**classifier.to_dict(), **kid}, name=CLASSIFIER)
    # Memorisation is judged against what the run was trained on: its first `limit` training
    # images, or all of them.
    limit = training_limit(model, settings)
    memorization = evaluate(
        TRAINING,
        run_dir,
        metrics=MEMORIZATION,
        features=CLASSIFIER,
        n=settings.n,
        n_ref=ALL if limit is None else limit,
        **common,
    )
    run.write_evaluation(memorization, name=MEMORIZATION)
    inception = evaluate(
        REFERENCE, run_dir, metrics="fid,kid", features=INCEPTION, n=settings.inception_n, **common
    )
    run.write_evaluation(inception, name=INCEPTION)
    if MODELS[model].preset == "vae":
        recon = evaluate(REFERENCE, run_dir, metrics="recon", n=settings.n, **common)
        run.write_evaluation(recon, name="reconstruction")
    atomic_write_bytes(_done_mark(run_dir), b"")


def _done_mark(run_dir: Path) -> Path:
    """The empty file that says a run was trained and evaluated to the end."""
    return RunFolder(run_dir).evaluations_dir / DONE_MARK


def run_compare(
    out: str | Path,
    settings: CompareSettings,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train and evaluate every (model, seed) into ``out/runs``; return and save the results.

    Writes ``out/compare.json`` (settings, per-run and per-model numbers, correlations),
    ``out/compare.md`` (the table), the figures ``out/grids.png``, ``out/fid_vs_time.png`` and
    ``out/wasserstein_vs_fid.png``, and ``out/report.html`` (`genlab.report`) of the first
    seed's runs side by side.
    """
    out = Path(out)
    say = progress or (lambda message: None)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    for seed in settings.seeds:
        for model in settings.models:
            run_dir = runs_dir / run_name(model, seed)
            if _done_mark(run_dir).exists():
                say(f"{run_name(model, seed)}: done before, kept")
                continue
            began = time.perf_counter()
            train_run(model, seed, settings, run_dir)
            trained = time.perf_counter() - began
            evaluate_run(model, seed, settings, run_dir)
            say(
                f"{run_name(model, seed)}: {_last_step(run_dir)} steps; trained "
                f"{trained:.0f} s, evaluated {time.perf_counter() - began - trained:.0f} s"
            )
    results = collect_results(runs_dir, settings)
    save_results(out, results, settings)
    return results


def _last_step(run_dir: Path) -> int:
    return max((r["step"] for r in RunFolder(run_dir).records()), default=0)


# --- Results --------------------------------------------------------------------------------


def collect_results(runs_dir: Path, settings: CompareSettings) -> dict[str, Any]:
    """Per-run values, per-model means with 95 % t intervals, and the W-FID correlations."""
    per_run: dict[str, dict[str, Any]] = {}
    for model in settings.models:
        for seed in settings.seeds:
            run_dir = Path(runs_dir) / run_name(model, seed)
            per_run[run_name(model, seed)] = {
                "model": model,
                "seed": seed,
                "steps": _last_step(run_dir),
                **_run_values(run_dir),
                **wasserstein_fid_correlation(RunFolder(run_dir).records()),
            }
    per_model = {
        model: _aggregate([v for v in per_run.values() if v["model"] == model])
        for model in settings.models
    }
    return {"runs": per_run, "models": per_model}


def _run_values(run_dir: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for column, (_, evaluation, key) in COLUMNS.items():
        path = RunFolder(run_dir).evaluation_path(evaluation)
        if not path.is_file():
            continue
        result = read_json(path)
        if key in result:
            values[column] = float(result[key]) * _SCALED.get(column, 1.0)
            low, high = key + keys.CI_LOW_SUFFIX, key + keys.CI_HIGH_SUFFIX
            if low in result:
                scale = _SCALED.get(column, 1.0)
                values[column + "_bootstrap"] = [result[low] * scale, result[high] * scale]
        values.setdefault(f"n_{evaluation}", result[PROTOCOL]["n_b"])
    return values


def mean_with_t_interval(values: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean and the Student-t interval mean ± t_{(1+c)/2, k-1} · s / √k over k seeds.

    With one seed there is no spread to estimate: the interval is NaN.
    """
    data = np.asarray(values, dtype=np.float64)
    mean = float(data.mean())
    if data.size < 2:
        return {"mean": mean, "low": math.nan, "high": math.nan, "k": int(data.size)}
    half = (
        stats.t.ppf((1 + confidence) / 2, data.size - 1) * data.std(ddof=1) / math.sqrt(data.size)
    )
    return {"mean": mean, "low": mean - half, "high": mean + half, "k": int(data.size)}


def _aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "steps": mean_with_t_interval([r["steps"] for r in runs]),
    }
    for column in [*COLUMNS, "spearman_w_fid"]:
        present = [r[column] for r in runs if column in r and math.isfinite(r[column])]
        if present:
            summary[column] = _within(mean_with_t_interval(present), column)
    return summary


def _within(summary: dict[str, float], column: str) -> dict[str, float]:
    low, high = _DOMAIN.get(column, (0.0, math.inf))
    if math.isfinite(summary["low"]):
        summary["low"], summary["high"] = max(summary["low"], low), min(summary["high"], high)
    return summary


def wasserstein_fid_correlation(records: list[dict[str, Any]]) -> dict[str, float]:
    """Spearman's ρ between the critic's W estimate and classifier-FID over a run's evaluations.

    Needs three evaluations; returns {} for runs without a critic estimate.
    """
    estimates, fids = estimate_fid_pairs(records)
    if len(fids) < 3:
        return {}
    rho = stats.spearmanr(estimates, fids).statistic
    return {"spearman_w_fid": float(rho), "correlation_points": len(fids)}


def save_results(out: Path, results: dict[str, Any], settings: CompareSettings) -> None:
    from dataclasses import asdict

    from genlab.experiments.compare.figures import save_compare_figures
    from genlab.report import write_report

    payload = {"settings": asdict(settings), **results}
    write_json(out / "compare.json", payload)
    atomic_write_bytes(out / "compare.md", format_markdown(results, settings).encode())
    save_compare_figures(out, settings)
    write_report(
        [out / "runs" / run_name(model, settings.seeds[0]) for model in settings.models],
        out=out / "report.html",
        lipschitz=settings.report_lipschitz,
        data_dir=settings.data_dir,
        title=f"genlab experiment compare: {settings.minutes:g} min per model, seed "
        f"{settings.seeds[0]}",
    )


def format_markdown(results: dict[str, Any], settings: CompareSettings) -> str:
    """The results table (mean [95 % t interval] over seeds) and the correlation table."""
    shown = [c for c in COLUMNS if any(c in m for m in results["models"].values())]
    header = ["model", "steps", *(COLUMNS[c][0] for c in shown)]
    lines = [
        f"Budget {settings.minutes:g} min of training per run, seeds {list(settings.seeds)}; "
        f"mean [95 % t interval over seeds]; classifier metrics on N = {settings.n}, Inception "
        f"on N = {settings.inception_n}, against {REFERENCE}; the memorised fraction against "
        f"each run's own training images ({TRAINING}).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for model, summary in results["models"].items():
        cells = [MODELS[model].label, _cell(summary["steps"], digits=0)]
        cells += [_cell(summary[c], _DIGITS.get(c)) if c in summary else "—" for c in shown]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Spearman ρ between the critic's Wasserstein estimate and classifier-FID over training "
        "(positive: the estimate falls as the samples improve):",
        "",
        "| model | ρ per seed | mean [95 % t interval] |",
        "|---|---|---|",
    ]
    for model in settings.models:
        if model not in WASSERSTEIN_MODELS:
            continue
        per_seed = [
            results["runs"][run_name(model, s)].get("spearman_w_fid", math.nan)
            for s in settings.seeds
        ]
        summary = results["models"][model].get("spearman_w_fid")
        cells = ", ".join(f"{v:.2f}" for v in per_seed)
        lines.append(f"| {MODELS[model].label} | {cells} | {_cell(summary) if summary else '—'} |")
    return "\n".join([*lines, "", *_per_run_table(results)]) + "\n"


def _per_run_table(results: dict[str, Any]) -> list[str]:
    """One row per run: steps, the two FIDs (classifier-FID with its bootstrap interval), modes."""
    lines = [
        "Per run (classifier-FID with its bootstrap 95 % interval over images):",
        "",
        "| run | steps | FID (Inception) | classifier-FID | digits covered | C2ST | memorised |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, run in results["runs"].items():
        interval = run.get("fid_classifier_bootstrap")
        fid = f"{run['fid_classifier']:.1f}" if "fid_classifier" in run else "—"
        if interval:
            fid += f" [{interval[0]:.1f}, {interval[1]:.1f}]"
        inception = f"{run['fid_inception']:.1f}" if "fid_inception" in run else "—"
        modes = f"{run['modes']:.0f}" if "modes" in run else "—"
        judged = [f"{run[c]:.3f}" if c in run else "—" for c in ("c2st", "memorization")]
        lines.append(
            f"| {name} | {run['steps']} | {inception} | {fid} | {modes} | {' | '.join(judged)} |"
        )
    return lines


_DIGITS = {"modes": 1}


def _cell(summary: dict[str, float], digits: int | None = None) -> str:
    mean = summary["mean"]
    if digits is None:
        digits = 3 if abs(mean) < 10 else 1
    text = f"{mean:.{digits}f}"
    if math.isfinite(summary["low"]):
        text += f" [{summary['low']:.{digits}f}, {summary['high']:.{digits}f}]"
    return text

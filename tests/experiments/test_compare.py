"""The model comparison: end to end at a tiny budget, and its statistics against scipy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from genlab.errors import GenlabError
from genlab.experiments.compare import runner as compare_module
from genlab.experiments.compare.runner import (
    mean_with_t_interval,
    run_compare,
    wasserstein_fid_correlation,
)
from genlab.experiments.compare.spec import MODELS, CompareSettings, estimate_fid_pairs
from genlab.runs import RunFolder, eval_key, read_json
from genlab.training.config import TrainConfig

FID_KEY = eval_key("classifier-mnist", "fid")


#: Each run's length in steps, with an evaluation every `EVAL_EVERY`. The comparison itself
#: budgets minutes, which buy a different number of steps on every machine (2 to 33 here for
#: 1.2 s), so the tests swap the budget for a step count: the same work everywhere.
STEPS, EVAL_EVERY = 6, 3


@pytest.fixture(scope="module")
def compared(tmp_path_factory, shared_data_dir, mnist_dir, inception_weights_file):
    out = tmp_path_factory.mktemp("compare")
    settings = CompareSettings(
        minutes=0.02,
        seeds=(0,),
        n=100,
        inception_n=8,
        eval_seconds=0.3,
        eval_n=100,
        limit=500,
        data_dir=str(shared_data_dir),
        ci_resamples=10,
        report_lipschitz=False,
    )
    budgeted = compare_module.train_config

    def counted_steps(*args, **kwargs):
        options = budgeted(*args, **kwargs).to_flat()
        assert options["minutes"] == settings.minutes  # what is swapped out below
        assert options["eval_every_seconds"] == settings.eval_seconds
        options.update(
            steps=STEPS, minutes=None, eval_every=EVAL_EVERY, eval_every_seconds=0.0, log_every=1
        )
        return TrainConfig.from_flat(options)

    messages: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compare_module, "train_config", counted_steps)
        results = run_compare(out, settings, progress=messages.append)
    return out, settings, results, messages


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_every_model_is_trained_evaluated_and_tabled(compared, png_content):
    out, _, results, messages = compared
    assert len(messages) == len(MODELS)
    saved = json.loads((out / "compare.json").read_text())
    assert set(saved["models"]) == set(MODELS)
    for model, summary in results["models"].items():
        run = results["runs"][f"{model}-seed0"]
        assert run["steps"] == STEPS
        assert summary["fid_classifier"]["mean"] == pytest.approx(run["fid_classifier"])
        assert run["fid_inception"] > 0
        assert run["n_inception"] == 8
        assert run["n_classifier-mnist"] == 100
        low, high = run["fid_classifier_bootstrap"]
        assert low <= run["fid_classifier"] <= high
        assert 1 <= run["modes"] <= 10
        assert ("recon_mse" in run) == (model == "vae")
        # The judges and diversity on the classifier's features; memorisation against the run's
        # own training images (the first 100 for the memorising contestant, else `limit`).
        assert 0 <= run["c2st"] <= 1
        assert 1 <= run["vendi"] <= 100
        assert math.isfinite(run["critic_w1"])
        assert 0 <= run["memorization"] <= 1
        memorization = read_json(
            RunFolder(out / "runs" / f"{model}-seed0").evaluation_path("memorization")
        )
        assert memorization["protocol"]["n_a"] == (100 if model == "gan-ns-100" else 500)
        assert memorization["protocol"]["source_a"]["spec"] == "mnist:train"
        assert math.isnan(summary["fid_classifier"]["low"])  # one seed: no spread to estimate
    table = (out / "compare.md").read_text()
    assert all(f"| {spec.label} |" in table for spec in MODELS.values())
    assert "WGAN-GP" in table
    assert "wgan-gp-seed0" in (out / "report.html").read_text()
    # The figures, decoded: sample grids are grey digits (a page of titles without them has a
    # grey-level spread near 15); curves and points are drawn in colour, empty axes are all grey.
    assert png_content(out / "grids.png").grey_std > 30
    for figure in ("fid_vs_time.png", "wasserstein_vs_fid.png"):
        assert png_content(out / figure).chromatic > 1e-4


def test_a_second_call_keeps_finished_runs(compared):
    out, settings, results, _ = compared
    messages: list[str] = []
    again = run_compare(out, settings, progress=messages.append)
    assert len(messages) == len(MODELS)
    assert all("done before, kept" in m for m in messages)
    assert again["runs"] == results["runs"]


def test_t_interval_matches_scipy():
    values = [3.0, 4.5, 2.5, 5.0]
    low, high = stats.t.interval(
        0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values)
    )
    summary = mean_with_t_interval(values)
    assert summary["mean"] == pytest.approx(3.75)
    assert (summary["low"], summary["high"]) == pytest.approx((low, high))


def test_correlation_averages_the_estimates_between_evaluations():
    records = [
        {"step": 10, "wasserstein_estimate": 4.0},
        {"step": 20, "wasserstein_estimate": 2.0},
        {"step": 20, FID_KEY: 90.0},
        {"step": 30, "wasserstein_estimate": 1.0},
        {"step": 30, FID_KEY: 50.0},
        {"step": 40, "wasserstein_estimate": 3.0},
        {"step": 50, "wasserstein_estimate": 1.0},
        {"step": 50, FID_KEY: 70.0},
    ]
    assert estimate_fid_pairs(records) == ([3.0, 1.0, 2.0], [90.0, 50.0, 70.0])
    result = wasserstein_fid_correlation(records)
    assert result["spearman_w_fid"] == pytest.approx(1.0)
    assert result["correlation_points"] == 3
    assert wasserstein_fid_correlation(records[:5]) == {}  # two evaluations are too few


def test_unknown_models_are_refused():
    with pytest.raises(GenlabError, match="unknown model"):
        CompareSettings(models=("vae", "diffusion"))


def test_intervals_are_cut_at_the_bounds_a_metric_can_take():
    from genlab.experiments.compare.runner import _aggregate

    runs = [
        {"steps": 1, "recall": value, "fid_classifier": fid}
        for value, fid in [(0.0, 1.0), (0.02, 900.0), (0.9, 5.0)]
    ]
    summary = _aggregate(runs)
    raw = mean_with_t_interval([0.0, 0.02, 0.9])
    assert raw["low"] < 0 < 1 < raw["high"]  # the t interval reaches past both ends ...
    assert summary["recall"]["low"] == 0.0  # ... and is cut there
    assert summary["recall"]["high"] == 1.0
    assert summary["fid_classifier"]["low"] == 0.0
    assert summary["recall"]["mean"] == pytest.approx(0.92 / 3)

"""Reading run folders: curves, evaluation keys, final evaluations, samples, Lipschitz, errors."""

from __future__ import annotations

import json
import math

import pytest

from genlab.divergences.lipschitz import LOWER_BOUND, UPPER_BOUND
from genlab.errors import GenlabError
from genlab.report.collect import (
    SampleGrid,
    collect_run,
    evaluation_series,
    final_evaluation,
    interval_base,
    pick_sample_steps,
    training_series,
)


def raw_records(run_dir) -> list[dict]:
    """The log read independently of genlab: one JSON object per line."""
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_training_curves_match_the_log(runs):
    summary = collect_run(runs.gan, lipschitz=False)
    training = [r for r in raw_records(runs.gan) if "loss_critic" in r]
    for key in ("loss_critic", "loss_generator", "wasserstein_estimate", "penalty"):
        series = summary.training[key]
        assert series.steps == tuple(range(1, 13))
        assert series.values == tuple(r[key] for r in training)
        assert series.times == tuple(r["time"] for r in training)
    # Evaluation records carry no losses and leave no holes or keys among the training curves.
    assert not any("/" in key for key in summary.training)
    assert summary.steps_reached == 12
    assert summary.elapsed == max(r["time"] for r in raw_records(runs.gan))
    assert summary.kind == "gan"
    assert summary.has_critic


def test_vae_curves_are_the_elbo_terms(runs):
    summary = collect_run(runs.vae, lipschitz=False)
    assert {"loss", "reconstruction", "kl", "grad_norm"} <= set(summary.training)
    assert "loss_critic" not in summary.training
    records = raw_records(runs.vae)
    assert summary.training["kl"].values == tuple(r["kl"] for r in records)
    assert not summary.has_critic


def test_evaluation_keys_split_into_features_and_metric_with_intervals(runs, eval_records):
    summary = collect_run(runs.gan, lipschitz=False)
    assert set(summary.evaluation) == {"classifier-mnist"}
    metrics = summary.evaluation["classifier-mnist"]
    assert set(metrics) == {"fid", "precision"}  # the CI bounds are folded into fid
    fid = metrics["fid"]
    assert fid.steps == tuple(eval_records)
    assert fid.values == tuple(v[0] for v in eval_records.values())
    assert fid.low == tuple(v[1] for v in eval_records.values())
    assert fid.high == tuple(v[2] for v in eval_records.values())
    assert fid.times == pytest.approx(tuple(0.1 * step for step in eval_records))
    assert metrics["precision"].low is None
    assert not metrics["precision"].has_interval


def test_evaluation_series_of_several_extractors_and_partial_intervals():
    records = [
        {"step": 1, "time": 1.0, "loss": 3.0},
        {"step": 5, "time": 2.0, "inception/fid": 80.0, "pixels/kid_mean": 0.5},
        {"step": 5, "time": 2.0, "pixels/kid_std": 0.25, "eval_seconds": 0.5},
        {"step": 10, "time": 3.0, "inception/fid": 60.0, "inception/fid_ci_low": 55.0},
        {"step": 10, "time": 3.0, "inception/fid_ci_high": 66.0},
    ]
    series = evaluation_series(records)
    assert set(series) == {"inception", "pixels"}
    fid = series["inception"]["fid"]
    assert fid.values == (80.0, 60.0)
    assert fid.low[1] == 55.0
    assert fid.high[1] == 66.0
    assert math.isnan(fid.low[0])
    assert math.isnan(fid.high[0])
    # The spread over KID subsets travels with the mean instead of making a curve of its own.
    assert set(series["pixels"]) == {"kid_mean"}
    assert series["pixels"]["kid_mean"].spread == (0.25,)
    assert fid.spread is None
    assert set(training_series(records)) == {"loss", "eval_seconds"}


def test_non_finite_values_logged_as_strings_are_read_as_floats():
    records = [{"step": 1, "time": 0.5, "loss": "nan"}, {"step": 2, "time": 1.0, "loss": "inf"}]
    series = training_series(records)["loss"]
    assert math.isnan(series.values[0])
    assert series.values[1] == math.inf


def test_interval_base():
    assert interval_base("fid_ci_low") == ("fid", "_ci_low")
    assert interval_base("kid_mean_ci_high") == ("kid_mean", "_ci_high")
    assert interval_base("fid") is None
    assert interval_base("_ci_low") is None


def test_final_evaluation_file_is_read_with_protocol(runs, final_evaluation_dict):
    expected = final_evaluation_dict
    summary = collect_run(runs.gan, lipschitz=False)
    (evaluation,) = summary.evaluations
    assert evaluation.name == "final"
    assert evaluation.features == "classifier-mnist"
    assert evaluation.reference == "mnist:test (10000 images)"
    assert (evaluation.n_reference, evaluation.n_generated) == (10000, 5000)
    by_key = {m.key: m for m in evaluation.metrics}
    assert set(by_key) == {"fid", "kid_mean", "precision", "recall"}
    assert (by_key["fid"].value, by_key["fid"].ci_low, by_key["fid"].ci_high) == (
        expected["fid"],
        expected["fid_ci_low"],
        expected["fid_ci_high"],
    )
    assert by_key["kid_mean"].std == expected["kid_std"]
    assert by_key["kid_mean"].ci_high == expected["kid_mean_ci_high"]
    assert by_key["precision"].ci_low is None


def test_final_evaluation_of_a_real_evaluate_result(runs):
    from genlab.metrics.evaluate import evaluate

    result = evaluate(
        "digits",
        runs.gan,
        metrics="fid,kid,pr",
        features="pixels",
        extractor_options={"size": 4},
        n=64,
        ci=True,
        ci_resamples=5,
        cache=False,
        progress=False,
    )
    evaluation = final_evaluation("pixels", json.loads(result.to_json()))
    assert evaluation.features == "pixels"
    assert (evaluation.n_reference, evaluation.n_generated) == (64, 64)
    by_key = {m.key: m for m in evaluation.metrics}
    assert by_key["fid"].value == result["fid"]
    assert (by_key["fid"].ci_low, by_key["fid"].ci_high) == (
        result["fid_ci_low"],
        result["fid_ci_high"],
    )
    assert by_key["kid_mean"].std == result["kid_std"]
    assert {"precision", "recall"} <= set(by_key)


def test_sample_grids_are_listed_in_step_order(runs):
    summary = collect_run(runs.gan, lipschitz=False)
    assert [grid.step for grid in summary.samples] == [2, 4, 6, 8, 10, 12]
    assert all(grid.path.is_file() for grid in summary.samples)


def test_a_torn_sample_grid_is_left_out(runs, copy_run):
    run = copy_run(runs.gan)
    (run / "samples" / "step-00000014.png").write_bytes(b"\x89PNG\r\n\x1a\n torn")
    assert [grid.step for grid in collect_run(run, lipschitz=False).samples][-1] == 12


@pytest.mark.parametrize(
    ("available", "count", "expected"),
    [
        (list(range(1, 4)), 5, [1, 2, 3]),
        (list(range(1, 11)), 5, [1, 3, 6, 8, 10]),
        (list(range(1, 11)), 2, [1, 10]),
        (list(range(1, 11)), 1, [10]),
        ([], 5, []),
    ],
)
def test_pick_sample_steps_spreads_evenly_and_keeps_the_last(tmp_path, available, count, expected):
    grids = [SampleGrid(step, tmp_path / f"{step}.png") for step in available]
    assert [grid.step for grid in pick_sample_steps(grids, count=count)] == expected


def test_run_killed_before_the_first_step(runs):
    summary = collect_run(runs.killed)
    assert summary.samples == []
    assert summary.training == {}
    assert summary.evaluation == {}
    assert summary.steps_reached == 0
    assert summary.elapsed is None
    assert summary.lipschitz is None
    assert summary.lipschitz_note == "no checkpoint yet"


def test_lipschitz_bounds_are_computed_for_a_gan_critic(runs):
    summary = collect_run(runs.gan, lipschitz_points=16)
    assert 0 < summary.lipschitz[LOWER_BOUND] <= summary.lipschitz[UPPER_BOUND]
    assert "16 real" in summary.lipschitz_note
    assert not (runs.gan / "lipschitz.json").exists()  # collecting writes nothing


def test_lipschitz_json_is_read_instead_of_computing(runs, copy_run):
    run = copy_run(runs.gan)
    saved = {LOWER_BOUND: 0.5, UPPER_BOUND: 2.5, "method": "gp"}
    (run / "lipschitz.json").write_text(json.dumps(saved))
    for compute in (True, False):
        summary = collect_run(run, lipschitz=compute)
        assert summary.lipschitz == saved
        assert summary.lipschitz_note == "from lipschitz.json"


def test_no_lipschitz_for_a_vae_or_when_skipped(runs):
    assert collect_run(runs.vae).lipschitz_note == "a VAE has no critic"
    skipped = collect_run(runs.gan, lipschitz=False)
    assert skipped.lipschitz is None
    assert "--no-lipschitz" in skipped.lipschitz_note


def test_paths_that_are_not_run_folders(tmp_path):
    with pytest.raises(GenlabError, match="does not exist"):
        collect_run(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(GenlabError, match="is a file"):
        collect_run(tmp_path / "file.txt")
    with pytest.raises(GenlabError, match=r"not a run folder .*genlab train"):
        collect_run(tmp_path)


def test_unreadable_json_names_the_file(runs, copy_run):
    run = copy_run(runs.gan)
    (run / "evaluations" / "broken.json").write_text("{not json")
    with pytest.raises(GenlabError, match=r"broken\.json"):
        collect_run(run, lipschitz=False)

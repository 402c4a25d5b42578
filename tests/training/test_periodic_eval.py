"""Evaluation during training: records on schedule, values equal an independent evaluation."""

from __future__ import annotations

import pytest
import torch

from genlab.data.imageio import signed_to_uint8
from genlab.errors import GenlabError
from genlab.metrics import keys
from genlab.metrics.evaluate import evaluate
from genlab.metrics.sources import ImagesSource
from genlab.runs import eval_key, load_sampler, read_metrics
from genlab.training.config import parse_eval_every, resolve_config
from genlab.training.periodic_eval import (
    EVAL_NOISE_SEED,
    default_eval_features,
    default_eval_reference,
)
from genlab.training.trainer import Trainer

FID_KEY = eval_key("classifier-mnist", keys.FID)


def mnist_run(out, mnist_dir, **options):
    values = dict(
        data="mnist",
        data_dir=str(mnist_dir.parent),
        limit=256,
        steps=4,
        batch_size=16,
        width=8,
        latent_dim=8,
        n_critic=1,
        log_every=1,
        sample_every=100,
        checkpoint_every=2,
        eval_every=2,
        eval_n=160,
        eval_metrics="fid,kid",
        progress=False,
        tensorboard=False,
        out=str(out),
    )
    values.update(options)
    return resolve_config("wgan-gp", **values)


def eval_records(run_dir):
    return [r for r in read_metrics(run_dir) if FID_KEY in r]


def test_evaluations_are_logged_on_schedule_and_at_the_end(tmp_path, mnist_dir):
    run_dir = Trainer.start(mnist_run(tmp_path / "run", mnist_dir, steps=5)).train()
    records = eval_records(run_dir)
    assert [r["step"] for r in records] == [2, 4, 5]
    for record in records:
        assert record[FID_KEY] > 0
        assert eval_key("classifier-mnist", keys.KID_MEAN) in record
        assert "loss_critic" not in record  # evaluation records carry no losses
        assert record["eval_seconds"] > 0


def test_logged_fid_equals_an_independent_evaluation_of_the_checkpoint(tmp_path, mnist_dir):
    run_dir = Trainer.start(mnist_run(tmp_path / "run", mnist_dir)).train()
    logged = eval_records(run_dir)[-1]
    sampler, config = load_sampler(run_dir)
    noise = torch.randn(
        160, config.latent_dim, generator=torch.Generator().manual_seed(EVAL_NOISE_SEED)
    )
    with torch.no_grad():
        images = signed_to_uint8(sampler(noise))
    result = evaluate(
        "mnist:test",
        ImagesSource("check", images),
        metrics="fid,kid",
        features="classifier-mnist",
        n=160,
        data_dir=mnist_dir.parent,
        progress=False,
        cache=False,
    )
    assert logged[FID_KEY] == pytest.approx(result[keys.FID], rel=1e-9)
    assert logged[eval_key("classifier-mnist", keys.KID_MEAN)] == pytest.approx(
        result[keys.KID_MEAN], rel=1e-9
    )


def test_evaluation_leaves_resume_exact(tmp_path, mnist_dir):
    whole = Trainer.start(mnist_run(tmp_path / "whole", mnist_dir)).train()
    half = Trainer.start(mnist_run(tmp_path / "half", mnist_dir, steps=2)).train()
    Trainer.resume(half, steps=4).train()
    assert without_timings(read_metrics(half)) == without_timings(read_metrics(whole))
    assert len(eval_records(whole)) == 2


def without_timings(records):
    return [{k: v for k, v in r.items() if k not in ("time", "eval_seconds")} for r in records]


def test_toy_data_cannot_be_evaluated_as_images(tmp_path):
    config = resolve_config("wgan-gp", data="8gaussians", eval_every=5, out=str(tmp_path / "r"))
    with pytest.raises(GenlabError, match="toy set"):
        Trainer.start(config)


@pytest.mark.parametrize(("option", "value"), [("eval_every", -1), ("eval_n", 1)])
def test_bad_evaluation_options_are_refused(option, value):
    with pytest.raises(GenlabError, match=option.replace("_", "-")):
        resolve_config("wgan-gp", **{option: value})


def test_defaults_pick_the_cheap_classifier_and_the_test_split(tmp_path):
    assert default_eval_features("mnist") == "classifier-mnist"
    assert default_eval_features("cifar10-jpeg") == "inception"
    assert default_eval_reference("mnist") == "mnist:test"
    assert default_eval_reference("mnist:train") == "mnist:test"
    assert default_eval_reference(str(tmp_path)) == str(tmp_path)  # a folder of images
    assert default_eval_features(str(tmp_path)) == "inception"


def test_a_time_schedule_counts_training_seconds(tmp_path, mnist_dir):
    # Any step takes longer than a microsecond of training time, so every step is due.
    config = mnist_run(tmp_path / "run", mnist_dir, eval_every=0, eval_every_seconds=1e-6)
    run_dir = Trainer.start(config).train()
    assert [r["step"] for r in eval_records(run_dir)] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("500", (500, 0.0)), ("30s", (0, 30.0)), ("2m", (0, 120.0)), ("0.5h", (0, 1800.0))],
)
def test_eval_every_reads_steps_or_a_time(text, expected):
    assert parse_eval_every(text) == expected


@pytest.mark.parametrize("text", ["", "ten", "0", "-3m", "5x"])
def test_eval_every_refuses_what_is_neither(text):
    with pytest.raises(GenlabError, match="--eval-every"):
        parse_eval_every(text)

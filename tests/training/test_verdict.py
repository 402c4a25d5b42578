"""The verdict at the end of a run: its numbers against independent evaluations of the same
samples and of the two real sets, the files it leaves, its reading, and its refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

import genlab
from genlab.data.digits import load_digits_dataset
from genlab.errors import GenlabError
from genlab.metrics import keys
from genlab.runs import EVALUATIONS_DIR, generate
from genlab.training.config import resolve_config
from genlab.training.trainer import Trainer
from genlab.training.verdict import (
    READING_KEY,
    VERDICT_SEED,
    final_eval_enabled,
    read_verdict,
)

COMPARED = (
    keys.FID,
    keys.PRECISION,
    keys.RECALL,
    keys.DENSITY,
    keys.COVERAGE,
    keys.MODES_COVERED,
    keys.MODE_KL_UNIFORM,
)


def tiny(out, **options):
    values = dict(steps=3, batch_size=16, progress=False, tensorboard=False, out=str(out))
    values.update(options)
    return values


def independent(reference, images, *, features, n, **options):
    return genlab.evaluate(
        reference,
        images,
        metrics="fid,pr,dc,modes",
        features=features,
        n=n,
        progress=False,
        cache=False,
        **options,
    )


def assert_same(result, expected):
    for key in COMPARED:
        assert result[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-12), key


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("verdict") / "run"
    trainer = Trainer.start(resolve_config("wgan-gp", **tiny(out, ema=0.9)))
    trainer.train()
    return trainer, trainer.final_verdict()


def test_digits_runs_judge_by_default_and_the_flag_decides(tmp_path):
    assert final_eval_enabled(
        Trainer.start(resolve_config("wgan-gp", **tiny(tmp_path / "a"))).config
    )
    off = resolve_config("wgan-gp", **tiny(tmp_path / "b", eval_final=False))
    assert not final_eval_enabled(off)
    assert Trainer.start(off).verdict_plan is None
    assert not final_eval_enabled(resolve_config("wgan-gp", data="8gaussians"))


def test_samples_values_equal_an_independent_evaluation_of_the_saved_generator(digits_run):
    trainer, verdict = digits_run
    # The EMA generator reloaded from the checkpoint, the verdict's noise: the same samples.
    images = generate(trainer.run_dir, 297, seed=VERDICT_SEED, batch_size=200)
    expected = independent("digits:test", images, features="classifier-digits", n=297)
    assert_same(verdict.samples, expected)
    assert verdict.samples.protocol["n_b"] == verdict.samples.protocol["n_a"] == 297


def test_floor_equals_an_independent_evaluation_of_the_two_real_sets(digits_run):
    _, verdict = digits_run
    train = genlab.data.sources.load_dataset("digits:train").images[:297]
    test = load_digits_dataset().images[1500:]  # all 1797 images: the held-out last 297
    expected = independent(test, train, features="classifier-digits", n=297)
    assert_same(verdict.floor, expected)
    assert verdict.floor[keys.MODES_COVERED] == 10


def test_the_verdict_is_filed_in_the_run_and_printed_with_its_floor(digits_run):
    trainer, verdict = digits_run
    folder = trainer.run_dir / EVALUATIONS_DIR
    names = sorted(path.name for path in folder.glob("*.json"))
    assert names == [
        "verdict-classifier-digits-fid-pr-dc-modes-n297.json",
        "verdict-floor-classifier-digits-fid-pr-dc-modes-n297.json",
    ]
    filed = json.loads((folder / names[0]).read_text())
    floor = json.loads((folder / names[1]).read_text())
    assert filed[keys.FID] == verdict.samples[keys.FID]
    assert floor[keys.FID] == verdict.floor[keys.FID]
    assert filed[READING_KEY] == verdict.reading
    assert filed["protocol"]["reference"] == floor["protocol"]["reference"]
    text = str(verdict)
    assert "FD_classifier-digits" in text
    assert "real (floor)" in text
    for label in ("Precision", "Recall", "Coverage", "Modes (classes)"):
        assert label in text
    assert verdict.reading in text


def floor_values(**changes):
    values = {keys.FID: 10.0, keys.COVERAGE: 0.8, keys.MODES_COVERED: 10}
    return {**values, **changes}


@pytest.mark.parametrize(
    ("samples", "level"),
    [
        (floor_values(), "close to real digits"),
        (floor_values(fid=20.0, coverage=0.68), "close to real digits"),  # 2×: still close
        (floor_values(fid=20.1), "on the way to real digits"),
        (floor_values(coverage=0.6), "on the way to real digits"),
        (floor_values(modes_covered=9), "on the way to real digits"),
        (floor_values(fid=50.0), "on the way to real digits"),
        (floor_values(fid=50.1), "far from real digits"),
        (floor_values(coverage=0.39), "far from real digits"),
        (floor_values(modes_covered=8), "far from real digits"),
    ],
)
def test_reading_thresholds_relative_to_the_floor(samples, level):
    reading = read_verdict(samples, floor_values())
    assert reading.startswith(level + " (")
    assert "× the real-vs-real floor" in reading


def test_reading_without_classes_names_the_images():
    samples = {keys.FID: 100.0, keys.COVERAGE: 0.1}
    reading = read_verdict(samples, {keys.FID: 10.0, keys.COVERAGE: 0.8}, noun="images")
    assert reading.startswith("far from real images (FD 10.0×")
    assert "classes" not in reading


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (dict(data="8gaussians", eval_final=True), "toy set"),
        (dict(eval_final=True, eval_features="no-such-space"), "unknown feature extractor"),
        (dict(eval_n=4), "the verdict needs at least 6 images per set"),
    ],
)
def test_bad_verdict_settings_stop_the_start_with_nothing_on_disk(tmp_path, options, match):
    out = tmp_path / "run"
    with pytest.raises(GenlabError, match=match):
        Trainer.start(resolve_config("wgan-gp", **tiny(out, **options)))
    assert not out.exists()


def test_data_without_a_test_split_needs_a_reference(tmp_path):
    images = load_digits_dataset().images[:40].numpy()
    data = tmp_path / "digits.npz"
    np.savez(data, images=images)
    out = tmp_path / "run"
    with pytest.raises(GenlabError, match=r"no held-out test split.*--eval-reference"):
        Trainer.start(resolve_config("wgan-gp", **tiny(out, data=str(data), eval_final=True)))
    assert not out.exists()
    # With a reference, the floor is the training images against it.
    config = resolve_config(
        "wgan-gp", **tiny(out, data=str(data), eval_final=True, eval_reference="digits:test")
    )
    plan = Trainer.start(config).verdict_plan
    assert (plan.reference, plan.real, plan.n) == ("digits:test", str(data), 40)
    assert plan.features == "inception"  # an .npz of images is no named data set


@pytest.mark.needs_data
def test_mnist_runs_judge_with_the_mnist_classifier(tmp_path, mnist_dir):
    options = tiny(
        tmp_path / "run",
        data="mnist",
        data_dir=str(mnist_dir.parent),
        limit=256,
        width=8,
        latent_dim=8,
        n_critic=1,
        eval_n=150,
    )
    trainer = Trainer.start(resolve_config("wgan-gp", **options))
    trainer.train()
    verdict = trainer.final_verdict()
    plan = verdict.plan
    assert (plan.features, plan.reference, plan.real, plan.n) == (
        "classifier-mnist",
        "mnist:test",
        "mnist:train",
        150,
    )
    images = generate(trainer.run_dir, 150, seed=VERDICT_SEED, batch_size=200)
    data_dir = dict(data_dir=mnist_dir.parent)
    assert_same(
        verdict.samples,
        independent("mnist:test", images, features="classifier-mnist", n=150, **data_dir),
    )
    assert_same(
        verdict.floor,
        independent("mnist:test", "mnist:train", features="classifier-mnist", n=150, **data_dir),
    )

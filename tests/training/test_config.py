"""`TrainConfig`: nested sections that reject unknown keys, the flat command-line names, and the
flat ``config.json`` of genlab 0.1.0."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from genlab.errors import GenlabError
from genlab.models.registry import ModelConfig
from genlab.training.config import (
    PRESETS,
    RESUMABLE,
    TrainConfig,
    flat_config,
    flat_paths,
    resolve_config,
    resumed_config,
)

OLD_RUN = Path(__file__).parent / "data" / "run-v0.1.0-wgan-gp"


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_nested_and_flat_forms_round_trip(preset):
    config = resolve_config(preset, hidden=(16,), lr_generator=3e-4, eval_every=50)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert TrainConfig.from_flat(config.to_flat()) == config


def test_flat_names_land_in_their_sections():
    config = resolve_config(
        "wgan",
        objective="hinge",
        optimizer="adam",
        n_critic=2,
        lr_critic=1e-3,
        steps=7,
        eval_n=100,
        eval_every_seconds=30.0,
        arch="mlp",
        hidden=(8, 8),
    )
    assert (config.objective.loss, config.objective.lipschitz) == ("hinge", "clip")
    assert (config.objective.n_critic, config.optimiser.name) == (2, "adam")
    assert config.optimiser.lr_critic == 1e-3
    assert config.schedule.steps == 7
    assert (config.evaluation.n, config.evaluation.every_seconds) == (100, 30.0)
    assert isinstance(config.model, ModelConfig)
    assert (config.model.arch, config.model.hidden) == ("mlp", (8, 8))
    assert config.model.data_shape is None  # fixed once the data is known


def test_the_network_options_live_in_one_model_config():
    config = resolve_config("wgan-gp", latent_dim=8, width=4)
    networks = config.model.for_data((1, 8, 8))
    assert networks == ModelConfig(
        arch="mlp", data_shape=(1, 8, 8), latent_dim=8, width=4, critic_norm="layer",
        hidden=(256, 256, 256), likelihood="gaussian",
    )  # fmt: skip
    assert config.model.for_data((3, 32, 32)).arch == "dcgan"
    # no network field is repeated outside the model section
    top_level = {name for name, (section, _) in flat_paths().items() if section is None}
    assert not top_level & {"arch", "latent_dim", "width", "hidden", "critic_norm", "likelihood"}


@pytest.mark.parametrize("section", ["model", "objective", "optimiser", "schedule", "evaluation"])
def test_every_section_refuses_unknown_keys(section):
    values = TrainConfig().to_dict()
    values[section]["typo"] = 1
    with pytest.raises(GenlabError, match=rf"unknown {section} options \['typo'\]"):
        TrainConfig.from_dict(values)


def test_unknown_top_level_and_flat_keys_are_refused():
    values = TrainConfig().to_dict()
    values["stepz"] = 3
    with pytest.raises(GenlabError, match=r"unknown training options \['stepz'\]"):
        TrainConfig.from_dict(values)
    with pytest.raises(GenlabError, match=r"unknown training options \['stepz'\]"):
        resolve_config("wgan-gp", stepz=3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(lr_generator=-1.0), "--lr must be positive"),
        (dict(n_critic=0), "--n-critic must be at least 1"),
        (dict(width=0), "--width must be at least 1"),
        (dict(batch_size=0), "--batch-size must be at least 1"),
        (dict(log_every=0), "--log-every must be at least 1"),
        (dict(eval_n=1), "--eval-n must be at least 2"),
        (dict(gp_weight=-1.0), "--gp-weight must be 0 or more"),
        (dict(ema=1.0), "--ema is a decay"),
        (dict(optimizer="sgd"), "unknown optimizer 'sgd'"),
        (dict(lr_decay="cosine"), "unknown --lr-decay 'cosine'"),
    ],
)
def test_errors_quote_the_command_line_flags(options, message):
    with pytest.raises(GenlabError, match=message):
        resolve_config("wgan-gp", **options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(minutes="10"), "--minutes takes a number or nothing (None), got '10'"),
        (dict(seed=1.5), "--seed takes a whole number, got 1.5"),
        (dict(n_critic=True), "--n-critic takes a whole number, got True"),
        (dict(betas=(0.5, "x")), "--betas takes 2 numbers"),
        (dict(deterministic="yes"), "--deterministic takes true or false"),
        (dict(eval_n="100"), "--eval-n takes a whole number"),
        (dict(eval_every_seconds="1m"), "--eval-every takes a number"),
        (dict(width="32"), "--width takes a whole number, got '32'"),
        (dict(hidden=(64, "a")), "--hidden takes a list of whole numbers"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_with_its_flag(options, message):
    # From Python or a hand-edited config.json, where nothing typed the values on the way in.
    with pytest.raises(GenlabError, match=re.escape(message)):
        resolve_config("wgan-gp", **options)
    saved = {**resolve_config("wgan-gp").to_flat(), **options}
    with pytest.raises(GenlabError, match=re.escape(message)):
        TrainConfig.from_dict(saved)


def test_numbers_pass_in_the_forms_json_and_numpy_give_them():
    config = resolve_config(
        "wgan-gp", lr_generator=1, betas=[0.5, 0.9], seed=np.int64(3), minutes=np.float32(2)
    )
    assert (config.optimiser.lr_generator, config.optimiser.betas) == (1, (0.5, 0.9))
    assert (config.seed, config.schedule.minutes) == (3, 2.0)


@pytest.mark.parametrize(("text", "steps", "seconds"), [("500", 500, 0.0), ("2m", 0, 120.0)])
def test_eval_every_reads_as_on_the_command_line_from_python_and_on_resume(text, steps, seconds):
    config = resolve_config("wgan-gp", eval_every=text)
    assert (config.evaluation.every, config.evaluation.every_seconds) == (steps, seconds)
    # On resume the new schedule replaces the old one, whichever kind each is.
    saved = resolve_config("wgan-gp", eval_every="7" if seconds else "30s").to_dict()
    resumed = resumed_config(saved, eval_every=text).evaluation
    assert (resumed.every, resumed.every_seconds) == (steps, seconds)


def test_an_old_flat_config_json_loads_and_reads_by_flat_names():
    saved = json.loads((OLD_RUN / "config.json").read_text())
    assert "model" not in saved  # the flat form of genlab 0.1.0
    config = TrainConfig.from_dict(saved)
    # Options added since then take their defaults: the verdict's switch (None: by data set),
    # the lazy penalty and the learning-rate schedule.
    added = {"eval_final": None, "gp_every": 1, "lr_decay": "none"}
    assert json.loads(json.dumps(config.to_flat())) == {**saved, **added}
    assert flat_config(saved) == saved
    assert flat_config(json.loads(json.dumps(config.to_dict()))) == {**saved, **added}
    resumed = resumed_config(saved, steps=6)
    assert (resumed.schedule.steps, resumed.objective.n_critic) == (6, 5)


def test_resume_changes_only_what_resumable_names():
    saved = resolve_config("wgan-gp").to_dict()
    assert resumed_config(saved, eval_n=10).evaluation.n == 10
    assert {"steps", "minutes", "eval_every"} <= set(RESUMABLE) <= set(flat_paths())
    with pytest.raises(GenlabError, match="--n-critic cannot change"):
        resumed_config(saved, n_critic=2)


def test_every_kind_has_a_training_task():
    from genlab.training.config import KINDS
    from genlab.training.tasks import TASKS

    assert set(TASKS) == set(KINDS)


def test_each_data_tuning_applies_to_its_data_set_only():
    main_job = resolve_config("wgan-gp")
    assert (main_job.schedule.steps, main_job.optimiser.lr_generator) == (1500, 3e-4)
    assert (main_job.optimiser.lr_critic, main_job.optimiser.ema) == (3e-4, 0.99)
    # The paper's method stays: loss, λ, n_critic, Adam's betas.
    assert (main_job.objective.loss, main_job.objective.gp_weight) == ("wasserstein", 10.0)
    assert (main_job.objective.n_critic, main_job.optimiser.betas) == (5, (0.5, 0.9))
    assert resolve_config("wgan-gp", data="digits:train").optimiser.ema == 0.99
    paper = resolve_config("wgan-gp", data="cifar10-jpeg")
    assert (paper.schedule.steps, paper.optimiser.lr_generator, paper.optimiser.ema) == (
        1000,
        1e-4,
        0.0,
    )
    # On MNIST every GAN preset trains narrower networks with an EMA; the papers' methods stay.
    for preset, method in [
        ("wgan-gp", ("gp", 10.0, 5, "adam", (0.5, 0.9))),
        ("wgan", ("clip", 10.0, 5, "rmsprop", (0.5, 0.9))),
        ("sngan", ("sn", 10.0, 1, "adam", (0.5, 0.999))),
        ("dcgan", ("none", 10.0, 1, "adam", (0.5, 0.999))),
    ]:
        mnist = resolve_config(preset, data="mnist")
        objective, optimiser = mnist.objective, mnist.optimiser
        assert (mnist.model.width, optimiser.ema) == (32, 0.99)
        assert (
            objective.lipschitz,
            objective.gp_weight,
            objective.n_critic,
            optimiser.name,
            optimiser.betas,
        ) == method
    assert resolve_config("wgan", data="mnist").objective.clip == 0.01
    assert resolve_config("wgan", data="digits").optimiser.ema == 0.0
    given = resolve_config("wgan-gp", lr_generator=1e-4, ema=0.0, steps=7)  # the user's win
    assert (given.schedule.steps, given.optimiser.lr_generator, given.optimiser.ema) == (
        7,
        1e-4,
        0.0,
    )


@pytest.mark.parametrize("native_bf16", [True, False])
def test_auto_precision_is_bf16_only_on_a_cpu_with_bf16_instructions(monkeypatch, native_bf16):
    import torch

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: native_bf16)
    on_cpu = resolve_config("dcgan", data="mnist", precision="auto")
    assert on_cpu.precision == ("bf16" if native_bf16 else "fp32")  # config.json records it
    assert resolve_config("dcgan", data="mnist", precision="auto", device="cuda").precision == (
        "fp32"
    )
    assert resolve_config("dcgan", data="mnist", precision="fp32").precision == "fp32"

"""The generator's weight average: the warmed-up recursion, and exact resumes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genlab.runs import list_checkpoints, load_checkpoint
from genlab.training.ema import NO_WARMUP, GeneratorEMA
from genlab.training.trainer import Trainer


def scalar_module(value: float) -> nn.Module:
    module = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        module.weight.fill_(value)
    return module


def average_of(values: list[float], decay: float, *, warmup: bool) -> float:
    """The average as explicit weights: θ_0 weighs Π d_s, θ_t weighs (1 - d_t) Π_{s>t} d_s."""
    d = [min(decay, (1 + t) / (10 + t)) if warmup else decay for t in range(len(values) - 1)]
    total = values[0] * math.prod(d)
    for t, value in enumerate(values[1:]):
        total += value * (1 - d[t]) * math.prod(d[t + 1 :])
    return total


@pytest.mark.parametrize("decay", [0.5, 0.9, 0.999])
def test_the_average_follows_the_warmed_up_weights(decay):
    values = [3.0, -1.0, 2.5, 0.25, 4.0, -2.0, 1.0, 0.5] * 4
    model = scalar_module(values[0])
    ema = GeneratorEMA(model, decay=decay)
    for value in values[1:]:
        model.weight.data.fill_(value)
        ema.update(model)
    got = ema.model.weight.item()
    assert got == pytest.approx(average_of(values, decay, warmup=True), rel=1e-5)
    if decay == 0.999:  # without the warm-up the start would still weigh 0.999^31 ≈ 0.97
        assert got != pytest.approx(average_of(values, decay, warmup=False), rel=1e-2)


def test_the_warmup_forgets_the_initial_weights_on_a_short_run():
    model = scalar_module(100.0)
    ema = GeneratorEMA(model, decay=0.999)
    model.weight.data.zero_()
    for _ in range(200):
        ema.update(model)
    # Π_{t<200} (1 + t)/(10 + t) = 9!·200!/209! ≈ 3.6e-16: the start is gone, not 0.999^200 ≈ 82 %
    assert abs(ema.model.weight.item()) < 1e-10
    assert ema.current_decay() == pytest.approx(201 / 210)


def test_a_checkpoint_from_before_the_warmup_keeps_the_plain_decay():
    ema = GeneratorEMA(scalar_module(1.0), decay=0.99)
    ema.load_state_dict(ema.state_dict(), updates=None)
    assert ema.updates == NO_WARMUP
    assert ema.current_decay() == 0.99


def test_a_resumed_run_averages_exactly_as_an_uninterrupted_one(tiny_config, tmp_path):
    whole = Trainer.start(tiny_config("wgan-gp", tmp_path / "whole", ema=0.999)).train()
    part = Trainer.start(tiny_config("wgan-gp", tmp_path / "part", ema=0.999, steps=3)).train()
    Trainer.resume(part, steps=6).train()
    ends = [load_checkpoint(list_checkpoints(run)[-1]) for run in (whole, part)]
    assert [end["ema_updates"] for end in ends] == [6, 6]
    for name, tensor in ends[0]["ema"].items():
        assert torch.equal(tensor, ends[1]["ema"][name]), name

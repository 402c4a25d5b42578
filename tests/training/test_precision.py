"""``precision="bf16"``: forward passes under bfloat16 autocast (CPU autocast supports it), losses
in float32, weights and optimiser state in float32."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.runs import read_metrics
from genlab.runs.checkpoint import load_checkpoint
from genlab.training.tasks import AutocastForward
from genlab.training.trainer import Trainer

# bfloat16 keeps 8 significant bits: relative rounding 2⁻⁸ ≈ 0.4 % per operation.
BF16_TOLERANCE = 0.05


# Seconds-long runs: three steps, no grids or checkpoints on the way.
SHORT = dict(steps=3, sample_every=100, checkpoint_every=100)


def test_autocast_forward_computes_in_bf16_and_returns_float32():
    torch.manual_seed(0)
    layer, x = nn.Linear(64, 8), torch.randn(4, 64)
    out = AutocastForward(layer, device_type="cpu")(x)
    expected = nn.functional.linear(
        x.bfloat16(), layer.weight.bfloat16(), layer.bias.bfloat16()
    ).float()
    assert out.dtype == torch.float32
    # The product really ran in bf16: every output is a bf16 number, and it is the bf16 product
    # of the bf16-rounded operands. Kernels may sum in another order before the final rounding
    # to bf16, so the two may differ by one bf16 step (2⁻⁷ relative) — not bit for bit.
    assert torch.equal(out.bfloat16().float(), out)
    torch.testing.assert_close(out, expected, rtol=2**-7, atol=1e-4)
    assert not torch.equal(out, layer(x))
    torch.testing.assert_close(out, layer(x), rtol=BF16_TOLERANCE, atol=BF16_TOLERANCE)


@pytest.mark.parametrize(
    ("preset", "networks"),
    [("wgan-gp", {}), ("vae", {}), ("wgan-gp", dict(arch="dcgan", width=8))],  # mlp, then dcgan
)
def test_bf16_training_runs_and_keeps_float32_state(tiny_config, tmp_path, preset, networks):
    run_dir = Trainer.start(
        tiny_config(preset, tmp_path / "bf16", **SHORT, **networks, precision="bf16")
    ).train()
    assert json.loads((run_dir / "config.json").read_text())["precision"] == "bf16"
    records = read_metrics(run_dir)
    assert [r["step"] for r in records] == [1, 2, 3]
    for record in records:
        values = [value for key, value in record.items() if key != "step"]
        assert all(isinstance(value, float) and math.isfinite(value) for value in values)
    state = load_checkpoint(run_dir)
    for network in state["models"].values():
        assert {t.dtype for t in network.values() if t.is_floating_point()} == {torch.float32}
    for optimiser in state["optimizers"].values():
        moments = [
            t for s in optimiser["state"].values() for t in s.values() if t.is_floating_point()
        ]
        assert moments
        assert {t.dtype for t in moments} == {torch.float32}


@pytest.mark.parametrize("preset", ["wgan-gp", "vae"])
def test_first_step_losses_agree_with_fp32_within_bf16_rounding(tiny_config, tmp_path, preset):
    keys = ("loss_critic", "loss_generator", "penalty") if preset != "vae" else ("loss", "kl")
    runs = {}
    for precision in ("fp32", "bf16"):
        config = tiny_config(
            preset, tmp_path / precision, **{**SHORT, "steps": 1}, precision=precision
        )
        runs[precision] = read_metrics(Trainer.start(config).train())[0]
    for key in keys:
        fp32, bf16 = runs["fp32"][key], runs["bf16"][key]
        assert bf16 != fp32, key  # autocast changed the arithmetic ...
        assert bf16 == pytest.approx(fp32, rel=BF16_TOLERANCE, abs=1e-3), key  # ... only a little


def test_unknown_precision_is_refused(tiny_config, tmp_path):
    with pytest.raises(GenlabError, match=r"precision 'fp16'.*fp32"):
        tiny_config("wgan-gp", tmp_path, **SHORT, precision="fp16")

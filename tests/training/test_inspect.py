"""Lipschitz bounds of trained critics, through the library and `genlab lipschitz`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from genlab.cli.main import cli
from genlab.divergences.lipschitz import LOWER_BOUND, UPPER_BOUND, UPPER_CLIP
from genlab.errors import GenlabError
from genlab.training.config import resolve_config
from genlab.training.inspect import critic_lipschitz_report
from genlab.training.trainer import Trainer


def trained(preset: str, out, **options):
    config = resolve_config(
        preset,
        data="digits",
        steps=3,
        batch_size=16,
        hidden=(16, 16),
        latent_dim=4,
        progress=False,
        tensorboard=False,
        out=str(out),
        **options,
    )
    return Trainer.start(config).train()


@pytest.mark.parametrize("preset", ["wgan", "wgan-gp", "sngan"])
def test_bounds_bracket_each_trained_critic(tmp_path, preset):
    report = critic_lipschitz_report(trained(preset, tmp_path / preset), points=32)
    assert 0 < report[LOWER_BOUND] <= report[UPPER_BOUND]


def test_clipped_critic_gets_the_closed_form_bound_above_the_spectral_product(tmp_path):
    report = critic_lipschitz_report(trained("wgan", tmp_path / "run", clip=0.01), points=32)
    # digits are 8×8 = 64 inputs; hidden (16, 16); one output: Π c·sqrt(m·n) over three layers.
    expected = (0.01 * (64 * 16) ** 0.5) * (0.01 * (16 * 16) ** 0.5) * (0.01 * 16**0.5)
    assert report[UPPER_CLIP] == pytest.approx(expected, rel=1e-6)
    assert report[UPPER_BOUND] <= report[UPPER_CLIP]


def test_vae_runs_have_no_critic(tmp_path):
    with pytest.raises(GenlabError, match="no critic"):
        critic_lipschitz_report(trained("vae", tmp_path / "vae"), points=8)


def test_cli_prints_both_bounds_and_writes_json(tmp_path):
    run_dir = trained("wgan-gp", tmp_path / "run")
    result = CliRunner().invoke(
        cli, ["lipschitz", str(run_dir), "--points", "16", "--json", str(tmp_path / "b.json")]
    )
    assert result.exit_code == 0, result.output
    assert "LOWER BOUND" in result.output
    assert "UPPER BOUND" in result.output
    values = json.loads((tmp_path / "b.json").read_text())
    assert values[LOWER_BOUND] <= values[UPPER_BOUND]

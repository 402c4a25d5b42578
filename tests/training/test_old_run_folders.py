"""Run folders written by genlab 0.1.0 (flat config.json, checkpoints of that version) still
resume with today's code, and continue with the very losses the old code produced.

The folders under ``data/`` were written before the training tasks and the nested `TrainConfig`
existed: tiny WGAN-GP (with EMA) and VAE runs on the bundled digits, trained to step 4 with
checkpoints at steps 2 and 4. ``old-run-losses.json`` holds what the old code logged at steps 5
and 6 when it resumed them (the same as its uninterrupted runs to step 6).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from genlab.errors import GenlabError
from genlab.runs import read_metrics
from genlab.training.trainer import Trainer

DATA = Path(__file__).parent / "data"
EXPECTED = json.loads((DATA / "old-run-losses.json").read_text())["runs"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_old_run_folder_resumes_to_the_old_losses(name, tmp_path):
    run_dir = tmp_path / name
    shutil.copytree(DATA / name, run_dir)
    trainer = Trainer.resume(run_dir, steps=6)
    assert trainer.step == 4
    # Written when digits was all 1797 images: it resumes on them (digits:all), not on the 1500.
    assert trainer.config.data == "digits:all"
    trainer.train()
    logged = [
        {key: value for key, value in record.items() if key != "time"}
        for record in read_metrics(run_dir)
        if record["step"] > 4
    ]
    expected = EXPECTED[name]
    assert [record["step"] for record in logged] == [record["step"] for record in expected]
    for got, want in zip(logged, expected, strict=True):
        assert set(got) == set(want)
        # float32 sums may round differently with another thread count; a change of behaviour
        # moves the losses far more than this
        assert got == pytest.approx(want, rel=1e-6, abs=1e-7)


def test_a_run_on_other_data_than_it_trained_on_is_refused(tiny_config, tmp_path):
    run_dir = Trainer.start(tiny_config("wgan-gp", tmp_path / "run", steps=2)).train()
    checkpoint = run_dir / "checkpoints" / "step-00000002.pt"
    state = torch.load(checkpoint, weights_only=False)
    state["config"]["limit"] = 100  # as if the data had changed under the run: 100, not 1500
    torch.save(state, checkpoint)
    with pytest.raises(GenlabError, match="trained on 1500 images and its data now holds 100"):
        Trainer.resume(run_dir, steps=4)


def test_the_critic_of_an_old_run_folder_loads_with_its_flat_options():
    from genlab.training.inspect import load_critic

    _, options, model_config = load_critic(DATA / "run-v0.1.0-wgan-gp")
    assert (options["lipschitz"], options["n_critic"], model_config.arch) == ("gp", 5, "mlp")


def test_the_report_reads_old_and_new_run_folders_alike(tiny_config, tmp_path):
    from genlab.report.collect import collect_run

    old = collect_run(DATA / "run-v0.1.0-wgan-gp")
    new = collect_run(Trainer.start(tiny_config("wgan-gp", tmp_path / "new", steps=2)).train())
    for run in (old, new):
        assert (run.config["preset"], run.config["n_critic"], run.config["data"]) == (
            "wgan-gp",
            5,
            "digits",
        )
        assert run.config["betas"] == [0.5, 0.9]
    # Every option of the old run reads alike; options added since are new runs' only.
    assert set(old.config) == set(new.config) - {"eval_final", "gp_every", "lr_decay"}

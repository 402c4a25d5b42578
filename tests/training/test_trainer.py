"""The training loop: run folder contents, exact resume, NaN stop, clipping in place, Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest
import torch

from genlab.errors import GenlabError, NonFiniteLossError
from genlab.runs import read_metrics
from genlab.runs.checkpoint import list_checkpoints, load_checkpoint
from genlab.training.trainer import Trainer

LOSS_KEYS = ("loss_critic", "loss_generator", "wasserstein_estimate", "loss")


def losses(run_dir) -> list[dict[str, float]]:
    return [
        {k: r[k] for k in LOSS_KEYS if k in r} | {"step": r["step"]} for r in read_metrics(run_dir)
    ]


def test_run_folder_tells_its_story(tiny_config, tmp_path):
    run_dir = Trainer.start(tiny_config("wgan-gp", tmp_path / "run")).train()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["preset"] == "wgan-gp"
    assert config["objective"]["n_critic"] == 5
    assert json.loads((run_dir / "model.json").read_text())["arch"] == "mlp"
    records = read_metrics(run_dir)
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    for key in (
        "loss_critic",
        "loss_generator",
        "wasserstein_estimate",
        "penalty",
        "grad_norm_critic",
        "grad_norm_generator",
        "time",
    ):
        assert key in records[-1]
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == [
        "step-00000003.png",
        "step-00000006.png",
    ]
    assert [p.name for p in list_checkpoints(run_dir)] == ["step-00000003.pt", "step-00000006.pt"]
    assert (run_dir / "weights" / "generator.safetensors").is_file()


@pytest.mark.parametrize("preset", ["wgan-gp", "wgan", "vae", "sngan"])
def test_resume_reproduces_the_uninterrupted_losses(tiny_config, tmp_path, preset):
    whole = Trainer.start(tiny_config(preset, tmp_path / "whole")).train()
    half = Trainer.start(tiny_config(preset, tmp_path / "half", steps=3)).train()
    Trainer.resume(half, steps=6).train()
    assert losses(half) == losses(whole)
    assert len(losses(whole)) == 6


def test_a_lazy_penalty_falls_on_every_kth_critic_update_and_resumes_exactly(tiny_config, tmp_path):
    # 5 critic updates a step, the penalty on every 3rd: a resume after step 2 (update 10) must
    # pick up the count mid-cycle, or the penalised updates shift and the losses part.
    lazy = dict(gp_every=3, checkpoint_every=2)
    whole = Trainer.start(tiny_config("wgan-gp", tmp_path / "whole", **lazy))
    whole.train()
    assert whole.task.critic_updates == 30
    assert whole.task._penalty_scale() == 3.0  # update 30 is the next penalised one
    half = Trainer.start(tiny_config("wgan-gp", tmp_path / "half", steps=2, **lazy)).train()
    Trainer.resume(half, steps=6).train()
    assert losses(half) == losses(whole.run_dir)
    every = Trainer.start(tiny_config("wgan-gp", tmp_path / "every")).train()
    assert losses(every)[1:] != losses(whole.run_dir)[1:]  # the lazy runs trained otherwise


def test_resume_continues_from_the_newest_checkpoint_after_extra_logging(tiny_config, tmp_path):
    # A run killed after step 4 has logged step 4 but its newest checkpoint is step 3:
    # the log is cut back to step 3 and continues exactly.
    whole = Trainer.start(tiny_config("wgan-gp", tmp_path / "whole")).train()
    config = tiny_config("wgan-gp", tmp_path / "killed", steps=4, checkpoint_every=3)
    trainer = Trainer.start(config)
    trainer.train()
    (trainer.run_dir / "checkpoints" / "step-00000004.pt").unlink()
    Trainer.resume(trainer.run_dir, steps=6).train()
    assert losses(trainer.run_dir) == losses(whole)


def test_clipping_bounds_every_critic_weight_during_training(tiny_config, tmp_path):
    trainer = Trainer.start(tiny_config("wgan", tmp_path / "run", clip=0.001, steps=3))
    trainer.train()
    bound = torch.tensor(0.001)
    for parameter in trainer.task.critic.parameters():
        assert parameter.abs().max() <= bound


class _NaNAfter:
    """An objective whose critic loss turns NaN at a given call."""

    def __init__(self, objective, calls: int) -> None:
        self.objective, self.calls = objective, calls

    def critic_loss(self, real, fake):
        self.calls -= 1
        loss = self.objective.critic_loss(real, fake)
        return loss * float("nan") if self.calls < 0 else loss

    def generator_loss(self, fake):
        return self.objective.generator_loss(fake)


def test_nan_loss_stops_with_the_step_and_keeps_the_last_checkpoint(tiny_config, tmp_path):
    trainer = Trainer.start(tiny_config("wgan-gp", tmp_path / "run", checkpoint_every=2))
    trainer.task.objective = _NaNAfter(trainer.task.objective, calls=5 * 3)  # NaN in step 4
    with pytest.raises(NonFiniteLossError, match=r"step 4: the critic loss is nan.*step-00000002"):
        trainer.train()
    checkpoints = list_checkpoints(trainer.run_dir)
    assert [p.name for p in checkpoints] == ["step-00000002.pt"]
    assert load_checkpoint(checkpoints[-1])["step"] == 2


def test_nan_before_any_checkpoint_says_none_was_written(tiny_config, tmp_path):
    trainer = Trainer.start(tiny_config("wgan-gp", tmp_path / "run"))
    trainer.task.objective = _NaNAfter(trainer.task.objective, calls=0)
    with pytest.raises(NonFiniteLossError, match=r"step 1: .*no checkpoint had been written yet"):
        trainer.train()


def test_ctrl_c_finishes_the_step_saves_and_resumes_exactly(tiny_config, tmp_path):
    whole = Trainer.start(tiny_config("wgan-gp", tmp_path / "whole")).train()
    trainer = Trainer.start(tiny_config("wgan-gp", tmp_path / "run", checkpoint_every=100))
    original = trainer.task.step
    calls = {"n": 0}

    def step_with_ctrl_c(log):
        calls["n"] += 1
        if calls["n"] == 4:  # Ctrl-C arrives in the middle of step 4
            os.kill(os.getpid(), signal.SIGINT)
        return original(log)

    trainer.task.step = step_with_ctrl_c
    handler_before = signal.getsignal(signal.SIGINT)  # SIG_IGN when started in the background
    with pytest.raises(GenlabError, match=r"interrupted at step 4.*--resume"):
        trainer.train()
    assert load_checkpoint(trainer.run_dir)["step"] == 4
    assert signal.getsignal(signal.SIGINT) is handler_before  # handler restored
    Trainer.resume(trainer.run_dir).train()
    assert losses(trainer.run_dir) == losses(whole)


def test_same_seed_same_run(tiny_config, tmp_path):
    first = Trainer.start(tiny_config("dcgan", tmp_path / "a", steps=3)).train()
    second = Trainer.start(tiny_config("dcgan", tmp_path / "b", steps=3)).train()
    assert losses(first) == losses(second)


def test_starting_into_an_existing_run_is_refused(tiny_config, tmp_path):
    Trainer.start(tiny_config("vae", tmp_path / "run", steps=1)).train()
    with pytest.raises(GenlabError, match="--resume"):
        Trainer.start(tiny_config("vae", tmp_path / "run", steps=1))


def test_toy_data_trains_an_mlp_on_points(tiny_config, tmp_path):
    run_dir = Trainer.start(tiny_config("wgan-gp", tmp_path / "run", data="8gaussians")).train()
    assert json.loads((run_dir / "model.json").read_text())["data_shape"] == [2]
    assert (run_dir / "samples" / "step-00000006.png").is_file()


LR_1E3 = dict(lr_generator=1e-3, lr_critic=1e-3)


@pytest.mark.parametrize("preset", ["wgan-gp", "vae"])
def test_linear_lr_decay_scales_every_optimiser_by_the_budget_left(tiny_config, tmp_path, preset):
    trainer = Trainer.start(tiny_config(preset, tmp_path / "run", lr_decay="linear", **LR_1E3))
    seen, step = [], trainer.task.step

    def spy(log):
        seen.append([g["lr"] for o in trainer.optimizers.values() for g in o.param_groups])
        return step(log)

    trainer.task.step = spy
    trainer.train()
    # Before step k + 1 of 6, lr = 1e-3 · (1 - k/6): 1e-3 at the first, 1e-3/6 at the last.
    expected = [1e-3 * (1 - k / 6) for k in range(6)]
    assert [lrs[0] for lrs in seen] == pytest.approx(expected, rel=1e-12)
    assert all(len(set(lrs)) == 1 for lrs in seen)  # every network, every group


def test_linear_lr_decay_resumes_exactly(tiny_config, tmp_path):
    # A run killed after its step-3 checkpoint continues on the schedule: the rate comes from
    # the step count, not from the optimiser's saved rate, so nothing compounds.
    whole = Trainer.start(tiny_config("wgan-gp", tmp_path / "whole", lr_decay="linear")).train()
    killed = shutil.copytree(whole, tmp_path / "killed")
    (killed / "checkpoints" / "step-00000006.pt").unlink()
    Trainer.resume(killed).train()
    assert losses(killed) == losses(whole)
    constant = Trainer.start(tiny_config("wgan-gp", tmp_path / "constant")).train()
    assert losses(constant)[1:] != losses(whole)[1:]  # the decayed run trained otherwise


def test_progress_through_a_time_budget_is_training_time_over_the_budget(tiny_config, tmp_path):
    trainer = Trainer(tiny_config("wgan-gp", tmp_path / "run", steps=None, minutes=2), None)
    trainer.elapsed = 30.0
    assert trainer._progress() == 0.25
    both = Trainer(tiny_config("wgan-gp", tmp_path / "both", steps=10, minutes=1), None)
    both.step, both.elapsed = 2, 45.0
    assert both._progress() == 0.75  # the budget nearer its end decides
    both.step, both.elapsed = 9, 6.0
    assert both._progress() == 0.9
    both.elapsed = 600.0
    assert both._progress() == 1.0

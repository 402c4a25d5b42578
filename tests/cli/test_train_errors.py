"""`genlab train` mistakes: each gets one line naming the problem and the fix, exit code 2, and
leaves nothing on disk; a resume applies only the options that may change."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from genlab.cli.main import main
from genlab.runs import read_metrics
from genlab.training.config import resolve_config

QUIET = ["--no-progress", "--no-tensorboard"]
TINY = ["--batch-size", "16", "--log-every", "1", "--checkpoint-every", "3", *QUIET]


def fails(capsys, args: list[str]) -> str:
    """Run the CLI, require exit code 2, and return its one-line error."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: "), err
    return err


def no_network(*args, **kwargs):
    raise urllib.error.URLError("offline (test)")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--lr", "-1"], "--lr must be positive"),
        (["--lr", "nan"], "--lr must be positive"),
        (["--steps", "0"], "--steps must be at least 1"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--width", "0"], "--width must be at least 1"),
        (["--clip", "-0.01"], "--clip must be positive"),
        (["--gp-weight", "-1"], "--gp-weight must be 0 or more"),
        (["--minutes", "0"], "--minutes must be positive"),
        (["--limit", "0"], "--limit must be at least 1"),
        (["--data", "minst"], "did you mean 'mnist'?"),
        (["--data", "minst:test"], "did you mean 'mnist:test'?"),
        (["--data", "8gausians"], "did you mean '8gaussians'?"),
        (["--data", "notes.txt"], "not a folder, .zip or .tar archive"),
        (["--data", "mnist", "--data-dir", "empty"], "put train-images-idx3-ubyte.gz at"),
        (["--eval-every", "10", "--eval-features", "pixls"], "pixls"),
        (["--eval-every", "5x"], "--eval-every takes a number of steps (500) or a time"),
    ],
)
def test_a_failed_start_leaves_nothing_on_disk(tmp_path, monkeypatch, capsys, args, expected):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    (tmp_path / "notes.txt").write_text("not images")
    (tmp_path / "empty").mkdir()
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert expected in fails(capsys, ["train", *args, *QUIET])
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not (tmp_path / "runs").exists()


def test_a_failed_start_with_out_does_not_make_the_folder(tmp_path, capsys):
    out = tmp_path / "run"
    fails(capsys, ["train", "--lr", "-1", "--out", str(out), *QUIET])
    assert not out.exists()


def test_out_may_not_be_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert "is a file" in fails(capsys, ["train", "--out", str(tmp_path / "file"), *QUIET])


def test_a_misspelt_command_suggests_the_closest(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["trian"])
    assert exit_info.value.code == 2
    assert "did you mean 'train'?" in capsys.readouterr().err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A 6-step WGAN-GP run on the digits, checkpoints at 3 and 6."""
    out = tmp_path_factory.mktemp("runs") / "run"
    main_ok(["train", "--steps", "6", "--out", str(out), *TINY])
    return out


def main_ok(args: list[str]) -> None:
    main(args)  # returns on success; an error would raise SystemExit(2)


def test_resume_refuses_options_that_define_the_run(finished_run, capsys):
    config = (finished_run / "config.json").read_text()
    metrics = (finished_run / "metrics.jsonl").read_text()
    error = fails(
        capsys,
        [
            "train",
            "--resume",
            str(finished_run),
            "--steps",
            "9",
            "--lr",
            "0.5",
            "--batch-size",
            "8",
        ],
    )
    assert "--batch-size, --lr cannot change when a run is resumed" in error
    assert "--steps" in error.split("may change")[1]  # and it says what may change
    assert (finished_run / "config.json").read_text() == config
    assert (finished_run / "metrics.jsonl").read_text() == metrics


@pytest.mark.parametrize("steps", [None, "6", "3"])
def test_resume_with_nothing_left_to_do_says_so(finished_run, capsys, steps):
    config = (finished_run / "config.json").read_text()
    args = ["train", "--resume", str(finished_run), *(["--steps", steps] if steps else [])]
    error = fails(capsys, args)
    assert "is at step 6 already" in error
    assert "--steps 12" in error
    assert (finished_run / "config.json").read_text() == config


def test_resume_applies_the_options_that_may_change(tmp_path, capsys):
    out = tmp_path / "run"
    main_ok(["train", "--steps", "3", "--out", str(out), *TINY])
    main_ok(["train", "--resume", str(out), "--steps", "5", "--log-every", "2", *QUIET])
    config = json.loads((out / "config.json").read_text())
    schedule = config["schedule"]
    assert (schedule["steps"], schedule["log_every"], config["batch_size"]) == (5, 2, 16)
    assert [r["step"] for r in read_metrics(out)] == [1, 2, 3, 4, 5]  # logged at 4, then the last


def test_a_time_budget_lifts_the_step_ceiling(tmp_path, tiny_config):
    assert resolve_config("wgan-gp", minutes=10).schedule.steps is None
    assert resolve_config("wgan-gp", minutes=10, steps=50).schedule.steps == 50
    assert resolve_config("wgan-gp").schedule.steps == 1500  # the main job's, on digits
    assert resolve_config("wgan-gp", data="mnist").schedule.steps == 1000

    from genlab.training.trainer import Trainer

    # No ceiling: the loop stops on the (tiny) budget alone.
    config = tiny_config("wgan-gp", tmp_path / "run", steps=None, minutes=1e-4)
    trainer = Trainer.start(config)
    trainer.train()
    assert trainer.step >= 1
    assert trainer.elapsed >= 60 * 1e-4


def test_tensorboard_keeps_the_point_logged_at_the_checkpoint_step(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    args = ["--log-every", "1", "--checkpoint-every", "3", "--batch-size", "16", "--no-progress"]
    main_ok(["train", "--steps", "5", "--out", str(out), *args])
    # Killed after step 5 was logged, before its checkpoint: resume goes back to step 3.
    (out / "checkpoints" / "step-00000005.pt").unlink()
    main_ok(["train", "--resume", str(out), "--no-progress"])
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    logged = events.Scalars("loss_critic")
    assert [event.step for event in logged] == [1, 2, 3, 4, 5]
    by_step = {record["step"]: record["loss_critic"] for record in read_metrics(out)}
    for event in logged:  # the resumed run's values, not the first run's orphans
        assert event.value == pytest.approx(by_step[event.step], rel=1e-6)

"""The training loop shared by every objective.

`Trainer` wires a data stream and a training task (`genlab.training.tasks`: the GAN's or the VAE's
networks, optimisers and step) together, then repeats the task's *step*, logging, sampling and
checkpointing on schedule. The loop knows no particular model: the task supplies the step, the
sampler and the network to export.

Under torchrun (`genlab.distributed`) every process runs this loop on its share of each global
batch; the networks are wrapped in DistributedDataParallel, which averages gradients, so every
process holds the same weights after every step. Rank 0 alone writes the run folder.
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genlab import distributed
from genlab.data.sources import DATASET, open_source, parse_spec
from genlab.data.toy import is_toy
from genlab.errors import GenlabError, NonFiniteLossError
from genlab.fileio import write_json
from genlab.runs import CONFIG_FILE, MODEL_FILE, new_run_dir, truncate_metrics, write_evaluation
from genlab.runs import checkpoint as ckpt
from genlab.training.config import TrainConfig, resumed_config
from genlab.training.logging import RunLogger
from genlab.training.periodic_eval import PeriodicEvaluator
from genlab.training.samples import save_samples
from genlab.training.stream import DatasetStream, ToyStream
from genlab.training.tasks import StepInputs, TrainingTask, make_task
from genlab.training.verdict import (
    Verdict,
    final_eval_enabled,
    judge,
    plan_verdict,
    verdict_files,
    verdict_samples,
)
from genlab.training.weights import export_weights

SAMPLE_GRID_SIZE = 64
#: Stream number of the latent noise of training, a generator of its own (see `Trainer._latent`).
_LATENT_STREAM = 3


def build_stream(config: TrainConfig, device: torch.device) -> DatasetStream | ToyStream:
    """The endless batch source named by ``config.data``."""
    if is_toy(config.data):
        return ToyStream(config.data, batch_size=config.batch_size, seed=config.seed, device=device)
    spec = parse_spec(config.data)
    source = open_source(spec, data_dir=config.data_dir)
    if config.limit is not None and config.limit < source.count:
        # --limit keeps the first N images; a limit past the end keeps them all, as it always has.
        source = open_source(spec, n=config.limit, data_dir=config.data_dir)
    return DatasetStream(source, batch_size=config.batch_size, seed=config.seed, device=device)


def seed_everything(seed: int, *, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds the global generator others draw from
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """Turn the first SIGINT into a flag the loop checks between steps; restore the handler after.

    Outside the main thread signal handlers cannot be installed, so Ctrl-C behaves as usual there.
    """
    received = []

    def handler(signum, frame) -> None:
        if received:  # a second Ctrl-C: the user does not want to wait for the step to end
            raise KeyboardInterrupt
        received.append(signum)

    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        # Under several processes all must stop at the same step: one interrupted stops all.
        yield lambda: distributed.any_true(bool(received))
    finally:
        signal.signal(signal.SIGINT, previous)


def _all_finite(module: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in module.parameters())


def _derived_seed(seed: int, stream: int) -> int:
    # SeedSequence mixes (seed, stream) so that streams of nearby seeds are unrelated.
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


class Trainer:
    """One training run in one run folder; build with `Trainer.start` or `Trainer.resume`."""

    def __init__(self, config: TrainConfig, run_dir: Path | None) -> None:
        # run_dir is None while `start` builds the run, before its folder exists.
        self.config, self.run_dir = config, None if run_dir is None else Path(run_dir)
        distributed.init()
        distributed.local_batch_size(config.batch_size)  # fails early unless it divides evenly
        self.device = torch.device(config.device)
        # Each process its own random stream (penalty interpolation, VAE sampling); rank 0's is
        # the single-process one. Data order and latent noise have generators of their own.
        seed_everything(config.seed + distributed.rank(), deterministic=config.deterministic)
        self.stream = build_stream(config, self.device)
        self.model_config = config.model.for_data(self.stream.data_shape)
        self.step, self.elapsed = 0, 0.0
        noise = torch.Generator().manual_seed(config.seed + 1)
        self.fixed_noise = torch.randn(SAMPLE_GRID_SIZE, config.model.latent_dim, generator=noise)
        self.latent_noise = torch.Generator().manual_seed(
            _derived_seed(config.seed, _LATENT_STREAM)
        )
        inputs = StepInputs(
            data=self.stream.next, latent=self._latent, check_finite=self._check_finite
        )
        self.task: TrainingTask = make_task(
            config, self.model_config, device=self.device, inputs=inputs
        )
        # The task's dicts: checkpoints save and restore them by name.
        self.models, self.optimizers = self.task.models, self.task.optimizers
        self.evaluator = PeriodicEvaluator(config) if config.evaluation.enabled else None
        # The verdict's features, reference and floor images are resolved now, so a missing
        # file stops the start, not the end of a long run.
        self.verdict_plan = plan_verdict(config) if final_eval_enabled(config) else None

    @classmethod
    def start(cls, config: TrainConfig) -> Trainer:
        """A new run: numbered folder (or ``config.out``), config written before the first step.

        The data, the networks and the evaluation reference are all built *before* the folder
        is made, so a mistake in any of them (a misspelt data set, a missing file, options the
        networks refuse) stops the start with nothing left on disk.
        """
        distributed.init()
        if config.out:
            _refuse_used_folder(Path(config.out))
        trainer = cls(config, run_dir=None)
        # Rank 0 picks (and checks) the folder; the others learn it from rank 0.
        trainer.run_dir = distributed.run_on_main(lambda: _new_run_folder(config))
        config.out = str(trainer.run_dir)
        run_dir = trainer.run_dir
        if distributed.is_main():
            write_json(run_dir / CONFIG_FILE, config.to_dict())
            write_json(run_dir / MODEL_FILE, trainer.model_config.to_dict())
        return trainer

    @classmethod
    def resume(cls, run_dir: Path, **changes: Any) -> Trainer:
        """Continue ``run_dir`` from its newest checkpoint.

        ``changes`` may set the options of `genlab.training.config.RESUMABLE` (``steps`` is the
        new total to reach); any other is refused. Nothing in the folder changes until the
        checkpoint has loaded and the networks are rebuilt.
        """
        run_dir = Path(run_dir)
        distributed.init()
        # Read by rank 0 and sent to all, so the run folder need only be on rank 0's disk.
        state = distributed.run_on_main(lambda: ckpt.load_latest_good_checkpoint(run_dir))
        config = _before_the_digits_split(resumed_config(state["config"], **changes), state)
        trainer = cls(config, run_dir)
        trainer.load_state(state)
        finished = trainer.finished()  # on every process: it agrees on the clock collectively
        if distributed.is_main() and not finished:
            truncate_metrics(run_dir, trainer.step)
            write_json(run_dir / CONFIG_FILE, config.to_dict())
        return trainer

    def finished(self) -> bool:
        """True when the step ceiling or the time budget is reached: `train` has nothing to do."""
        return not self._below_ceiling() or self._out_of_time()

    # ---------------------------------------------------------------- state
    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly; every process must call it (it gathers)."""
        rng = ckpt.capture_rng_state()
        return {
            "config": self.config.to_dict(),
            "model_config": self.model_config.to_dict(),
            "step": self.step,
            "elapsed": self.elapsed,
            **self.task.state_dict(),  # "models", "optimizers", "ema", "ema_updates"
            "stream": self.stream.state_dict(),
            "latent_noise": self.latent_noise.get_state(),
            "rng": rng,
            # One entry per process: each has its own random stream to restore on resume.
            "rng_per_rank": distributed.all_gather_objects(rng),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.task.load_state_dict(state)
        self.stream.load_state_dict(state["stream"])
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        if "latent_noise" in state:  # checkpoints before genlab.distributed drew z from "rng"
            self.latent_noise.set_state(state["latent_noise"])
        ckpt.restore_rng_state(self._own_rng_state(state))

    def _own_rng_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """This process's saved RNG state; rank 0's (with a warning) if the count changed."""
        per_rank = state.get("rng_per_rank") or [state["rng"]]
        if len(per_rank) != distributed.world_size():
            warnings.warn(
                f"the checkpoint was written by {len(per_rank)} process(es), this run has "
                f"{distributed.world_size()}: training continues from it, but the random "
                "streams differ from an uninterrupted run, so the losses will not repeat exactly",
                stacklevel=3,
            )
            return state["rng"]
        return per_rank[distributed.rank()]

    def save_checkpoint(self) -> Path:
        for name, module in self.models.items():
            if not _all_finite(module):
                raise NonFiniteLossError(
                    f"step {self.step}: the {name} has non-finite weights; not overwriting the "
                    "last good checkpoint — lower the learning rate and resume from it"
                )
        state = self.state()
        if not distributed.is_main():  # every process holds the same weights; rank 0 writes
            return ckpt.checkpoint_path(self.run_dir, self.step)
        path = ckpt.save_checkpoint(
            state, self.run_dir, self.step, keep=self.config.schedule.keep_checkpoints
        )
        export_weights(self.run_dir, *self._shared_network())
        return path

    def _shared_network(self) -> tuple[str, nn.Module, dict[str, Any]]:
        """The network `weights/` shares (the task's: the EMA generator if any, the VAE), with
        the metadata that rebuilds it."""
        name, module, extra = self.task.exported()
        meta = {"model_config": self.model_config.to_dict(), "step": self.step, **extra}
        return name, module, meta

    # ---------------------------------------------------------------- steps
    def _check_finite(self, name: str, value: torch.Tensor) -> None:
        if bool(torch.isfinite(value)):
            return
        kept = ckpt.list_checkpoints(self.run_dir)
        saved = (
            f"the last good checkpoint, {kept[-1].name}, is kept"
            if kept
            else "no checkpoint had been written yet"
        )
        raise NonFiniteLossError(
            f"step {self.step + 1}: {name} is {value.item()}; training stopped and {saved} — "
            "start again with a lower --lr, or check the data for NaNs"
        )

    def _latent(self) -> torch.Tensor:
        """This process's rows of a global batch of latent noise.

        Every process draws the whole global batch from the same generator and keeps its share,
        so N processes use exactly the noise one process would (and the generator's state is
        the same everywhere).
        """
        config = self.config
        z = torch.randn(config.batch_size, config.model.latent_dim, generator=self.latent_noise)
        return distributed.shard_rows(z).to(self.device)

    # ---------------------------------------------------------------- sampling
    def sample_fixed(self) -> torch.Tensor:
        """Samples from the fixed noise batch, in [-1, 1] or as points."""
        with self.task.sampler() as sample:
            return sample(self.fixed_noise.to(self.device)).cpu()

    def evaluate_now(self) -> dict[str, float]:
        """Periodic-evaluation metrics of the current generator (needs ``eval_every``)."""
        with self.task.sampler() as sample:
            return self.evaluator(sample)

    def final_verdict(self) -> Verdict | None:
        """The verdict on the current generator (`genlab.training.verdict`), filed in the run's
        ``evaluations/`` by rank 0; None when the run has none (``--no-final-eval``).

        Under torchrun every process must call it: `genlab.evaluate` shares the extraction out
        between them. Each draws the same samples (same weights, same noise).
        """
        plan = self.verdict_plan
        if plan is None:
            return None
        with self.task.sampler() as sample:
            images = verdict_samples(
                sample, n=plan.n, latent_dim=self.config.model.latent_dim, device=plan.device
            )
        verdict = judge(plan, images)
        if distributed.is_main():
            for name, layout in verdict_files(verdict).items():
                write_evaluation(self.run_dir, layout, name=name)
        return verdict

    # ---------------------------------------------------------------- loop
    def _below_ceiling(self) -> bool:
        steps = self.config.schedule.steps
        return steps is None or self.step < steps

    def _progress(self) -> float:
        """How far through its budget the run is, in [0, 1]: the larger of steps done over the
        step ceiling and training time over the time budget (the clock furthest ahead, so that
        every process uses the same learning rate)."""
        schedule, progress = self.config.schedule, 0.0
        if schedule.steps is not None:
            progress = self.step / schedule.steps
        if schedule.minutes is not None:
            progress = max(progress, distributed.maximum(self.elapsed) / (60.0 * schedule.minutes))
        return min(progress, 1.0)

    def _out_of_time(self) -> bool:
        minutes = self.config.schedule.minutes
        if minutes is None:
            return False
        # Clocks differ between processes; all stop as soon as one is out of time.
        return distributed.any_true(self.elapsed >= 60.0 * minutes)

    def train(self) -> Path:
        """Run until ``config.steps``; returns the run folder.

        Ctrl-C stops at the end of the step in progress, so the checkpoint it saves is an exact
        step boundary and resuming reproduces an uninterrupted run; a second Ctrl-C aborts at once.
        """
        config, schedule = self.config, self.config.schedule
        logger = RunLogger(
            self.run_dir,
            total=schedule.steps,
            initial=self.step,
            tensorboard=config.tensorboard,
            progress=config.progress,
        )
        started = time.perf_counter() - self.elapsed
        self._eval_slot = self._time_slot()
        try:
            with _deferred_interrupt() as interrupted:
                while self._below_ceiling() and not self._out_of_time():
                    step = self.step + 1
                    log = step % schedule.log_every == 0 or step == schedule.steps
                    if config.optimiser.lr_decay == "linear":
                        self.task.scale_learning_rates(1.0 - self._progress())
                    values = self.task.step(log)
                    self.step += 1
                    self.elapsed = time.perf_counter() - started
                    if log:
                        logger.log(self.step, {**values, "time": self.elapsed})
                    if interrupted():
                        self.save_checkpoint()
                        raise GenlabError(
                            f"interrupted at step {self.step}; checkpoint saved — continue with "
                            f"genlab train --resume {self.run_dir}"
                        )
                    # Evaluation time is not training time: the budget and the logged time
                    # count training only, so evaluating often does not cut a run short.
                    started += self._on_schedule(logger)
                self.save_checkpoint()
        finally:
            logger.close()
        return self.run_dir

    def _on_schedule(self, logger: RunLogger) -> float:
        """Sample grids, evaluations and checkpoints due after the step just finished.

        Returns the seconds spent evaluating.
        """
        schedule = self.config.schedule
        last = self.step == schedule.steps or self._out_of_time()
        if self.step % schedule.sample_every == 0 or last:
            save_samples(self.run_dir, self.step, self.sample_fixed(), self.stream)
        evaluating = 0.0
        if self.evaluator is not None and self._evaluation_due(last):
            began = time.perf_counter()
            values = self.evaluate_now()
            evaluating = time.perf_counter() - began
            logger.log(self.step, {**values, "time": self.elapsed, "eval_seconds": evaluating})
        if self.step % schedule.checkpoint_every == 0 and self._below_ceiling():
            self.save_checkpoint()
        logger.advance()
        return evaluating

    def _time_slot(self) -> int:
        """How many whole ``eval_every_seconds`` periods of training time have passed."""
        period = self.config.evaluation.every_seconds
        # The clock furthest ahead over all processes, so that all evaluate at the same step.
        return int(distributed.maximum(self.elapsed) // period) if period else 0

    def _evaluation_due(self, last: bool) -> bool:
        steps = self.config.evaluation.every
        slot = self._time_slot()
        due = last or (steps and self.step % steps == 0) or slot > self._eval_slot
        self._eval_slot = slot
        return bool(due)


def _before_the_digits_split(config: TrainConfig, state: dict[str, Any]) -> TrainConfig:
    """``digits:all`` for a run on ``digits`` written before the data set had a test split.

    ``digits`` meant all 1797 images then and is the first 1500 now (`genlab.data.digits`); such
    a checkpoint's stream state lacks the image count genlab records since, so the run resumes on
    the very images it trained on, and says so in its config.json.
    """
    if is_toy(config.data) or "images" in state.get("stream", {}):
        return config
    spec = parse_spec(config.data)
    if spec.kind == DATASET and spec.name == "digits" and spec.split in (None, "train"):
        config.data = "digits:all"
    return config


def _refuse_used_folder(run_dir: Path) -> None:
    if (run_dir / CONFIG_FILE).exists():
        raise GenlabError(
            f"{run_dir} already holds a run; continue it with --resume {run_dir} "
            "or pick another --out"
        )
    if run_dir.exists() and not run_dir.is_dir():
        raise GenlabError(f"--out {run_dir} is a file; pass a folder for the run")


def _new_run_folder(config: TrainConfig) -> Path:
    """``config.out`` (refused if it holds a run already), or the next numbered folder."""
    if not config.out:
        return new_run_dir(f"{config.preset}-{config.data.replace(':', '-')}")
    run_dir = Path(config.out)
    _refuse_used_folder(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir

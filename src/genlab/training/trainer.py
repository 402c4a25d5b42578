"""The training loop shared by every objective.

`Trainer` wires a data stream, networks, an objective and a Lipschitz method together, then repeats
one *step* — n_critic critic updates and one generator update for adversarial objectives, one ELBO
update for the VAE — logging, sampling and checkpointing on schedule. The loop knows no particular
GAN: the objective supplies losses, the Lipschitz method its hooks.
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genlab.data.registry import load_dataset
from genlab.errors import GenlabError, NonFiniteLossError
from genlab.models.registry import ModelConfig, build_critic, build_generator, build_vae
from genlab.objectives.adversarial import make_adversarial_objective, wasserstein_estimate
from genlab.objectives.elbo import ELBO
from genlab.objectives.lipschitz import make_lipschitz_method
from genlab.objectives.step import critic_step
from genlab.training import checkpoint as ckpt
from genlab.training.config import TrainConfig
from genlab.training.ema import GeneratorEMA
from genlab.training.logging import RunLogger, truncate_metrics
from genlab.training.periodic_eval import PeriodicEvaluator
from genlab.training.run_folder import new_run_dir, read_json, write_json
from genlab.training.samples import save_samples
from genlab.training.stream import DatasetStream, ToyStream
from genlab.training.weights import export_weights

SAMPLE_GRID_SIZE = 64


def is_toy(name: str) -> bool:
    from genlab.data.toy import list_toy

    return name in list_toy()


def build_stream(config: TrainConfig, device: torch.device) -> DatasetStream | ToyStream:
    """The endless batch source named by ``config.data``."""
    if is_toy(config.data):
        return ToyStream(config.data, batch_size=config.batch_size, seed=config.seed, device=device)
    dataset = load_dataset(config.data, data_dir=config.data_dir, limit=config.limit)
    return DatasetStream(dataset, batch_size=config.batch_size, seed=config.seed, device=device)


def model_config_for(config: TrainConfig, data_shape: tuple[int, ...]) -> ModelConfig:
    """Networks for the data: MLP for points and images smaller than 16 px unless told otherwise."""
    arch = config.arch
    if arch is None:
        arch = "mlp" if len(data_shape) != 3 or data_shape[-1] < 16 else "dcgan"
    return ModelConfig(
        arch=arch,
        data_shape=data_shape,
        latent_dim=config.latent_dim,
        width=config.width,
        critic_norm=config.critic_norm,
        hidden=config.hidden,
        likelihood=config.likelihood,
    )


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
        yield lambda: bool(received)
    finally:
        signal.signal(signal.SIGINT, previous)


def _make_optimizer(config: TrainConfig, params, lr: float) -> torch.optim.Optimizer:
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=config.betas)


def _grad_norm(module: nn.Module) -> float:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))


def _all_finite(module: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in module.parameters())


class Trainer:
    """One training run in one run folder; build with `Trainer.start` or `Trainer.resume`."""

    def __init__(self, config: TrainConfig, run_dir: Path) -> None:
        self.config, self.run_dir = config, Path(run_dir)
        self.device = torch.device(config.device)
        seed_everything(config.seed, deterministic=config.deterministic)
        self.stream = build_stream(config, self.device)
        self.model_config = model_config_for(config, self.stream.data_shape)
        self.step, self.elapsed = 0, 0.0
        noise = torch.Generator().manual_seed(config.seed + 1)
        self.fixed_noise = torch.randn(SAMPLE_GRID_SIZE, config.latent_dim, generator=noise)
        self.ema: GeneratorEMA | None = None
        if config.kind == "vae":
            self._build_vae()
        else:
            self._build_gan()
        evaluating = config.eval_every or config.eval_every_seconds
        self.evaluator = PeriodicEvaluator(config) if evaluating else None

    # ---------------------------------------------------------------- construction
    def _build_gan(self) -> None:
        config = self.config
        self.objective = make_adversarial_objective(config.objective)
        self.lipschitz = make_lipschitz_method(
            config.lipschitz, clip=config.clip, gp_weight=config.gp_weight
        )
        self.generator = build_generator(self.model_config).to(self.device)
        self.critic = self.lipschitz.prepare(build_critic(self.model_config)).to(self.device)
        self.optimizers = {
            "generator": _make_optimizer(config, self.generator.parameters(), config.lr_generator),
            "critic": _make_optimizer(config, self.critic.parameters(), config.lr_critic),
        }
        self.models: dict[str, nn.Module] = {"generator": self.generator, "critic": self.critic}
        if config.ema > 0:
            self.ema = GeneratorEMA(self.generator, decay=config.ema)

    def _build_vae(self) -> None:
        config = self.config
        self.elbo = ELBO(likelihood=config.likelihood, beta=config.beta, sigma=config.sigma)
        self.vae = build_vae(self.model_config).to(self.device)
        self.optimizers = {
            "vae": _make_optimizer(config, self.vae.parameters(), config.lr_generator)
        }
        self.models = {"vae": self.vae}

    @classmethod
    def start(cls, config: TrainConfig) -> Trainer:
        """A new run: numbered folder (or ``config.out``), config written before the first step."""
        if config.out:
            run_dir = Path(config.out)
            if (run_dir / "config.json").exists():
                raise GenlabError(
                    f"{run_dir} already holds a run; continue it with --resume {run_dir} "
                    "or pick another --out"
                )
            run_dir.mkdir(parents=True, exist_ok=True)
        else:
            run_dir = new_run_dir(f"{config.preset}-{config.data.replace(':', '-')}")
        config.out = str(run_dir)
        trainer = cls(config, run_dir)
        write_json(run_dir / "config.json", config.to_dict())
        write_json(run_dir / "model.json", trainer.model_config.to_dict())
        return trainer

    @classmethod
    def resume(cls, run_dir: Path, *, steps: int | None = None) -> Trainer:
        """Continue ``run_dir`` from its newest checkpoint; ``steps`` is the new total to reach."""
        run_dir = Path(run_dir)
        state = ckpt.load_checkpoint(ckpt.latest_checkpoint(run_dir))
        config = TrainConfig.from_dict(state["config"])
        if steps is not None:
            config.steps = steps
        trainer = cls(config, run_dir)
        trainer.load_state(state)
        truncate_metrics(run_dir, trainer.step)
        write_json(run_dir / "config.json", config.to_dict())
        return trainer

    # ---------------------------------------------------------------- state
    def state(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "model_config": self.model_config.to_dict(),
            "step": self.step,
            "elapsed": self.elapsed,
            "models": {name: m.state_dict() for name, m in self.models.items()},
            "optimizers": {name: o.state_dict() for name, o in self.optimizers.items()},
            "ema": None if self.ema is None else self.ema.state_dict(),
            "stream": self.stream.state_dict(),
            "rng": ckpt.capture_rng_state(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        for name, module in self.models.items():
            module.load_state_dict(state["models"][name])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        self.stream.load_state_dict(state["stream"])
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        ckpt.restore_rng_state(state["rng"])

    def save_checkpoint(self) -> Path:
        for name, module in self.models.items():
            if not _all_finite(module):
                raise NonFiniteLossError(
                    f"step {self.step}: the {name} has non-finite weights; not overwriting the "
                    "last good checkpoint — lower the learning rate and resume from it"
                )
        path = ckpt.save_checkpoint(
            self.state(), self.run_dir, self.step, keep=self.config.keep_checkpoints
        )
        export_weights(self)
        return path

    # ---------------------------------------------------------------- steps
    def _check_finite(self, name: str, value: torch.Tensor) -> None:
        if not bool(torch.isfinite(value)):
            raise NonFiniteLossError(
                f"step {self.step + 1}: {name} is {value.item()}; training stopped, the last good "
                f"checkpoint in {self.run_dir / ckpt.CHECKPOINT_DIR} is kept — lower the learning "
                "rate or check the data, then resume"
            )

    def _gan_step(self, log: bool) -> dict[str, float]:
        config, generator, critic = self.config, self.generator, self.critic
        batch, latent = config.batch_size, config.latent_dim
        critic.requires_grad_(True)
        for _ in range(config.n_critic):
            real = self.stream.next()
            with torch.no_grad():
                fake = generator(torch.randn(batch, latent, device=self.device))
            update = critic_step(
                critic, self.optimizers["critic"], self.objective, self.lipschitz, real, fake
            )
            # Checked after the update: a non-finite loss stops the run before the weights it
            # spoiled can reach a checkpoint (save_checkpoint also refuses non-finite weights).
            self._check_finite("the critic loss", update.loss)
        values = {}
        if log:
            values = {
                "loss_critic": update.loss.item(),
                "wasserstein_estimate": wasserstein_estimate(
                    update.real_scores, update.fake_scores
                ).item(),
                "grad_norm_critic": _grad_norm(critic),
            }
            if update.penalty is not None:
                values["penalty"] = update.penalty.item()
        # The critic's weights get no gradient from the generator's loss.
        critic.requires_grad_(False)
        fake_scores = critic(generator(torch.randn(batch, latent, device=self.device)))
        loss_generator = self.objective.generator_loss(fake_scores)
        self._check_finite("the generator loss", loss_generator)
        self.optimizers["generator"].zero_grad(set_to_none=True)
        loss_generator.backward()
        self.optimizers["generator"].step()
        if self.ema is not None:
            self.ema.update(generator)
        if log:
            values["loss_generator"] = loss_generator.item()
            values["grad_norm_generator"] = _grad_norm(generator)
        return values

    def _vae_step(self, log: bool) -> dict[str, float]:
        x = self.stream.next()
        params, mu, log_var = self.vae(x)
        terms = self.elbo(params, x, mu, log_var)
        self._check_finite("the negative ELBO", terms["loss"])
        self.optimizers["vae"].zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.optimizers["vae"].step()
        if not log:
            return {}
        values = {name: value.item() for name, value in terms.items()}
        values["grad_norm"] = _grad_norm(self.vae)
        return values

    # ---------------------------------------------------------------- sampling
    @contextlib.contextmanager
    def _sampler(self) -> Iterator[Callable[[torch.Tensor], torch.Tensor]]:
        """z ↦ samples from the EMA generator if any (else the generator, or the VAE's decoder),
        in eval mode inside the block, restored after."""
        if self.config.kind == "vae":
            model, sample = self.vae, self.vae.generate
        else:
            model = self.ema.model if self.ema is not None else self.generator
            sample = model
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                yield sample
        finally:
            model.train(was_training)

    def sample_fixed(self) -> torch.Tensor:
        """Samples from the fixed noise batch, in [-1, 1] or as points."""
        with self._sampler() as sample:
            return sample(self.fixed_noise.to(self.device)).cpu()

    def evaluate_now(self) -> dict[str, float]:
        """Periodic-evaluation metrics of the current generator (needs ``eval_every``)."""
        with self._sampler() as sample:
            return self.evaluator(sample)

    # ---------------------------------------------------------------- loop
    def _out_of_time(self) -> bool:
        return self.config.minutes is not None and self.elapsed >= 60.0 * self.config.minutes

    def train(self) -> Path:
        """Run until ``config.steps``; returns the run folder.

        Ctrl-C stops at the end of the step in progress, so the checkpoint it saves is an exact
        step boundary and resuming reproduces an uninterrupted run; a second Ctrl-C aborts at once.
        """
        config = self.config
        logger = RunLogger(
            self.run_dir,
            total=config.steps,
            initial=self.step,
            tensorboard=config.tensorboard,
            progress=config.progress,
        )
        step_fn = self._vae_step if config.kind == "vae" else self._gan_step
        started = time.perf_counter() - self.elapsed
        self._eval_slot = self._time_slot()
        try:
            with _deferred_interrupt() as interrupted:
                while self.step < config.steps and not self._out_of_time():
                    log = (self.step + 1) % config.log_every == 0 or self.step + 1 == config.steps
                    values = step_fn(log)
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
        config = self.config
        last = self.step == config.steps or self._out_of_time()
        if self.step % config.sample_every == 0 or last:
            save_samples(self.run_dir, self.step, self.sample_fixed(), self.stream)
        evaluating = 0.0
        if self.evaluator is not None and self._evaluation_due(last):
            began = time.perf_counter()
            values = self.evaluate_now()
            evaluating = time.perf_counter() - began
            logger.log(self.step, {**values, "time": self.elapsed, "eval_seconds": evaluating})
        if self.step % config.checkpoint_every == 0 and self.step < config.steps:
            self.save_checkpoint()
        logger.advance()
        return evaluating

    def _time_slot(self) -> int:
        """How many whole ``eval_every_seconds`` periods of training time have passed."""
        period = self.config.eval_every_seconds
        return int(self.elapsed // period) if period else 0

    def _evaluation_due(self, last: bool) -> bool:
        steps = self.config.eval_every
        slot = self._time_slot()
        due = last or (steps and self.step % steps == 0) or slot > self._eval_slot
        self._eval_slot = slot
        return bool(due)


def load_run_config(run_dir: Path) -> tuple[TrainConfig, ModelConfig]:
    """The training and model configs of a run folder."""
    return (
        TrainConfig.from_dict(read_json(Path(run_dir) / "config.json")),
        ModelConfig.from_dict(read_json(Path(run_dir) / "model.json")),
    )

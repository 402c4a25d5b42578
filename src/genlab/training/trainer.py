"""The training loop shared by every objective.

`Trainer` wires a data stream, networks, an objective and a Lipschitz method together, then repeats
one *step* — n_critic critic updates and one generator update for adversarial objectives, one ELBO
update for the VAE — logging, sampling and checkpointing on schedule. The loop knows no particular
GAN: the objective supplies losses, the Lipschitz method its hooks.

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
from genlab.data.registry import load_dataset
from genlab.data.toy import is_toy
from genlab.errors import GenlabError, NonFiniteLossError
from genlab.fileio import write_json
from genlab.models.registry import ModelConfig, build_critic, build_generator, build_vae
from genlab.objectives.adversarial import make_adversarial_objective, wasserstein_estimate
from genlab.objectives.elbo import ELBO
from genlab.objectives.lipschitz import make_lipschitz_method
from genlab.objectives.step import critic_step
from genlab.runs import CONFIG_FILE, MODEL_FILE, new_run_dir, truncate_metrics
from genlab.runs import checkpoint as ckpt
from genlab.training.config import TrainConfig, resumed_config
from genlab.training.ema import GeneratorEMA
from genlab.training.logging import RunLogger
from genlab.training.periodic_eval import PeriodicEvaluator
from genlab.training.samples import save_samples
from genlab.training.stream import DatasetStream, ToyStream
from genlab.training.weights import export_weights

SAMPLE_GRID_SIZE = 64
#: Stream number of the latent noise of training, a generator of its own (see `Trainer._latent`).
_LATENT_STREAM = 3


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
        # Under several processes all must stop at the same step: one interrupted stops all.
        yield lambda: distributed.any_true(bool(received))
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


def _derived_seed(seed: int, stream: int) -> int:
    # SeedSequence mixes (seed, stream) so that streams of nearby seeds are unrelated.
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


class AutocastForward(nn.Module):
    """``module``'s forward pass under bfloat16 autocast, with float32 outputs.

    Matrix products and convolutions run in bf16 (about 3 significant digits, float32's range);
    the outputs are cast back, so losses, penalties and gradient norms are computed in float32
    outside autocast. Weights, gradients and optimiser state stay float32 (the module is not
    converted), the usual mixed-precision recipe (Micikevicius et al. 2018); bf16 keeps float32's
    exponent, so no loss scaling is needed.
    """

    def __init__(self, module: nn.Module, *, device_type: str) -> None:
        super().__init__()
        self.module, self.device_type = module, device_type

    def forward(self, *inputs: torch.Tensor) -> Any:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            outputs = self.module(*inputs)
        if isinstance(outputs, tuple):
            return tuple(output.float() for output in outputs)
        return outputs.float()


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
        self.model_config = model_config_for(config, self.stream.data_shape)
        self.step, self.elapsed = 0, 0.0
        noise = torch.Generator().manual_seed(config.seed + 1)
        self.fixed_noise = torch.randn(SAMPLE_GRID_SIZE, config.latent_dim, generator=noise)
        self.latent_noise = torch.Generator().manual_seed(
            _derived_seed(config.seed, _LATENT_STREAM)
        )
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
        self.models: dict[str, nn.Module] = {"generator": self.generator, "critic": self.critic}
        self._wrap_models()
        self.optimizers = {
            "generator": _make_optimizer(config, self.generator.parameters(), config.lr_generator),
            "critic": _make_optimizer(config, self.critic.parameters(), config.lr_critic),
        }
        if config.ema > 0:
            self.ema = GeneratorEMA(self.generator, decay=config.ema)

    def _build_vae(self) -> None:
        config = self.config
        self.elbo = ELBO(likelihood=config.likelihood, beta=config.beta, sigma=config.sigma)
        self.vae = build_vae(self.model_config).to(self.device)
        self.models = {"vae": self.vae}
        self._wrap_models()
        self.optimizers = {
            "vae": _make_optimizer(config, self.vae.parameters(), config.lr_generator)
        }

    def _wrap_models(self) -> None:
        """The callables of the training forward passes, by model name.

        ``synced[name]`` averages its gradients over processes (DDP) and is used where a loss
        trains that network; ``local[name]`` is the bare network, for forward passes that must
        not start a gradient exchange (the critic seen by the generator's loss, fakes made for
        the critic). Both run under bf16 autocast with ``precision="bf16"``. `models` keeps the
        bare networks: checkpoints, EMA and sampling never see a wrapper.
        """
        wrap = (
            (lambda m: AutocastForward(m, device_type=self.device.type))
            if self.config.precision == "bf16"
            else (lambda m: m)
        )
        self.synced = {
            name: wrap(distributed.wrap_for_training(m)) for name, m in self.models.items()
        }
        self.local = {name: wrap(m) for name, m in self.models.items()}

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
        config = resumed_config(state["config"], **changes)
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
            "models": {name: m.state_dict() for name, m in self.models.items()},
            "optimizers": {name: o.state_dict() for name, o in self.optimizers.items()},
            "ema": None if self.ema is None else self.ema.state_dict(),
            "stream": self.stream.state_dict(),
            "latent_noise": self.latent_noise.get_state(),
            "rng": rng,
            # One entry per process: each has its own random stream to restore on resume.
            "rng_per_rank": distributed.all_gather_objects(rng),
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
            state, self.run_dir, self.step, keep=self.config.keep_checkpoints
        )
        export_weights(self.run_dir, *self._shared_network())
        return path

    def _shared_network(self) -> tuple[str, nn.Module, dict[str, Any]]:
        """The network `weights/` shares (the EMA generator if any; the VAE), with metadata."""
        meta = {"model_config": self.model_config.to_dict(), "step": self.step}
        if self.config.kind == "vae":
            return "vae", self.vae, meta
        meta["ema"] = self.ema is not None
        return "generator", self.ema.model if self.ema is not None else self.generator, meta

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
        z = torch.randn(self.config.batch_size, self.config.latent_dim, generator=self.latent_noise)
        return distributed.shard_rows(z).to(self.device)

    def _gan_step(self, log: bool) -> dict[str, float]:
        config, generator, critic = self.config, self.generator, self.critic
        critic.requires_grad_(True)
        for _ in range(config.n_critic):
            real = self.stream.next()
            with torch.no_grad():
                fake = self.local["generator"](self._latent())
            # The synced critic: DDP averages the gradients of the loss *and* of the gradient
            # penalty (autograd.grad(create_graph=True) only differentiates the inputs; the
            # parameter gradients arrive in the one backward pass that DDP hooks into).
            update = critic_step(
                self.synced["critic"],
                self.optimizers["critic"],
                self.objective,
                self.lipschitz,
                real,
                fake,
            )
            # Checked after the update: a non-finite loss stops the run before the weights it
            # spoiled can reach a checkpoint (save_checkpoint also refuses non-finite weights).
            # The mean over processes, so that all stop together.
            loss_critic = distributed.mean(update.loss)
            self._check_finite("the critic loss", loss_critic)
        values = {}
        if log:
            values = {
                "loss_critic": loss_critic.item(),
                "wasserstein_estimate": distributed.mean(
                    wasserstein_estimate(update.real_scores, update.fake_scores)
                ).item(),
                "grad_norm_critic": _grad_norm(critic),
            }
            if update.penalty is not None:
                values["penalty"] = distributed.mean(update.penalty).item()
        # The critic's weights get no gradient from the generator's loss; the bare critic, as
        # the DDP one would wait for critic gradients that never come.
        critic.requires_grad_(False)
        fake_scores = self.local["critic"](self.synced["generator"](self._latent()))
        loss_generator = self.objective.generator_loss(fake_scores)
        mean_loss_generator = distributed.mean(loss_generator)
        self._check_finite("the generator loss", mean_loss_generator)
        self.optimizers["generator"].zero_grad(set_to_none=True)
        loss_generator.backward()
        self.optimizers["generator"].step()
        if self.ema is not None:
            self.ema.update(generator)
        if log:
            values["loss_generator"] = mean_loss_generator.item()
            values["grad_norm_generator"] = _grad_norm(generator)
        return values

    def _vae_step(self, log: bool) -> dict[str, float]:
        x = self.stream.next()
        params, mu, log_var = self.synced["vae"](x)
        terms = self.elbo(params, x, mu, log_var)
        self._check_finite("the negative ELBO", distributed.mean(terms["loss"]))
        self.optimizers["vae"].zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.optimizers["vae"].step()
        if not log:
            return {}
        values = {name: distributed.mean(value).item() for name, value in terms.items()}
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
    def _below_ceiling(self) -> bool:
        return self.config.steps is None or self.step < self.config.steps

    def _out_of_time(self) -> bool:
        if self.config.minutes is None:
            return False
        # Clocks differ between processes; all stop as soon as one is out of time.
        return distributed.any_true(self.elapsed >= 60.0 * self.config.minutes)

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
                while self._below_ceiling() and not self._out_of_time():
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
        if self.step % config.checkpoint_every == 0 and self._below_ceiling():
            self.save_checkpoint()
        logger.advance()
        return evaluating

    def _time_slot(self) -> int:
        """How many whole ``eval_every_seconds`` periods of training time have passed."""
        period = self.config.eval_every_seconds
        # The clock furthest ahead over all processes, so that all evaluate at the same step.
        return int(distributed.maximum(self.elapsed) // period) if period else 0

    def _evaluation_due(self, last: bool) -> bool:
        steps = self.config.eval_every
        slot = self._time_slot()
        due = last or (steps and self.step % steps == 0) or slot > self._eval_slot
        self._eval_slot = slot
        return bool(due)


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

"""Training tasks: what one training step of a kind of model is, and everything it owns.

A task owns its networks, their optimisers, one *step* (n_critic critic updates and one generator
update for a GAN; one ELBO update for the VAE), the sampler z ↦ samples and the network exported
as shareable weights. `genlab.training.trainer.Trainer` drives any task the same way: it owns the
loop, the schedule, the run state and the checkpoints, and asks the task for the rest.

The interface a task offers the trainer (`TrainingTask`):

- ``models`` and ``optimizers``: dicts by name, saved in and restored from every checkpoint;
- ``step(log)``: one training step, returning the values to log (empty unless ``log``);
- ``scale_learning_rates(scale)``: every optimiser's learning rate set to ``scale`` × its own;
- ``sampler()``: a context manager yielding z ↦ samples, the networks in eval mode inside it;
- ``exported()``: the name, network and metadata written to ``weights/``;
- ``state_dict()`` / ``load_state_dict(state)``: the task's part of a checkpoint.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from genlab import distributed
from genlab.models.registry import ModelConfig, build_critic, build_generator, build_vae
from genlab.objectives.adversarial import make_adversarial_objective, wasserstein_estimate
from genlab.objectives.elbo import ELBO
from genlab.objectives.lipschitz import make_lipschitz_method
from genlab.objectives.step import critic_step
from genlab.training.config import OptimiserConfig, TrainConfig
from genlab.training.ema import GeneratorEMA

Sampler = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class StepInputs:
    """What a task's step draws from the trainer.

    ``data()`` is this process's next real batch, ``latent()`` its rows of the next global batch
    of latent noise, and ``check_finite(name, value)`` stops the run (naming the step and the
    last good checkpoint) when a loss, already averaged over processes, is not finite.
    """

    data: Callable[[], torch.Tensor]
    latent: Callable[[], torch.Tensor]
    check_finite: Callable[[str, torch.Tensor], None]


class TrainingTask(Protocol):
    """The part of training that depends on the kind of model (see the module docstring)."""

    models: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]

    def step(self, log: bool) -> dict[str, float]: ...

    def scale_learning_rates(self, scale: float) -> None: ...

    def sampler(self) -> contextlib.AbstractContextManager[Sampler]: ...

    def exported(self) -> tuple[str, nn.Module, dict[str, Any]]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


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


def wrap_for_training(
    models: dict[str, nn.Module], *, precision: str, device: torch.device
) -> tuple[dict[str, nn.Module], dict[str, nn.Module]]:
    """The callables of the training forward passes, by model name: ``(synced, local)``.

    ``synced[name]`` averages its gradients over processes (DDP) and is used where a loss
    trains that network; ``local[name]`` is the bare network, for forward passes that must
    not start a gradient exchange (the critic seen by the generator's loss, fakes made for
    the critic). Both run under bf16 autocast with ``precision="bf16"``. ``models`` keeps the
    bare networks: checkpoints, EMA and sampling never see a wrapper.
    """
    wrap = (
        (lambda m: AutocastForward(m, device_type=device.type))
        if precision == "bf16"
        else (lambda m: m)
    )
    synced = {name: wrap(distributed.wrap_for_training(m)) for name, m in models.items()}
    local = {name: wrap(m) for name, m in models.items()}
    return synced, local


def make_optimizer(config: OptimiserConfig, params, lr: float) -> torch.optim.Optimizer:
    """RMSProp or Adam at ``lr``, which each group keeps as ``initial_lr`` (saved with the
    optimiser's state) for a schedule to scale."""
    if config.name == "rmsprop":
        optimizer: torch.optim.Optimizer = torch.optim.RMSprop(params, lr=lr)
    else:
        optimizer = torch.optim.Adam(params, lr=lr, betas=config.betas)
    for group in optimizer.param_groups:
        group["initial_lr"] = lr
    return optimizer


def grad_norm(module: nn.Module) -> float:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))


@contextlib.contextmanager
def _eval_mode(model: nn.Module, sample: Sampler) -> Iterator[Sampler]:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield sample
    finally:
        model.train(was_training)


class _TaskState:
    """Checkpoint state shared by the tasks: networks, optimisers and the EMA (None if none).

    Every checkpoint has ``"ema"`` and ``"ema_updates"`` keys, None when the task keeps no EMA, so
    checkpoints of every kind share one set of keys.
    """

    models: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    ema: GeneratorEMA | None = None

    def scale_learning_rates(self, scale: float) -> None:
        """Each optimiser's learning rate set to ``scale`` × the one it was built with."""
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"] * scale

    def state_dict(self) -> dict[str, Any]:
        return {
            "models": {name: m.state_dict() for name, m in self.models.items()},
            "optimizers": {name: o.state_dict() for name, o in self.optimizers.items()},
            "ema": None if self.ema is None else self.ema.state_dict(),
            "ema_updates": None if self.ema is None else self.ema.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, module in self.models.items():
            module.load_state_dict(state["models"][name])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"], updates=state.get("ema_updates"))


class GANTask(_TaskState):
    """A generator and a critic trained by an adversarial objective and a Lipschitz method,
    with an optional EMA of the generator's weights."""

    def __init__(
        self,
        config: TrainConfig,
        model_config: ModelConfig,
        *,
        device: torch.device,
        inputs: StepInputs,
    ) -> None:
        objective, optimiser = config.objective, config.optimiser
        self.n_critic, self.inputs = objective.n_critic, inputs
        self.gp_every, self.critic_updates = objective.gp_every, 0
        self.objective = make_adversarial_objective(objective.loss)
        self.lipschitz = make_lipschitz_method(
            objective.lipschitz, clip=objective.clip, gp_weight=objective.gp_weight
        )
        self.generator = build_generator(model_config).to(device)
        self.critic = self.lipschitz.prepare(build_critic(model_config)).to(device)
        self.models: dict[str, nn.Module] = {"generator": self.generator, "critic": self.critic}
        self.synced, self.local = wrap_for_training(
            self.models, precision=config.precision, device=device
        )
        self.optimizers = {
            "generator": make_optimizer(
                optimiser, self.generator.parameters(), optimiser.lr_generator
            ),
            "critic": make_optimizer(optimiser, self.critic.parameters(), optimiser.lr_critic),
        }
        if optimiser.ema > 0:
            self.ema = GeneratorEMA(self.generator, decay=optimiser.ema)

    def step(self, log: bool) -> dict[str, float]:
        """``n_critic`` critic updates, then one generator update (and the EMA's)."""
        generator, critic, inputs = self.generator, self.critic, self.inputs
        critic.requires_grad_(True)
        for _ in range(self.n_critic):
            real = inputs.data()
            with torch.no_grad():
                fake = self.local["generator"](inputs.latent())
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
                penalty_scale=self._penalty_scale(),
            )
            self.critic_updates += 1
            # Checked after the update: a non-finite loss stops the run before the weights it
            # spoiled can reach a checkpoint (save_checkpoint also refuses non-finite weights).
            # The mean over processes, so that all stop together.
            loss_critic = distributed.mean(update.loss)
            inputs.check_finite("the critic loss", loss_critic)
        values = {}
        if log:
            values = {
                "loss_critic": loss_critic.item(),
                "wasserstein_estimate": distributed.mean(
                    wasserstein_estimate(update.real_scores, update.fake_scores)
                ).item(),
                "grad_norm_critic": grad_norm(critic),
            }
            if update.penalty is not None:
                values["penalty"] = distributed.mean(update.penalty).item()
        # The critic's weights get no gradient from the generator's loss; the bare critic, as
        # the DDP one would wait for critic gradients that never come.
        critic.requires_grad_(False)
        fake_scores = self.local["critic"](self.synced["generator"](inputs.latent()))
        loss_generator = self.objective.generator_loss(fake_scores)
        mean_loss_generator = distributed.mean(loss_generator)
        inputs.check_finite("the generator loss", mean_loss_generator)
        self.optimizers["generator"].zero_grad(set_to_none=True)
        loss_generator.backward()
        self.optimizers["generator"].step()
        if self.ema is not None:
            self.ema.update(generator)
        if log:
            values["loss_generator"] = mean_loss_generator.item()
            values["grad_norm_generator"] = grad_norm(generator)
        return values

    def _penalty_scale(self) -> float:
        """k on every k-th critic update and 0 on the others (k = ``gp_every``; 1: always 1)."""
        return float(self.gp_every) if self.critic_updates % self.gp_every == 0 else 0.0

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "critic_updates": self.critic_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.critic_updates = state.get("critic_updates", 0)  # absent before lazy penalties

    @property
    def sampling_network(self) -> nn.Module:
        """The EMA generator if there is one, else the generator."""
        return self.ema.model if self.ema is not None else self.generator

    def sampler(self) -> contextlib.AbstractContextManager[Sampler]:
        model = self.sampling_network
        return _eval_mode(model, model)

    def exported(self) -> tuple[str, nn.Module, dict[str, Any]]:
        return "generator", self.sampling_network, {"ema": self.ema is not None}


class VAETask(_TaskState):
    """A variational autoencoder trained on the negative ELBO."""

    def __init__(
        self,
        config: TrainConfig,
        model_config: ModelConfig,
        *,
        device: torch.device,
        inputs: StepInputs,
    ) -> None:
        self.inputs = inputs
        objective, optimiser = config.objective, config.optimiser
        self.elbo = ELBO(
            likelihood=model_config.likelihood, beta=objective.beta, sigma=objective.sigma
        )
        self.vae = build_vae(model_config).to(device)
        self.models: dict[str, nn.Module] = {"vae": self.vae}
        self.synced, self.local = wrap_for_training(
            self.models, precision=config.precision, device=device
        )
        self.optimizers = {
            "vae": make_optimizer(optimiser, self.vae.parameters(), optimiser.lr_generator)
        }

    def step(self, log: bool) -> dict[str, float]:
        """One update of encoder and decoder on the negative ELBO of a batch."""
        x = self.inputs.data()
        params, mu, log_var = self.synced["vae"](x)
        terms = self.elbo(params, x, mu, log_var)
        self.inputs.check_finite("the negative ELBO", distributed.mean(terms["loss"]))
        self.optimizers["vae"].zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.optimizers["vae"].step()
        if not log:
            return {}
        values = {name: distributed.mean(value).item() for name, value in terms.items()}
        values["grad_norm"] = grad_norm(self.vae)
        return values

    def sampler(self) -> contextlib.AbstractContextManager[Sampler]:
        """z ↦ the decoder's samples."""
        return _eval_mode(self.vae, self.vae.generate)

    def exported(self) -> tuple[str, nn.Module, dict[str, Any]]:
        return "vae", self.vae, {}


#: The task of each model kind (`TrainConfig`'s ``kind``).
TASKS: dict[str, type[GANTask] | type[VAETask]] = {"gan": GANTask, "vae": VAETask}


def make_task(
    config: TrainConfig, model_config: ModelConfig, *, device: torch.device, inputs: StepInputs
) -> TrainingTask:
    """The task of ``config.kind``, its networks built on ``device``."""
    return TASKS[config.kind](config, model_config, device=device, inputs=inputs)

"""Training options as one dataclass, and the papers' presets.

A preset is a named set of overrides on `TrainConfig`; command-line options override the preset,
and the resolved config is written to the run folder as JSON before the first step.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from genlab.errors import GenlabError

KINDS = ("gan", "vae")
OPTIMIZERS = ("adam", "rmsprop")
#: Numeric precision of the training forward passes: float32, or bfloat16 autocast.
PRECISIONS = ("fp32", "bf16")


@dataclass
class TrainConfig:
    """Every option of a training run. ``steps`` counts generator (or VAE) updates."""

    preset: str = "wgan-gp"
    kind: str = "gan"
    data: str = "digits"
    data_dir: str | None = None
    limit: int | None = None
    steps: int | None = 1000  # None: no step ceiling, only with a --minutes budget
    minutes: float | None = None  # wall-clock budget: stop early once this much time has passed
    batch_size: int = 64
    seed: int = 0
    deterministic: bool = False
    device: str = "cpu"
    precision: str = "fp32"  # bf16: forward passes under bfloat16 autocast; weights stay fp32
    # networks
    arch: str | None = None  # None: mlp for points and 8×8 images, dcgan otherwise
    latent_dim: int = 128
    width: int = 64
    critic_norm: str = "none"
    hidden: tuple[int, ...] = (256, 256, 256)
    # adversarial objective and Lipschitz method
    objective: str = "wasserstein"
    lipschitz: str = "gp"
    clip: float = 0.01
    gp_weight: float = 10.0
    n_critic: int = 5
    # optimisation
    optimizer: str = "adam"
    lr_generator: float = 1e-4
    lr_critic: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)
    ema: float = 0.0  # generator EMA decay; 0 disables
    # VAE
    likelihood: str = "gaussian"
    beta: float = 1.0
    sigma: float = 0.1
    # run folder
    out: str | None = None
    sample_every: int = 200
    checkpoint_every: int = 500
    log_every: int = 10
    keep_checkpoints: int = 3
    # evaluation during training (genlab.training.periodic_eval); 0 disables
    eval_every: int = 0  # steps between evaluations
    eval_every_seconds: float = 0.0  # or seconds of training time between them
    eval_n: int = 2000
    eval_metrics: str = "fid"
    eval_features: str | None = None  # None: classifier-mnist for MNIST, else inception
    eval_reference: str | None = None  # None: the data set's test split
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        self.hidden = tuple(self.hidden)
        self.betas = tuple(self.betas)  # type: ignore[assignment]
        if self.kind not in KINDS:
            raise GenlabError(f"unknown model kind {self.kind!r}; choose one of {KINDS}")
        if self.optimizer not in OPTIMIZERS:
            raise GenlabError(f"unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}")
        if self.precision not in PRECISIONS:
            raise GenlabError(f"unknown precision {self.precision!r}; choose one of {PRECISIONS}")
        self._check_ranges()
        if self.eval_every_seconds < 0:
            raise GenlabError(
                f"--eval-every takes a positive time, got {self.eval_every_seconds} s"
            )
        if self.eval_every < 0:
            raise GenlabError(
                f"--eval-every must be 0 (off) or a number of steps, got {self.eval_every}"
            )
        if self.eval_n < 2:
            raise GenlabError(f"--eval-n must be at least 2 samples, got {self.eval_n}")
        if not 0.0 <= self.ema < 1.0:
            raise GenlabError(f"--ema is a decay in [0, 1), got {self.ema}")

    def _check_ranges(self) -> None:
        """Each number in its range, the error quoting the command-line flag that sets it."""
        if self.steps is None and self.minutes is None:
            raise GenlabError("--steps may be left open only with a --minutes budget")
        at_least_one = (
            "steps",
            "batch_size",
            "n_critic",
            "sample_every",
            "checkpoint_every",
            "log_every",
            "keep_checkpoints",
            "width",
            "latent_dim",
            "limit",
        )
        for name in at_least_one:
            value = getattr(self, name)
            if value is not None and value < 1:
                raise GenlabError(f"{_flag(name)} must be at least 1, got {value}")
        if any(units < 1 for units in self.hidden):
            raise GenlabError(f"hidden layer sizes must be at least 1, got {self.hidden}")
        positive = ("minutes", "lr_generator", "lr_critic", "clip", "sigma")
        for name in positive:
            value = getattr(self, name)
            if value is not None and not value > 0:  # `not >` also refuses NaN
                raise GenlabError(f"{_flag(name)} must be positive, got {value}")
        for name in ("gp_weight", "beta"):
            if not getattr(self, name) >= 0:
                raise GenlabError(f"{_flag(name)} must be 0 or more, got {getattr(self, name)}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise GenlabError(f"Adam's betas are two numbers in [0, 1), got {self.betas}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise GenlabError(f"unknown training options {unknown}; known: {sorted(known)}")
        return cls(**values)


#: Options whose command-line flag is not the field's name with dashes.
_FLAGS = {
    "lr_generator": "--lr",
    "lr_critic": "--lr",
    "eval_every_seconds": "--eval-every",
    "progress": "--no-progress",
    "tensorboard": "--no-tensorboard",
    "sigma": "the VAE's sigma",
}


def _flag(name: str) -> str:
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


@dataclass(frozen=True)
class Preset:
    """A paper's settings: a description and overrides of `TrainConfig` defaults."""

    description: str
    overrides: dict[str, Any] = field(default_factory=dict)


# Adam at 2e-4 with β₁ = 0.5: the DCGAN paper's optimiser, kept by the GAN and SN-GAN presets.
_ADAM_2E4 = dict(
    n_critic=1, optimizer="adam", lr_generator=2e-4, lr_critic=2e-4, betas=(0.5, 0.999)
)

PRESETS: dict[str, Preset] = {
    "wgan": Preset(
        "WGAN with weight clipping (Arjovsky et al. 2017): RMSProp 5e-5, c = 0.01, n_critic = 5, "
        "batch 64; the lecture's c = 0.001 is --clip 0.001",
        dict(
            objective="wasserstein",
            lipschitz="clip",
            clip=0.01,
            n_critic=5,
            optimizer="rmsprop",
            lr_generator=5e-5,
            lr_critic=5e-5,
            batch_size=64,
            critic_norm="batch",
        ),
    ),
    "wgan-gp": Preset(
        "WGAN-GP (Gulrajani et al. 2017): Adam 1e-4, betas (0.5, 0.9), n_critic = 5, λ = 10, "
        "no batch norm in the critic",
        dict(
            objective="wasserstein",
            lipschitz="gp",
            gp_weight=10.0,
            n_critic=5,
            optimizer="adam",
            lr_generator=1e-4,
            lr_critic=1e-4,
            betas=(0.5, 0.9),
            critic_norm="layer",
        ),
    ),
    "dcgan": Preset(
        "DCGAN (Radford et al. 2016): non-saturating loss, Adam 2e-4, beta1 0.5, batch norm",
        dict(objective="non-saturating", lipschitz="none", critic_norm="batch", **_ADAM_2E4),
    ),
    "gan": Preset(
        "The original minimax GAN (Goodfellow et al. 2014) on DCGAN networks: the saturating "
        "generator loss log(1 - D(G(z))), Adam 2e-4, beta1 0.5",
        dict(objective="minimax", lipschitz="none", critic_norm="batch", **_ADAM_2E4),
    ),
    "sngan": Preset(
        "SN-GAN (Miyato et al. 2018): hinge loss, spectral normalisation, Adam 2e-4, "
        "betas (0.5, 0.999), n_critic = 1",
        dict(objective="hinge", lipschitz="sn", critic_norm="none", **_ADAM_2E4),
    ),
    "vae": Preset(
        "VAE (Kingma & Welling 2014): ELBO with a Gaussian likelihood (||in - out||₂), Adam 1e-3",
        dict(kind="vae", optimizer="adam", lr_generator=1e-3, betas=(0.9, 0.999), latent_dim=32),
    ),
}


#: Options a resumed run may change: how long it goes on, where it runs, what it shows and
#: writes. Every other option defines the run itself, so changing it would continue some other
#: run from this one's weights.
RESUMABLE = (
    "steps",
    "minutes",
    "eval_every",
    "eval_every_seconds",
    "eval_n",
    "eval_metrics",
    "eval_features",
    "eval_reference",
    "sample_every",
    "checkpoint_every",
    "log_every",
    "progress",
    "tensorboard",
    "device",
    "data_dir",
)


def resumed_config(saved: dict[str, Any], **changes: Any) -> TrainConfig:
    """The config of a run continued from a checkpoint, with the ``changes`` (those not None).

    A change outside `RESUMABLE` is refused, naming the flags. A new ``minutes`` budget without
    ``steps`` lifts the step ceiling, as it does for a new run.
    """
    changes = {key: value for key, value in changes.items() if value is not None}
    refused = sorted({_flag(key) for key in changes if key not in RESUMABLE})
    if refused:
        allowed = ", ".join(sorted({_flag(key) for key in RESUMABLE}))
        raise GenlabError(
            f"{', '.join(refused)} cannot change when a run is resumed (they define the run); "
            f"start a new run with them instead; a resume may change {allowed}"
        )
    if "minutes" in changes and "steps" not in changes:
        changes["steps"] = None
    return TrainConfig.from_dict({**saved, **changes})


def resolve_config(preset: str, **options: Any) -> TrainConfig:
    """The preset's settings with ``options`` (those not None) on top."""
    if preset not in PRESETS:
        known = ", ".join(sorted(PRESETS))
        raise GenlabError(f"unknown preset {preset!r}; choose one of: {known}")
    values = {"preset": preset, **PRESETS[preset].overrides}
    values.update({key: value for key, value in options.items() if value is not None})
    if values.get("minutes") is not None and options.get("steps") is None:
        values["steps"] = None  # a time budget alone: no step ceiling
    return TrainConfig.from_dict(values)

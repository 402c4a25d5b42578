"""Training options as nested dataclasses, and the papers' presets.

`TrainConfig` holds the run's own options (data, batch, seed, device, output) and one section per
concern, each a dataclass that rejects unknown keys:

- ``model``: the networks, a `genlab.models.registry.ModelConfig` whose ``data_shape`` (and, if
  left open, ``arch``) are fixed once the data is known (`ModelConfig.for_data`);
- ``objective``: the loss and, for critics, the Lipschitz method (and the VAE's β and σ);
- ``optimiser``: optimiser, learning rates, betas, generator EMA;
- ``schedule``: how long to train and how often to log, sample and checkpoint;
- ``evaluation``: periodic evaluation during training.

The command line, the presets and `resolve_config` speak the *flat* option names (``lr_generator``,
``n_critic``, ``eval_every``): `TrainConfig.from_flat` and `TrainConfig.to_flat` translate, and
`flat_config` reads any saved ``config.json`` (nested, or flat as genlab 0.1.0 wrote it) as flat
names. A preset is a named set of flat overrides; command-line options override the preset, and
the resolved config is written to the run folder as JSON before the first step.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from genlab.errors import GenlabError
from genlab.models.registry import ModelConfig
from genlab.options import check_field_types

KINDS = ("gan", "vae")
OPTIMIZERS = ("adam", "rmsprop")
#: Learning-rate schedules: constant, or decayed linearly to 0 over the run's budget.
LR_DECAYS = ("none", "linear")
#: Numeric precision of the training forward passes: float32, or bfloat16 autocast.
PRECISIONS = ("fp32", "bf16")
#: A choice `resolve_config` turns into one of PRECISIONS for this machine (`native_precision`).
AUTO_PRECISION = "auto"


def native_precision(device: str) -> str:
    """``bf16`` on a CPU with native bfloat16 arithmetic (AVX512-BF16 or AMX), ``fp32`` elsewhere.

    Where the CPU has bf16 instructions, autocast runs the convolutions of the DCGAN networks
    about 1.5× faster (docs/results.md); elsewhere bf16 is emulated and slower than float32. On
    CUDA float32 stays the reference.
    """
    import torch

    if torch.device(device).type != "cpu" or not torch.backends.mkldnn.is_available():
        return "fp32"
    return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"


# The type and range checks of the sections: each error quotes the command-line flag that sets
# the value.
def _check_types(values: Any) -> None:
    section = next((name for name, kind in SECTIONS.items() if isinstance(values, kind)), None)
    check_field_types(
        values, lambda name: _flag(name if section is None else _flat_name(section, name))
    )


def _at_least_one(values: Any, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(values, name)
        if value is not None and value < 1:
            raise GenlabError(f"{_flag(name)} must be at least 1, got {value}")


def _positive(values: Any, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(values, name)
        if value is not None and not value > 0:  # `not >` also refuses NaN
            raise GenlabError(f"{_flag(name)} must be positive, got {value}")


@dataclass
class ObjectiveConfig:
    """The loss: an adversarial objective with a Lipschitz method, or the VAE's ELBO."""

    loss: str = "wasserstein"  # the adversarial objective (--objective)
    lipschitz: str = "gp"
    clip: float = 0.01
    gp_weight: float = 10.0
    # Lazy regularisation (StyleGAN2's for R1): the penalty on every k-th critic update only,
    # weighted by k so its expected gradient is unchanged; 1 is the paper's every update.
    gp_every: int = 1
    n_critic: int = 5  # critic updates per generator update
    beta: float = 1.0  # the VAE's KL weight
    sigma: float = 0.1  # the VAE's Gaussian likelihood scale

    def __post_init__(self) -> None:
        _check_types(self)
        _at_least_one(self, ("n_critic", "gp_every"))
        _positive(self, ("clip", "sigma"))
        for name in ("gp_weight", "beta"):
            if not getattr(self, name) >= 0:
                raise GenlabError(f"{_flag(name)} must be 0 or more, got {getattr(self, name)}")


@dataclass
class OptimiserConfig:
    """The optimiser of both networks and the generator's weight average."""

    name: str = "adam"  # adam or rmsprop
    lr_generator: float = 1e-4
    lr_critic: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)
    ema: float = 0.0  # generator EMA decay; 0 disables
    # "linear": lr · (1 - p) at progress p through the budget (steps or minutes), as the
    # WGAN-GP authors' CIFAR-10 code decays it; "none": constant.
    lr_decay: str = "none"

    def __post_init__(self) -> None:
        _check_types(self)
        self.betas = tuple(self.betas)  # type: ignore[assignment]
        if self.name not in OPTIMIZERS:
            raise GenlabError(f"unknown optimizer {self.name!r}; choose one of {OPTIMIZERS}")
        if self.lr_decay not in LR_DECAYS:
            raise GenlabError(f"unknown --lr-decay {self.lr_decay!r}; choose one of {LR_DECAYS}")
        _positive(self, ("lr_generator", "lr_critic"))
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise GenlabError(f"Adam's betas are two numbers in [0, 1), got {self.betas}")
        if not 0.0 <= self.ema < 1.0:
            raise GenlabError(f"--ema is a decay in [0, 1), got {self.ema}")


@dataclass
class ScheduleConfig:
    """How long to train (``steps`` counts generator or VAE updates) and what to do on the way."""

    steps: int | None = 1000  # None: no step ceiling, only with a --minutes budget
    minutes: float | None = None  # wall-clock budget: stop early once this much time has passed
    sample_every: int = 200
    checkpoint_every: int = 500
    log_every: int = 10
    keep_checkpoints: int = 3

    def __post_init__(self) -> None:
        _check_types(self)
        if self.steps is None and self.minutes is None:
            raise GenlabError("--steps may be left open only with a --minutes budget")
        _at_least_one(
            self, ("steps", "sample_every", "checkpoint_every", "log_every", "keep_checkpoints")
        )
        _positive(self, ("minutes",))


@dataclass
class EvaluationConfig:
    """Evaluation during training (`genlab.training.periodic_eval`); ``every`` 0 and
    ``every_seconds`` 0 disable it."""

    every: int = 0  # steps between evaluations
    every_seconds: float = 0.0  # or seconds of training time between them
    n: int = 2000
    metrics: str = "fid"
    features: str | None = None  # None: classifier-mnist/-digits for those data, else inception
    reference: str | None = None  # None: the data set's test split
    # The verdict after the last step (genlab.training.verdict); None: on for digits and MNIST.
    final: bool | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.every or self.every_seconds)

    def __post_init__(self) -> None:
        _check_types(self)
        if self.every_seconds < 0:
            raise GenlabError(f"--eval-every takes a positive time, got {self.every_seconds} s")
        if self.every < 0:
            raise GenlabError(
                f"--eval-every must be 0 (off) or a number of steps, got {self.every}"
            )
        if self.n < 2:
            raise GenlabError(f"--eval-n must be at least 2 samples, got {self.n}")


def _default_model() -> ModelConfig:
    # No data shape yet; no arch means mlp for points and 8×8 images, dcgan otherwise.
    return ModelConfig(arch=None, data_shape=None, hidden=(256, 256, 256))


@dataclass
class TrainConfig:
    """Every option of a training run: the run's own, and one section per concern."""

    preset: str = "wgan-gp"
    kind: str = "gan"  # the training task (genlab.training.tasks.TASKS)
    data: str = "digits"
    data_dir: str | None = None
    limit: int | None = None
    batch_size: int = 64
    seed: int = 0
    deterministic: bool = False
    device: str = "cpu"
    precision: str = "fp32"  # bf16: forward passes under bfloat16 autocast; weights stay fp32
    out: str | None = None  # the run folder
    tensorboard: bool = True
    progress: bool = True
    model: ModelConfig = field(default_factory=_default_model)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optimiser: OptimiserConfig = field(default_factory=OptimiserConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)

    def __post_init__(self) -> None:
        _check_types(self)
        if self.kind not in KINDS:
            raise GenlabError(f"unknown model kind {self.kind!r}; choose one of {KINDS}")
        if self.precision not in PRECISIONS:
            raise GenlabError(f"unknown precision {self.precision!r}; choose one of {PRECISIONS}")
        _at_least_one(self, ("batch_size", "limit"))

    def to_dict(self) -> dict[str, Any]:
        """The nested form written to ``config.json`` and into checkpoints."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from `to_dict`'s nested form, or from the flat form of genlab 0.1.0."""
        if not isinstance(values.get("model"), dict):
            return cls.from_flat(values)
        _refuse_unknown(cls, values, "training options")
        defaults = cls()  # a section's missing keys take the training defaults
        sections = {
            name: _section(getattr(defaults, name), values.get(name, {}), name) for name in SECTIONS
        }
        return cls(**{**values, **sections})

    def to_flat(self) -> dict[str, Any]:
        """The options by their flat (command-line) names."""
        return flat_config(self.to_dict())

    @classmethod
    def from_flat(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from options by their flat (command-line) names; unknown names are refused."""
        paths = flat_paths()
        unknown = sorted(set(values) - set(paths))
        if unknown:
            raise GenlabError(f"unknown training options {unknown}; known: {sorted(paths)}")
        nested: dict[str, Any] = {name: {} for name in SECTIONS}
        for flat, value in values.items():
            section, name = paths[flat]
            if section is None:
                nested[name] = value
            else:
                nested[section][name] = value
        return cls.from_dict(nested)


#: The sections of `TrainConfig`, by field name.
SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "objective": ObjectiveConfig,
    "optimiser": OptimiserConfig,
    "schedule": ScheduleConfig,
    "evaluation": EvaluationConfig,
}
#: Section fields whose flat name is not their own: (section, field) → flat name. The fields of
#: the evaluation section take an ``eval_`` prefix.
_RENAMED = {("objective", "loss"): "objective", ("optimiser", "name"): "optimizer"}
#: Fields of a section that no option sets: the model's data shape comes from the data.
_NOT_OPTIONS = {("model", "data_shape")}


def _flat_name(section: str, name: str) -> str:
    """The flat name of field ``name`` of ``section``."""
    if (section, name) in _RENAMED:
        return _RENAMED[section, name]
    return f"eval_{name}" if section == "evaluation" else name


def flat_paths() -> dict[str, tuple[str | None, str]]:
    """Every flat option name → (its section, or None for the run's own options; its field)."""
    paths: dict[str, tuple[str | None, str]] = {
        f.name: (None, f.name) for f in dataclasses.fields(TrainConfig) if f.name not in SECTIONS
    }
    for section, kind in SECTIONS.items():
        for f in dataclasses.fields(kind):
            if (section, f.name) not in _NOT_OPTIONS:
                paths[_flat_name(section, f.name)] = (section, f.name)
    return paths


def flat_config(values: dict[str, Any]) -> dict[str, Any]:
    """A saved config (``config.json``, a checkpoint's ``"config"``) by flat option names.

    Reads both the nested form and the flat one of genlab 0.1.0, without checking the values:
    readers of run folders (the report, the critic inspector) go through this one accessor.
    """
    if not isinstance(values.get("model"), dict):
        return dict(values)
    flat = {}
    for name, (section, field_name) in flat_paths().items():
        source = values if section is None else values.get(section, {})
        if field_name in source:
            flat[name] = source[field_name]
    return flat


def _refuse_unknown(kind: type, values: dict[str, Any], what: str) -> None:
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise GenlabError(f"unknown {what} {unknown}; known: {sorted(known)}")


def _section(default: Any, values: Any, name: str) -> Any:
    """Section ``name`` from ``values`` (a dict, or the section itself), missing keys taken
    from ``default``; unknown keys are refused."""
    if isinstance(values, type(default)):
        return values
    if not isinstance(values, dict):
        raise GenlabError(f"the {name} options must be a JSON object, got {values!r}")
    _refuse_unknown(type(default), values, f"{name} options")
    return dataclasses.replace(default, **values)


#: Options whose command-line flag is not the field's name with dashes.
_FLAGS = {
    "lr_generator": "--lr",
    "lr_critic": "--lr",
    "eval_every_seconds": "--eval-every",
    "eval_final": "--final-eval",
    "progress": "--no-progress",
    "tensorboard": "--no-tensorboard",
    "sigma": "the VAE's sigma",
}


def _flag(name: str) -> str:
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


@dataclass(frozen=True)
class Preset:
    """A paper's settings: a description and overrides of `TrainConfig` defaults, by flat name.

    ``on_data`` holds further overrides for one data set (by registered name), for settings the
    paper leaves to the engineer and that were measured on that data (learning rate, EMA, steps);
    options given by the user override them too.
    """

    description: str
    overrides: dict[str, Any] = field(default_factory=dict)
    on_data: dict[str, dict[str, Any]] = field(default_factory=dict)


#: WGAN-GP on the digits (the main job): what the paper leaves open, measured (see PRESETS).
MAIN_JOB_TUNING: dict[str, Any] = dict(steps=1500, lr_generator=3e-4, lr_critic=3e-4, ema=0.99)

# On MNIST, what the papers leave to the engineer, measured for quality per CPU-minute
# (docs/results.md, "Quality per CPU-minute"): the narrower DCGAN networks (more steps a minute),
# a generator EMA whose half-life (69 steps) is short beside a run of thousands of steps, and
# bf16 autocast where the CPU computes in bf16 natively (1.5× the steps on AVX512-BF16).
_MNIST_NETWORKS = dict(width=32, ema=0.99, precision=AUTO_PRECISION)

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
        # RMSProp kept, at twice the paper's step, and batch 32: more updates a minute.
        on_data={"mnist": dict(_MNIST_NETWORKS, lr_generator=1e-4, lr_critic=1e-4, batch_size=32)},
    ),
    "wgan-gp": Preset(
        "WGAN-GP (Gulrajani et al. 2017): Adam 1e-4, betas (0.5, 0.9), n_critic = 5, λ = 10, "
        "no batch norm in the critic; on digits (the main job) lr 3e-4, EMA 0.99, 1500 steps",
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
        # The main job, `genlab train` on the 8×8 digits with MLP networks: the paper's method
        # (loss, λ, n_critic, Adam's betas) with a larger step and a generator EMA, measured in
        # the README ("The main job"): FID in classifier-digits space 30 → 17 at 1000 → 1500
        # steps, about a minute on 2 CPU cores.
        on_data={
            "digits": MAIN_JOB_TUNING,
            "mnist": dict(_MNIST_NETWORKS, lr_generator=3e-4, lr_critic=3e-4, batch_size=32),
        },
    ),
    "dcgan": Preset(
        "DCGAN (Radford et al. 2016): non-saturating loss, Adam 2e-4, beta1 0.5, batch norm",
        dict(objective="non-saturating", lipschitz="none", critic_norm="batch", **_ADAM_2E4),
        on_data={"mnist": _MNIST_NETWORKS},
    ),
    "gan": Preset(
        "The original minimax GAN (Goodfellow et al. 2014) on DCGAN networks: the saturating "
        "generator loss log(1 - D(G(z))), Adam 2e-4, beta1 0.5",
        dict(objective="minimax", lipschitz="none", critic_norm="batch", **_ADAM_2E4),
        on_data={"mnist": _MNIST_NETWORKS},
    ),
    "sngan": Preset(
        "SN-GAN (Miyato et al. 2018): hinge loss, spectral normalisation, Adam 2e-4, "
        "betas (0.5, 0.999), n_critic = 1",
        dict(objective="hinge", lipschitz="sn", critic_norm="none", **_ADAM_2E4),
        on_data={"mnist": _MNIST_NETWORKS},
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
    "eval_final",
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
    changes = _with_eval_schedule({k: v for k, v in changes.items() if v is not None})
    refused = sorted({_flag(key) for key in changes if key not in RESUMABLE})
    if refused:
        allowed = ", ".join(sorted({_flag(key) for key in RESUMABLE}))
        raise GenlabError(
            f"{', '.join(refused)} cannot change when a run is resumed (they define the run); "
            f"start a new run with them instead; a resume may change {allowed}"
        )
    if "minutes" in changes and "steps" not in changes:
        changes["steps"] = None
    return TrainConfig.from_flat({**TrainConfig.from_dict(saved).to_flat(), **changes})


def registered_data_name(data: str) -> str | None:
    """The registered data set ``data`` names (``digits`` for ``digits:train``), else None (a
    path, a 2-D toy set): the one reading of a data spec for per-data defaults."""
    from genlab.data.sources import DATASET, parse_spec
    from genlab.data.toy import is_toy

    if is_toy(data):
        return None
    spec = parse_spec(data)
    return spec.name if spec.kind == DATASET else None


_TIME_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_eval_every(text: str) -> tuple[int, float]:
    """``"500"`` → (500 steps, 0 s); ``"30s"``, ``"2m"``, ``"1h"`` → (0 steps, seconds)."""
    text = text.strip().lower()
    unit = _TIME_UNITS.get(text[-1:]) if text else None
    number = text[:-1] if unit else text
    try:
        value = float(number) if unit else int(number)
    except ValueError:
        raise GenlabError(
            f"--eval-every takes a number of steps (500) or a time (30s, 2m, 1h), got {text!r}"
        ) from None
    if value <= 0:
        raise GenlabError(f"--eval-every must be positive, got {text!r}")
    return (0, value * unit) if unit else (int(value), 0.0)


def _with_eval_schedule(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with an ``eval_every`` given as text (``"500"``, ``"2m"``) read into its
    steps and seconds, both set so that one replaces the other on a resumed run."""
    if not isinstance(options.get("eval_every"), str):
        return options
    steps, seconds = parse_eval_every(options["eval_every"])
    return {**options, "eval_every": steps, "eval_every_seconds": seconds}


def resolve_config(preset: str, **options: Any) -> TrainConfig:
    """The preset's settings with ``options`` (those not None) on top.

    ``eval_every`` may be given as on the command line: a step count or a time (``"2m"``).
    """
    options = _with_eval_schedule(options)
    if preset not in PRESETS:
        known = ", ".join(sorted(PRESETS))
        raise GenlabError(f"unknown preset {preset!r}; choose one of: {known}")
    entry = PRESETS[preset]
    values = {"preset": preset, **entry.overrides}
    data = options.get("data") or values.get("data") or TrainConfig.data
    values.update(entry.on_data.get(registered_data_name(data) or "", {}))
    values.update({key: value for key, value in options.items() if value is not None})
    if values.get("precision") == AUTO_PRECISION:  # config.json records what ran
        values["precision"] = native_precision(values.get("device") or TrainConfig.device)
    if values.get("minutes") is not None and options.get("steps") is None:
        values["steps"] = None  # a time budget alone: no step ceiling
    return TrainConfig.from_flat(values)

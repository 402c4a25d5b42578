r"""The lecture's parallel lines: why KL and JS give no signal and W_1 does.

Arjovsky, Chintala & Bottou, "Wasserstein GAN", ICML 2017, Example 1: with Z ~ U[0, 1],

    P_0 = law of (0, Z),        P_θ = law of (θ, Z).

For θ ≠ 0 the two lines are disjoint, so

    KL(P_0 ‖ P_θ) = +∞,    JS(P_0, P_θ) = log 2,    W_1(P_0, P_θ) = |θ|,

and only W_1 tells the generator which way to move θ. The experiment measures all three on
samples over a grid of θ (nothing is hard-coded: KL and JS come from histograms of the two line
samples, W_1 from exact optimal transport), estimates W_1 with a gradient-penalty critic, and
trains the one-parameter generator x = (θ, z) from θ = 1 with the minimax GAN and with WGAN-GP.
Finally it trains a discriminator towards optimality at θ = 1 and records how the minimax
generator's gradient |dL_G/dθ| vanishes, next to the WGAN generator's gradient at a trained critic.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genlab.data.toy import parallel_lines
from genlab.divergences.critic import fit_critic
from genlab.divergences.discrete import js_divergence, kl_divergence
from genlab.divergences.wasserstein import exact_wasserstein
from genlab.errors import GenlabError
from genlab.fileio import write_json
from genlab.models.mlp import MLPCritic
from genlab.objectives.adversarial import (
    AdversarialObjective,
    MinimaxGAN,
    NonSaturatingGAN,
    Wasserstein,
)
from genlab.objectives.lipschitz import GradientPenalty, LipschitzMethod
from genlab.objectives.step import critic_step
from genlab.plotting import new_figure, save_figure

JSON_NAME = "parallel_lines.json"
FIGURE_NAME = "parallel_lines.png"


@dataclass(frozen=True)
class ParallelLinesConfig:
    """Every setting of the experiment; ``quick()`` is the version the tests and ``--quick`` run."""

    seed: int = 0
    thetas: tuple[float, ...] = tuple(np.round(np.linspace(-1.0, 1.0, 41), 10).tolist())
    histogram_points: int = 2000
    histogram_bins: tuple[int, int] = (81, 10)  # x bins of width 0.025 centred on the grid, z bins
    transport_points: int = 200
    critic_thetas: tuple[float, ...] = (-1.0, -0.5, -0.25, 0.25, 0.5, 1.0)
    critic_points: int = 2000
    critic_steps: int = 400
    hidden: tuple[int, ...] = (32, 32)
    batch_size: int = 256
    critic_lr: float = 3e-3
    gp_weight: float = 10.0
    generator_steps: int = 150
    n_critic: int = 20
    theta_lr: float = 0.03
    discriminator_steps: int = 1000
    gradient_batch: int = 1024

    @classmethod
    def quick(cls, seed: int = 0) -> ParallelLinesConfig:
        return cls(
            seed=seed,
            critic_thetas=(-0.5, 1.0),
            critic_points=1000,
            critic_steps=200,
            generator_steps=80,
            discriminator_steps=300,
        )


@dataclass
class ParallelLinesResult:
    """All numbers of the experiment (``to_json`` gives the JSON form, with ∞ as "inf")."""

    config: ParallelLinesConfig
    thetas: list[float]
    kl: list[float]
    kl_infinite_bins: list[int]
    js: list[float]
    w1_exact: list[float]
    critic_thetas: list[float]
    critic_w1: list[float]
    theta_wgan: list[float]
    theta_minimax: list[float]
    discriminator_steps: list[int]
    minimax_gradient: list[float]
    non_saturating_gradient: list[float]
    wgan_gradient: list[float]
    discriminator_profile: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict[str, float]:
        """The headline numbers: how exact the distances are and how the trainings ended."""
        thetas = np.asarray(self.thetas)
        nonzero = thetas != 0
        return {
            "max_abs_js_minus_log2_theta_nonzero": float(
                np.max(np.abs(np.asarray(self.js)[nonzero] - math.log(2)))
            ),
            "max_abs_w1_minus_abs_theta": float(
                np.max(np.abs(np.asarray(self.w1_exact) - np.abs(thetas)))
            ),
            "kl_infinite_for_all_theta_nonzero": bool(
                np.all(np.isinf(np.asarray(self.kl)[nonzero]))
            ),
            "final_theta_wgan": self.theta_wgan[-1],
            "final_theta_minimax": self.theta_minimax[-1],
            "final_minimax_gradient": self.minimax_gradient[-1],
            "final_non_saturating_gradient": self.non_saturating_gradient[-1],
            "final_wgan_gradient": self.wgan_gradient[-1],
            "wgan_to_minimax_gradient_ratio": self.wgan_gradient[-1]
            / max(self.minimax_gradient[-1], 1e-300),
        }

    def to_json(self) -> dict[str, Any]:
        return _json_ready({"summary": self.summary(), **asdict(self)})


# ---------------------------------------------------------------------------- samples


def line_samples(theta: float, n: int, *, seed: int) -> np.ndarray:
    """n points (θ, z) of P_θ as float64; the same seed gives the same z for every θ."""
    generator = torch.Generator().manual_seed(seed)
    return parallel_lines(theta, n, generator=generator).double().numpy()


def line_histogram(points: np.ndarray, *, bins: tuple[int, int]) -> np.ndarray:
    """2-D histogram of points on [-1.0125, 1.0125] × [0, 1]: x bins are centred on the θ grid."""
    half_width = 1.0 / (bins[0] - 1)
    x_edges = np.linspace(-1.0 - half_width, 1.0 + half_width, bins[0] + 1)
    z_edges = np.linspace(0.0, 1.0, bins[1] + 1)
    counts, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=(x_edges, z_edges))
    if counts.sum() != len(points):
        raise GenlabError("some line points fell outside the histogram; keep |θ| ≤ 1")
    return counts.ravel()


# ---------------------------------------------------------------------------- (a) distances


def distance_curves(config: ParallelLinesConfig) -> dict[str, list[float]]:
    """KL, JS (histograms, shared z) and exact W_1 (optimal transport, shared z) over the grid."""
    base_hist = line_samples(0.0, config.histogram_points, seed=config.seed)
    base_ot = line_samples(0.0, config.transport_points, seed=config.seed + 1)
    curves: dict[str, list[float]] = {"kl": [], "kl_infinite_bins": [], "js": [], "w1": []}
    for theta in config.thetas:
        p = line_histogram(base_hist, bins=config.histogram_bins)
        q = line_histogram(
            line_samples(theta, config.histogram_points, seed=config.seed),
            bins=config.histogram_bins,
        )
        kl, support = kl_divergence(p, q, return_support=True)
        curves["kl"].append(kl)
        curves["kl_infinite_bins"].append(len(support))
        curves["js"].append(js_divergence(p, q))
        # Shared z makes the straight-across coupling optimal, so the empirical W_1 is |θ| exactly.
        shifted = line_samples(theta, config.transport_points, seed=config.seed + 1)
        curves["w1"].append(exact_wasserstein(base_ot, shifted, p=1))
    return curves


def critic_estimates(config: ParallelLinesConfig) -> list[float]:
    """The gradient-penalty critic's W_1 estimate at each of ``critic_thetas`` (independent z)."""
    estimates = []
    for index, theta in enumerate(config.critic_thetas):
        p = line_samples(0.0, config.critic_points, seed=config.seed + 10 + 2 * index)
        q = line_samples(theta, config.critic_points, seed=config.seed + 11 + 2 * index)
        fit = fit_critic(
            p,
            q,
            method=GradientPenalty(weight=config.gp_weight),
            steps=config.critic_steps,
            lr=config.critic_lr,
            hidden=config.hidden,
            seed=config.seed + index,
            batch_size=config.batch_size,
        )
        estimates.append(fit.estimate)
    return estimates


# ---------------------------------------------------------------------------- (b) training θ


class LineGenerator(nn.Module):
    """The one-parameter generator z ↦ (θ, z)."""

    def __init__(self, theta: float) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(float(theta)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.theta.expand_as(z), z], dim=1)


def _critic_step(
    critic: nn.Module,
    optimiser: torch.optim.Optimizer,
    objective: AdversarialObjective,
    method: LipschitzMethod,
    generator: LineGenerator,
    batch_size: int,
) -> None:
    real = torch.stack([torch.zeros(batch_size), torch.rand(batch_size)], dim=1)
    with torch.no_grad():
        fake = generator(torch.rand(batch_size))
    critic_step(critic, optimiser, objective, method, real, fake)


def train_theta(
    objective: AdversarialObjective,
    method: LipschitzMethod,
    config: ParallelLinesConfig,
) -> list[float]:
    r"""Train x = (θ, z) from θ = 1 against a fresh critic; θ after every generator step.

    Each generator step follows ``n_critic`` Adam steps on the critic (β = (0.5, 0.9)) and is a
    plain gradient step on θ — SGD, not Adam, so the step is proportional to the gradient and a
    vanishing gradient shows as a θ that stops moving (Adam would rescale a tiny gradient to a
    full-size step). The step size decays from ``theta_lr`` to 0 on a cosine: with a critic that
    lags behind θ, GAN iterates circle the equilibrium instead of settling (θ overshoots 0 while
    the critic's slope still points the old way), and the decay damps that orbit.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        critic = method.prepare(MLPCritic((2,), hidden=config.hidden))
        generator = LineGenerator(1.0)
        critic_optimiser = torch.optim.Adam(
            critic.parameters(), lr=config.critic_lr, betas=(0.5, 0.9)
        )
        theta_optimiser = torch.optim.SGD(generator.parameters(), lr=config.theta_lr)
        total = config.generator_steps
        schedule = torch.optim.lr_scheduler.LambdaLR(
            theta_optimiser, lambda step: 0.5 * (1.0 + math.cos(math.pi * step / total))
        )
        trajectory = [generator.theta.item()]
        for _ in range(total):
            for _ in range(config.n_critic):
                _critic_step(
                    critic, critic_optimiser, objective, method, generator, config.batch_size
                )
            loss = objective.generator_loss(critic(generator(torch.rand(config.batch_size))))
            theta_optimiser.zero_grad(set_to_none=True)
            critic.zero_grad(set_to_none=True)
            loss.backward()
            theta_optimiser.step()
            schedule.step()
            trajectory.append(generator.theta.item())
    return trajectory


# ---------------------------------------------------------------------------- (c) gradients


def _theta_gradient(
    objective: AdversarialObjective, critic: nn.Module, generator: LineGenerator, z: torch.Tensor
) -> float:
    (gradient,) = torch.autograd.grad(
        objective.generator_loss(critic(generator(z))), generator.theta
    )
    return abs(gradient.item())


def _measure_steps(total: int) -> list[int]:
    """Steps 1, 2, 5, 10, 20, 50, … and ``total`` (even spacing on a log axis)."""
    steps = {total}
    for decade in range(int(math.log10(max(total, 1))) + 1):
        steps.update(m * 10**decade for m in (1, 2, 5) if m * 10**decade <= total)
    return sorted(steps)


def gradient_curves(config: ParallelLinesConfig) -> dict[str, Any]:
    r"""|dL_G/dθ| at θ = 1 while a discriminator (minimax loss) and a WGAN-GP critic train.

    Both networks train for ``discriminator_steps`` at fixed θ = 1; at log-spaced steps the
    generator gradients are measured on one fixed batch of z: minimax E log(1 - D(G(z))), whose
    gradient -E[D(G(z)) ∂s/∂θ] vanishes as D(G(z)) → 0; non-saturating -E log D(G(z)); and
    WGAN -E f(G(z)), whose gradient -E ∂f/∂x_1 stays near the critic's slope (≈ 1).
    """
    gan, wgan = MinimaxGAN(), Wasserstein()
    unconstrained, penalty = LipschitzMethod(), GradientPenalty(weight=config.gp_weight)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 100)
        generator = LineGenerator(1.0)
        discriminator = MLPCritic((2,), hidden=config.hidden)
        critic = MLPCritic((2,), hidden=config.hidden)
        d_optimiser = torch.optim.Adam(
            discriminator.parameters(), lr=config.critic_lr, betas=(0.5, 0.9)
        )
        c_optimiser = torch.optim.Adam(critic.parameters(), lr=config.critic_lr, betas=(0.5, 0.9))
        z = torch.rand(config.gradient_batch)
        measure = set(_measure_steps(config.discriminator_steps))
        curves: dict[str, Any] = {"steps": [], "minimax": [], "non_saturating": [], "wgan": []}
        for step in range(config.discriminator_steps + 1):
            if step in measure:
                curves["steps"].append(step)
                curves["minimax"].append(_theta_gradient(gan, discriminator, generator, z))
                curves["non_saturating"].append(
                    _theta_gradient(NonSaturatingGAN(), discriminator, generator, z)
                )
                curves["wgan"].append(_theta_gradient(wgan, critic, generator, z))
            if step < config.discriminator_steps:
                _critic_step(
                    discriminator, d_optimiser, gan, unconstrained, generator, config.batch_size
                )
                _critic_step(critic, c_optimiser, wgan, penalty, generator, config.batch_size)
        curves["profile"] = _profiles(discriminator, critic)
    return curves


def _profiles(discriminator: nn.Module, critic: nn.Module) -> dict[str, list[float]]:
    """D(x_1, ½) and f(x_1, ½) along a horizontal line through both supports (for the figure)."""
    x1 = torch.linspace(-0.5, 1.5, 101)
    points = torch.stack([x1, torch.full_like(x1, 0.5)], dim=1)
    with torch.no_grad():
        return {
            "x1": x1.tolist(),
            "discriminator": torch.sigmoid(discriminator(points)).tolist(),
            "critic": critic(points).tolist(),
        }


# ---------------------------------------------------------------------------- driver and outputs


def run_parallel_lines(
    *, seed: int = 0, quick: bool = False, config: ParallelLinesConfig | None = None
) -> ParallelLinesResult:
    """Run every part of the experiment (``quick``: the short settings the tests use)."""
    if config is None:
        config = ParallelLinesConfig.quick(seed) if quick else ParallelLinesConfig(seed=seed)
    start = time.perf_counter()
    with _single_thread():
        curves = distance_curves(config)
        critic_w1 = critic_estimates(config)
        theta_wgan = train_theta(Wasserstein(), GradientPenalty(weight=config.gp_weight), config)
        theta_minimax = train_theta(MinimaxGAN(), LipschitzMethod(), config)
        gradients = gradient_curves(config)
    return ParallelLinesResult(
        config=config,
        thetas=list(config.thetas),
        kl=curves["kl"],
        kl_infinite_bins=curves["kl_infinite_bins"],
        js=curves["js"],
        w1_exact=curves["w1"],
        critic_thetas=list(config.critic_thetas),
        critic_w1=critic_w1,
        theta_wgan=theta_wgan,
        theta_minimax=theta_minimax,
        discriminator_steps=gradients["steps"],
        minimax_gradient=gradients["minimax"],
        non_saturating_gradient=gradients["non_saturating"],
        wgan_gradient=gradients["wgan"],
        discriminator_profile=gradients["profile"],
        seconds=time.perf_counter() - start,
    )


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    # Networks of 32 units: thread hand-offs cost more than the arithmetic they share, and on a
    # busy machine two threads ran these steps 30 times slower than one. Restored afterwards.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def save_parallel_lines(result: ParallelLinesResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``parallel_lines.json`` and ``parallel_lines.png`` into ``out_dir``; their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, figure_path = out / JSON_NAME, out / FIGURE_NAME
    write_json(json_path, result.to_json())
    plot_parallel_lines(result, figure_path)
    return {"json": json_path, "figure": figure_path}


def plot_parallel_lines(result: ParallelLinesResult, path: str | Path) -> None:
    """Four panels: distances vs θ, θ during training, generator gradients, D and f profiles."""
    fig = new_figure((12, 9))
    axes = fig.subplots(2, 2)
    _plot_distances(axes[0, 0], result)
    _plot_training(axes[0, 1], result)
    _plot_gradients(axes[1, 0], result)
    _plot_profiles(axes[1, 1], result)
    fig.suptitle(
        r"Parallel lines $P_0$ = (0, z), $P_\theta$ = (θ, z), z ~ U[0, 1]  (Arjovsky et al. 2017)"
    )
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def _plot_distances(ax: Any, result: ParallelLinesResult) -> None:
    thetas = np.asarray(result.thetas)
    kl, js = np.asarray(result.kl), np.asarray(result.js)
    top = 1.4
    ax.plot(thetas, result.w1_exact, "-", color="tab:blue", label=r"$W_1$ exact (= |θ|)")
    # JS and KL jump at θ = 0: draw each side separately so no line bridges the jump.
    for side in (thetas < 0, thetas > 0):
        ax.plot(thetas[side], js[side], ".-", color="tab:orange", markersize=4)
    ax.plot([], [], ".-", color="tab:orange", label="JS (= log 2 for θ ≠ 0)")
    ax.plot(thetas[thetas == 0], js[thetas == 0], "o", color="tab:orange", markersize=7)
    infinite = ~np.isfinite(kl)
    ax.plot(
        thetas[infinite],
        np.full(infinite.sum(), top * 0.97),
        "^",
        color="tab:red",
        markersize=5,
        label=r"KL$(P_0\|P_\theta)$ = +∞ (drawn at the top)",
    )
    ax.plot(
        thetas[~infinite],
        kl[~infinite],
        "x",
        color="tab:red",
        markersize=9,
        mew=2,
        label="KL (finite: θ = 0)",
    )
    ax.plot(
        result.critic_thetas,
        result.critic_w1,
        "s",
        color="tab:green",
        markersize=8,
        markerfacecolor="none",
        markeredgewidth=2,
        label=r"$W_1$ from a WGAN-GP critic",
    )
    ax.axhline(math.log(2), color="gray", linestyle=":", linewidth=1)
    ax.set_ylim(-0.05, top)
    ax.set_xlabel("θ")
    ax.set_ylabel("divergence / distance (nats)")
    ax.set_title(r"KL and JS jump at θ = 0; $W_1$ is continuous")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.94), fontsize=8)


def _plot_training(ax: Any, result: ParallelLinesResult) -> None:
    ax.plot(result.theta_wgan, color="tab:green", label="WGAN-GP")
    ax.plot(result.theta_minimax, color="tab:purple", label="minimax GAN")
    ax.axhline(0.0, color="gray", linestyle=":", linewidth=1)
    ax.set_xlabel("generator step (SGD on θ, cosine-decayed step size)")
    ax.set_ylabel("θ")
    ax.set_title(f"Training x = (θ, z) from θ = 1 ({result.config.n_critic} critic steps each)")
    ax.legend()


def _plot_gradients(ax: Any, result: ParallelLinesResult) -> None:
    steps = np.asarray(result.discriminator_steps)
    floor = 1e-30  # an exactly zero gradient (float underflow) still needs a place on a log axis
    ax.loglog(
        steps,
        np.maximum(result.minimax_gradient, floor),
        "o-",
        color="tab:purple",
        label="minimax: E log(1 − D(G(z)))",
    )
    ax.loglog(
        steps,
        np.maximum(result.non_saturating_gradient, floor),
        "^-",
        color="tab:gray",
        label="non-saturating: −E log D(G(z))",
    )
    ax.loglog(
        steps,
        np.maximum(result.wgan_gradient, floor),
        "s-",
        color="tab:green",
        label="WGAN-GP: −E f(G(z))",
    )
    ax.set_xlabel("discriminator / critic training steps at θ = 1")
    ax.set_ylabel(r"$|\partial L_G / \partial\theta|$")
    ax.set_title("The minimax generator's gradient vanishes")
    ax.legend(fontsize=8)


def _plot_profiles(ax: Any, result: ParallelLinesResult) -> None:
    profile = result.discriminator_profile
    ax.plot(
        profile["x1"],
        profile["discriminator"],
        color="tab:purple",
        label=r"$D(x_1, \frac{1}{2})$ (minimax discriminator)",
    )
    ax.plot(
        profile["x1"],
        profile["critic"],
        color="tab:green",
        label=r"$f(x_1, \frac{1}{2})$ (WGAN-GP critic)",
    )
    for x, name in ((0.0, r"$P_0$"), (1.0, r"$P_\theta$, θ = 1")):
        ax.axvline(x, color="gray", linestyle=":", linewidth=1)
        ax.annotate(
            name,
            (x, 0.02),
            xycoords=("data", "axes fraction"),
            ha="center",
            fontsize=9,
            backgroundcolor="white",
        )
    ax.set_xlabel(r"$x_1$")
    ax.set_title("After training at θ = 1: D saturates, f keeps slope ≈ −1")
    ax.legend(fontsize=8, loc="upper right")


def _json_ready(value: Any) -> Any:
    """Recursively replace non-finite floats by strings ("inf", "-inf", "nan") for strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value

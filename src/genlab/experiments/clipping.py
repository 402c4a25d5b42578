"""Weight clipping against its alternatives: what each does to the critic's Lipschitz constant,
its Wasserstein estimate, and its weights.

On each 2-D toy set, a critic is trained to optimality between the data P and a fixed "generator"
Q = P + N(0, I) noise (the set-up of Gulrajani et al. 2017, figure 1), once per method: weight
clipping with c ∈ {0.001, 0.01, 0.1}, the gradient penalty, and spectral normalisation. For each
critic the experiment records (on MNIST, the same with flattened images, Q = other images plus
N(0, 0.5²) noise)

- its dual estimate E_P f - E_Q f beside the exact W1 (POT, on 1,000-point subsamples);
- a lower bound on its Lipschitz constant (largest gradient norm found) and two upper bounds: the
  product of its layers' spectral norms, and for clipped critics the closed form Π c·sqrt(m·n);
- estimate / upper bound, a certified lower bound on W1 (f / L is 1-Lipschitz);
- the histogram of its weights: clipped weights pile up at ±c, the failure mode WGAN-GP names.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from genlab.data.imageio import uint8_to_signed
from genlab.data.sources import load_dataset
from genlab.data.toy import sample_toy
from genlab.divergences.critic import fit_critic
from genlab.divergences.lipschitz import (
    LOWER_BOUND,
    UPPER_CLIP,
    UPPER_SPECTRAL_PRODUCT,
    lipschitz_report,
)
from genlab.divergences.wasserstein import exact_wasserstein
from genlab.plotting import new_figure, save_figure

DATASETS = ("8gaussians", "25gaussians", "swissroll")
# label -> (method name, clip value)
METHODS: dict[str, tuple[str, float]] = {
    "clip c=0.001": ("clip", 0.001),
    "clip c=0.01": ("clip", 0.01),
    "clip c=0.1": ("clip", 0.1),
    "gradient penalty": ("gp", 0.01),
    "spectral norm": ("sn", 0.01),
}
SAMPLES = 2000
EXACT_SIZE = 1000
# In 784-D nearly all pairwise distances are alike and the network simplex crawls (1,000 points
# took 46 s); 300 points keep the exact value to a couple of seconds.
EXACT_SIZE_MNIST = 300


@dataclass
class ClippingResult:
    dataset: str
    method: str
    exact_w1: float
    critic_estimate: float
    lipschitz_lower: float
    lipschitz_upper: float
    clip_bound: float | None
    certified_w1_lower_bound: float
    fraction_of_weights_at_clip: float | None


def _problem(
    dataset: str, seed: int, data_dir: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    if dataset == "mnist":
        # 784-d points in [-1, 1]: the first images against the next ones plus noise (σ = 0.5).
        images = load_dataset("mnist", data_dir=data_dir, limit=2 * SAMPLES).images
        points = uint8_to_signed(images).flatten(1)
        p, q = points[:SAMPLES], points[SAMPLES:]
        return p, q + 0.5 * torch.randn(q.shape, generator=generator)
    p = sample_toy(dataset, SAMPLES, generator=generator)
    q = sample_toy(dataset, SAMPLES, generator=generator)
    return p, q + torch.randn(q.shape, generator=generator)


def _weights(critic: torch.nn.Module) -> np.ndarray:
    return torch.cat([w.detach().flatten() for w in critic.parameters()]).numpy()


def run_clipping_experiment(
    out: Path,
    *,
    datasets: tuple[str, ...] = DATASETS,
    steps: int = 1000,
    hidden: tuple[int, ...] = (64, 64, 64),
    seed: int = 0,
    data_dir: str | None = None,
    progress=None,
) -> list[ClippingResult]:
    """Fit one critic per (set, method); write ``clipping.json`` and ``clipping.png`` to ``out``.

    ``datasets`` are toy 2-D sets, or ``"mnist"`` (flattened images, read from ``data_dir``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results, histograms = [], {}
    for dataset in datasets:
        p, q = _problem(dataset, seed, data_dir)
        size = EXACT_SIZE_MNIST if dataset == "mnist" else EXACT_SIZE
        exact = exact_wasserstein(p[:size].numpy(), q[:size].numpy(), p=1)
        for label, (method, clip) in METHODS.items():
            fit = fit_critic(p, q, method=method, clip=clip, steps=steps, hidden=hidden, seed=seed)
            clip_value = clip if method == "clip" else None
            points = torch.cat([p[:500], q[:500]])
            report = lipschitz_report(fit.critic, p[:1], data=points, clip=clip_value)
            weights = _weights(fit.critic)
            at_clip = (
                float(np.mean(np.abs(weights) >= clip * (1 - 1e-6))) if method == "clip" else None
            )
            result = ClippingResult(
                dataset=dataset,
                method=label,
                exact_w1=float(exact),
                critic_estimate=fit.estimate,
                lipschitz_lower=report[LOWER_BOUND],
                lipschitz_upper=report[UPPER_SPECTRAL_PRODUCT],
                clip_bound=report[UPPER_CLIP],
                certified_w1_lower_bound=fit.estimate / report[UPPER_SPECTRAL_PRODUCT],
                fraction_of_weights_at_clip=at_clip,
            )
            results.append(result)
            if dataset == datasets[0]:
                histograms[label] = weights
            if progress is not None:
                progress(result)
    (out / "clipping.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    plot_clipping(out / "clipping.png", results, histograms, dataset=datasets[0])
    return results


def plot_clipping(
    path: Path, results: list[ClippingResult], histograms: dict, *, dataset: str
) -> None:
    labels = list(METHODS)
    first = [r for r in results if r.dataset == dataset]
    figure = new_figure((16, 4.5))
    axes = figure.subplots(1, 3)
    positions = np.arange(len(labels))
    axes[0].bar(
        positions - 0.2, [r.critic_estimate for r in first], 0.4, label="critic E_P f − E_Q f"
    )
    axes[0].bar(
        positions + 0.2,
        [r.certified_w1_lower_bound for r in first],
        0.4,
        label="estimate / L_upper",
    )
    axes[0].axhline(first[0].exact_w1, color="black", linestyle="--", label="exact W1")
    axes[0].set_yscale("log")
    axes[0].set_title(f"W1 estimates on {dataset}")
    axes[1].bar(positions - 0.2, [r.lipschitz_lower for r in first], 0.4, label="lower (max ‖∇f‖)")
    axes[1].bar(positions + 0.2, [r.lipschitz_upper for r in first], 0.4, label="upper (Π ‖W‖₂)")
    axes[1].set_yscale("log")
    axes[1].set_title("Lipschitz constant of the critic")
    for axis in axes[:2]:
        axis.set_xticks(positions, labels, rotation=20, fontsize=8)
        axis.legend(fontsize=8)
    for label, weights in histograms.items():
        if label.startswith("clip") or label == "gradient penalty":
            scale = METHODS[label][1] if label.startswith("clip") else np.abs(weights).max()
            axes[2].hist(weights / scale, bins=60, histtype="step", label=label, density=True)
    axes[2].set_title("critic weights / c (clipped) or / max|w| (GP)")
    axes[2].set_yscale("log")
    axes[2].legend(fontsize=8)
    figure.tight_layout()
    save_figure(figure, path, dpi=90)

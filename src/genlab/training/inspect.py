"""Questions asked of a finished run's critic: how Lipschitz is it, really?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from genlab.data.imageio import uint8_to_signed
from genlab.divergences.lipschitz import lipschitz_report
from genlab.errors import GenlabError
from genlab.models.registry import ModelConfig, build_critic
from genlab.objectives.lipschitz import make_lipschitz_method
from genlab.runs import generate, load_checkpoint
from genlab.training.config import flat_config


def critic_lipschitz_report(
    source: str | Path, *, points: int = 256, data_dir: str | None = None, seed: int = 0
) -> dict[str, Any]:
    """`lipschitz_report` of a run's critic on ``points`` real and ``points`` generated samples.

    Real samples come from the run's own data source (the first ``points``); generated ones from
    its generator with ``seed``. For a weight-clipped critic the closed-form clipping bound is
    included.
    """
    critic, config, _ = load_critic(source)
    real = _real_samples(config, points, data_dir)
    fake = generate(source, points, seed=seed)
    fake = uint8_to_signed(fake) if fake.dtype == torch.uint8 else fake
    data = torch.cat([real, fake])
    clip = config["clip"] if config["lipschitz"] == "clip" else None
    report = lipschitz_report(critic, data[:1], data=data, clip=clip, seed=seed)
    return {"source": str(source), "method": config["lipschitz"], **report}


def _real_samples(config: dict, count: int, data_dir: str | None) -> torch.Tensor:
    from genlab.data.sources import load_dataset
    from genlab.data.toy import list_toy, sample_toy

    if config["data"] in list_toy():
        return sample_toy(config["data"], count, generator=torch.Generator().manual_seed(0))
    dataset = load_dataset(config["data"], data_dir=data_dir or config["data_dir"], limit=count)
    return uint8_to_signed(dataset.images)


def load_critic(source: str | Path) -> tuple[nn.Module, dict, ModelConfig]:
    """The trained critic of a GAN run (eval mode), its training options (by flat names,
    `genlab.training.config.flat_config`) and its model config.

    The critic is rebuilt with the run's Lipschitz method applied first, so a spectrally
    normalised critic loads its parametrised weights as saved.
    """
    state = load_checkpoint(Path(source))
    if "critic" not in state["models"]:
        raise GenlabError(f"{source} is a VAE run: it has no critic to inspect")
    config = flat_config(state["config"])  # nested, or flat as genlab 0.1.0 wrote it
    model_config = ModelConfig.from_dict(state["model_config"])
    method = make_lipschitz_method(
        config["lipschitz"], clip=config["clip"], gp_weight=config["gp_weight"]
    )
    critic = method.prepare(build_critic(model_config))
    critic.load_state_dict(state["models"]["critic"])
    return critic.eval(), config, model_config

"""Questions asked of a finished run's critic: how Lipschitz is it, really?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from genlab.data.imageio import uint8_to_signed
from genlab.divergences.lipschitz import lipschitz_report
from genlab.runs import generate, load_critic


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
    from genlab.data.registry import load_dataset
    from genlab.data.toy import list_toy, sample_toy

    if config["data"] in list_toy():
        return sample_toy(config["data"], count, generator=torch.Generator().manual_seed(0))
    dataset = load_dataset(config["data"], data_dir=data_dir or config["data_dir"], limit=count)
    return uint8_to_signed(dataset.images)

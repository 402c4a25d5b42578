"""Evaluation during training: every ``eval_every`` steps, N samples against held-out images.

Each evaluation draws ``eval_n`` samples from the generator (its EMA copy when there is one) with
the *same* noise every time, so the curve over training shows the model changing, not the noise.
The reference (by default the data set's test split) is resolved once; its features come from
the on-disk cache after the first evaluation, the samples' features are never cached.

Values go to the run's ``metrics.jsonl`` under keys ``"<features>/<metric key>"``
(`genlab.runs.records.eval_key`), e.g. ``"classifier-mnist/fid"`` or ``"inception/kid_mean"``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from genlab import distributed
from genlab.data.imageio import signed_to_uint8
from genlab.data.toy import is_toy
from genlab.errors import GenlabError
from genlab.metrics.streaming import Metrics
from genlab.runs import eval_key
from genlab.training.config import TrainConfig, registered_data_name

#: Seed of the evaluation noise: the same for every run, so runs see the same z.
EVAL_NOISE_SEED = 2024
#: The shipped domain classifier of each data set it can judge (1×28×28 MNIST, 1×8×8 digits).
_CLASSIFIERS = {"mnist": "classifier-mnist", "digits": "classifier-digits"}
_GENERATION_BATCH = 500


def default_eval_features(data: str) -> str:
    """The cheap domain classifier for MNIST and the 8×8 digits, Inception for everything else."""
    return _CLASSIFIERS.get(registered_data_name(data) or "", "inception")


def default_eval_reference(data: str) -> str:
    """The held-out split of a registered data set (``mnist:test``, ``digits:test``), else the
    data itself."""
    name = registered_data_name(data)
    return f"{name}:test" if name is not None else data


class PeriodicEvaluator:
    """Scores a generator against a fixed reference; built once per run, called on schedule.

    A `genlab.Metrics` holds the reference (extracted at the first evaluation, through the
    feature cache) and takes each evaluation's samples; under torchrun each process feeds its
    share of the samples and all get the same values.
    """

    def __init__(self, config: TrainConfig) -> None:
        if is_toy(config.data):
            raise GenlabError(
                f"--eval-every measures images, but {config.data} is a 2-D toy set; "
                "leave --eval-every out (the scatter plots in samples/ show its progress)"
            )
        evaluation = config.evaluation
        self.features = evaluation.features or default_eval_features(config.data)
        self.n, self.latent_dim = evaluation.n, config.model.latent_dim
        # Built now, so missing weights or data fail before the first step rather than mid-run.
        self.metrics = Metrics(
            evaluation.metrics,
            features=self.features,
            device=config.device,
            reference=evaluation.reference or default_eval_reference(config.data),
            n_ref=evaluation.n,
            data_dir=config.data_dir,
        )
        self.device = torch.device(config.device)

    @torch.no_grad()
    def samples(self, sampler: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``eval_n`` uint8 images from ``sampler`` (z ↦ images in [-1, 1]) with the fixed noise."""
        generator = torch.Generator().manual_seed(EVAL_NOISE_SEED)
        parts = []
        for start in range(0, self.n, _GENERATION_BATCH):
            count = min(_GENERATION_BATCH, self.n - start)
            z = torch.randn(count, self.latent_dim, generator=generator).to(self.device)
            parts.append(signed_to_uint8(sampler(z).cpu()))
        return torch.cat(parts)

    def __call__(self, sampler: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, float]:
        """Metric values of ``sampler``'s samples, under `eval_key` names."""
        self.metrics.reset(keep_reference=True)
        # Each process feeds one contiguous share; gathered in rank order they are the samples.
        share = self.samples(sampler).tensor_split(distributed.world_size())[distributed.rank()]
        self.metrics.update(share, real=False)
        result = self.metrics.compute()
        # Scalars only: the log is a time series (per-class counts of `modes` stay out).
        return {
            eval_key(self.features, key): float(value)
            for key, value in result.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }

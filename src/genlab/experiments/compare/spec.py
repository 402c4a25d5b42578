"""What the model comparison compares: the models, the shared settings, the names of its runs
and results, and how a run's log is read for the critic-estimate-against-FID analysis.

The runner (`genlab.experiments.compare.runner`) and the figures
(`genlab.experiments.compare.figures`) both take these from here; the runner draws the figures,
and the figures never need the runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genlab.errors import GenlabError
from genlab.metrics import keys, registry
from genlab.runs import eval_key


@dataclass(frozen=True)
class Model:
    """One contestant: a label for tables, a preset and overrides of it."""

    label: str
    preset: str
    overrides: dict[str, Any] = field(default_factory=dict)


#: Training images of the memorising contestant.
MEMORISING_LIMIT = 100

MODELS: dict[str, Model] = {
    "vae": Model("VAE", "vae"),
    "gan-minimax": Model("GAN (minimax)", "gan"),
    "gan-ns": Model("GAN (non-saturating)", "dcgan"),
    "wgan-clip-0.01": Model("WGAN, clip 0.01", "wgan", {"clip": 0.01}),
    "wgan-clip-0.001": Model("WGAN, clip 0.001", "wgan", {"clip": 0.001}),
    "wgan-gp": Model("WGAN-GP", "wgan-gp"),
    "sngan": Model("SN-GAN", "sngan"),
    # Trained on the first 100 training images only: a model that can do little but copy them,
    # for the memorisation metric to catch (and FID, which sees only two feature clouds, to miss).
    "gan-ns-100": Model("GAN (non-saturating), 100 images", "dcgan", {"limit": MEMORISING_LIMIT}),
}
#: The models whose critic estimates a Wasserstein distance, for the correlation.
WASSERSTEIN_MODELS = ("wgan-clip-0.01", "wgan-clip-0.001", "wgan-gp")

#: The networks every model shares; width 32 keeps a CPU step short.
NETWORKS = {"arch": "dcgan", "width": 32}
DATA = "mnist"
REFERENCE = "mnist:test"
#: The training images, the reference of the memorisation evaluation (the first ``limit`` of
#: them when a run was trained on fewer).
TRAINING = "mnist:train"
CLASSIFIER = "classifier-mnist"
#: Name of the evaluation of a run against its own training images.
MEMORIZATION = "memorization"
INCEPTION = "inception"
DONE_MARK = "done"


def _title(key: str, *, scaled: bool = False) -> str:
    """The metric registry's title of a result key (``KID×10³`` when ``scaled``)."""
    result = registry.result_key(key)
    return result.title + (result.scale_text if scaled else "")


# Column key -> (header, source evaluation, key in it); the order of the results table. Headers
# are the registry's titles, qualified by the extractor; the MNIST classifier's modes are digits,
# and the reconstruction MSE is abbreviated to keep the table narrow.
COLUMNS: dict[str, tuple[str, str, str]] = {
    "fid_inception": (f"{_title(keys.FID)} (Inception)", INCEPTION, keys.FID),
    "kid_inception": (
        f"{_title(keys.KID_MEAN, scaled=True)} (Inception)",
        INCEPTION,
        keys.KID_MEAN,
    ),
    "fid_classifier": (f"classifier-{_title(keys.FID)}", CLASSIFIER, keys.FID),
    "kid_classifier": (f"classifier-{_title(keys.KID_MEAN)}", CLASSIFIER, keys.KID_MEAN),
    "precision": (_title(keys.PRECISION), CLASSIFIER, keys.PRECISION),
    "recall": (_title(keys.RECALL), CLASSIFIER, keys.RECALL),
    "density": (_title(keys.DENSITY), CLASSIFIER, keys.DENSITY),
    "coverage": (_title(keys.COVERAGE), CLASSIFIER, keys.COVERAGE),
    "modes": ("digits covered", CLASSIFIER, keys.MODES_COVERED),
    "c2st": (_title(keys.C2ST), CLASSIFIER, keys.C2ST),
    "critic_w1": (_title(keys.CRITIC_W1), CLASSIFIER, keys.CRITIC_W1),
    "vendi": (_title(keys.VENDI), CLASSIFIER, keys.VENDI),
    "memorization": (_title(keys.MEMORIZATION), MEMORIZATION, keys.MEMORIZATION),
    "recon_mse": ("recon. MSE", "reconstruction", keys.MSE),
}


@dataclass
class CompareSettings:
    """Everything that shapes a comparison; written beside the results."""

    minutes: float = 5.0
    seeds: tuple[int, ...] = (0, 1, 2)
    models: tuple[str, ...] = tuple(MODELS)
    n: int = 2000
    inception_n: int = 300
    eval_seconds: float = 30.0
    eval_n: int = 1000
    limit: int | None = None
    data_dir: str | None = None
    ci_resamples: int = 100
    report_lipschitz: bool = True  # Lipschitz bounds of each critic in report.html

    def __post_init__(self) -> None:
        self.seeds, self.models = tuple(self.seeds), tuple(self.models)
        unknown = [m for m in self.models if m not in MODELS]
        if unknown:
            raise GenlabError(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
        if not self.seeds or not self.models:
            raise GenlabError("the comparison needs at least one model and one seed")
        if self.minutes <= 0:
            raise GenlabError(f"--minutes must be positive, got {self.minutes}")


def training_limit(model: str, settings: CompareSettings) -> int | None:
    """How many training images ``model`` is trained on (its own limit, else the settings')."""
    return MODELS[model].overrides.get("limit", settings.limit)


#: The classifier-FID of the periodic evaluations, in each run's metrics log.
FID_KEY = eval_key(CLASSIFIER, keys.FID)


def run_name(model: str, seed: int) -> str:
    return f"{model}-seed{seed}"


def estimate_fid_pairs(records: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """(critic's W estimate, classifier-FID) at each evaluation of a run's metrics log.

    The estimate at an evaluation is the mean of the logged ``wasserstein_estimate`` values since
    the previous evaluation: one logged value is one batch, too noisy on its own.
    """
    estimates, fids, window = [], [], []
    for record in records:
        if "wasserstein_estimate" in record:
            window.append(record["wasserstein_estimate"])
        if FID_KEY in record and window:
            estimates.append(float(np.mean(window)))
            fids.append(record[FID_KEY])
            window = []
    return estimates, fids

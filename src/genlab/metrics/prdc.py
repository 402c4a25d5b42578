"""Precision, recall, density and coverage: fidelity and diversity from k-NN balls in feature space.

Each real sample x_i gets the radius r_k(x_i), the distance to its k-th nearest other real sample;
the union of the balls B(x_i, r_k(x_i)) estimates the support ("manifold") of the real
distribution, and likewise for the fake samples y_j. With M real and N fake samples:

- precision = (1/N) Σ_j 1[∃i: ‖y_j − x_i‖ ≤ r_k(x_i)]  (fake samples inside the real manifold)
- recall    = (1/M) Σ_i 1[∃j: ‖x_i − y_j‖ ≤ r_k(y_j)]  (real samples inside the fake manifold)
  (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing Generative
  Models", k = 3)
- density   = 1/(kN) Σ_j Σ_i 1[‖y_j − x_i‖ ≤ r_k(x_i)]  (how many real balls hold each fake; ≈1
  when the distributions match, and unlike precision not inflated by real outliers)
- coverage  = (1/M) Σ_i 1[min_j ‖x_i − y_j‖ ≤ r_k(x_i)]  (real samples with a fake neighbour in
  their ball)
  (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models", k = 5)

Balls are closed (≤), as in Kynkäänniemi et al.'s definition; this differs from a strict < only
on exact ties. Distances are computed chunk by chunk, so memory is O(chunk_size · max(M, N)) and
50 000 × 50 000 comparisons never hold the full distance matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import nan

import torch

from genlab.errors import GenlabError
from genlab.metrics.keys import COVERAGE, DENSITY, PRECISION, RECALL
from genlab.metrics.validation import ArrayLike, as_feature_pair, as_feature_tensor

#: Rows of distances held at once: 1024 × 50 000 float32 distances are 200 MB.
DEFAULT_CHUNK_SIZE = 1024


def precision_recall(
    real: ArrayLike, fake: ArrayLike, *, k: int = 3, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019), keys `PRECISION` and `RECALL`.

    Parameters
    ----------
    real, fake : array (M, d), (N, d)
        Features of real and generated samples, NumPy or torch, any device.
    k : int
        Neighbour whose distance sets each ball's radius (3 in the paper); k < M and k < N.
    chunk_size : int
        Rows of the distance matrix computed at a time (memory, not results, depends on it).
    """
    result = _prdc(real, fake, k=k, chunk_size=chunk_size, with_recall=True)
    return {PRECISION: result.precision, RECALL: result.recall}


def density_coverage(
    real: ArrayLike, fake: ArrayLike, *, k: int = 5, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> dict[str, float]:
    """Density and coverage (Naeem et al. 2020), keys `DENSITY` and `COVERAGE`.

    Only real-sample balls are used, so fake outliers cannot inflate them. Parameters as in
    `precision_recall`; k = 5 is the paper's choice.
    """
    result = _prdc(real, fake, k=k, chunk_size=chunk_size, with_recall=False)
    return {DENSITY: result.density, COVERAGE: result.coverage}


def prdc(
    real: ArrayLike, fake: ArrayLike, *, k: int = 5, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> dict[str, float]:
    """Precision, recall, density and coverage with one k (5, as in Naeem et al. 2020), in one pass.

    Returns a dict with keys `PRECISION`, `RECALL`, `DENSITY` and `COVERAGE`.
    """
    result = _prdc(real, fake, k=k, chunk_size=chunk_size, with_recall=True)
    return {
        PRECISION: result.precision,
        RECALL: result.recall,
        DENSITY: result.density,
        COVERAGE: result.coverage,
    }


def kth_neighbour_distances(
    features: ArrayLike, *, k: int, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row (the row itself excluded), shape (N,).

    The row is excluded by index, not by its zero distance, so duplicates still count as neighbours
    and round-off in the self-distance cannot shift the ranking.
    """
    tensor = as_feature_tensor(features)
    _check_options(k, chunk_size, tensor.shape[0], "features")
    tensor = _working_precision(tensor)
    centred = tensor - tensor.mean(dim=0)
    return _kth_neighbour_squared(centred, k, chunk_size).sqrt()


@dataclass(frozen=True)
class _PRDCResult:
    precision: float
    recall: float  # NaN when fake balls were not computed (density_coverage does not need them)
    density: float
    coverage: float


def _prdc(
    real: ArrayLike, fake: ArrayLike, *, k: int, chunk_size: int, with_recall: bool
) -> _PRDCResult:
    real_t, fake_t = as_feature_pair(real, fake, what_a="real", what_b="fake")
    _check_options(k, chunk_size, real_t.shape[0], "real")
    if with_recall:
        _check_options(k, chunk_size, fake_t.shape[0], "fake")
    real_t, fake_t = _working_precision(real_t), _working_precision(fake_t)
    # Distances are translation invariant; centring shrinks the norms in ‖x‖² + ‖y‖² − 2xᵀy and
    # so the cancellation error of that formula (features such as Inception's have a large mean).
    offset = real_t.mean(dim=0)
    real_t, fake_t = real_t - offset, fake_t - offset
    real_radii = _kth_neighbour_squared(real_t, k, chunk_size)
    fake_radii = _kth_neighbour_squared(fake_t, k, chunk_size) if with_recall else None
    return _cross_pass(real_t, fake_t, real_radii, fake_radii, k, chunk_size)


def _cross_pass(
    real: torch.Tensor,
    fake: torch.Tensor,
    real_radii: torch.Tensor,
    fake_radii: torch.Tensor | None,
    k: int,
    chunk_size: int,
) -> _PRDCResult:
    """One pass over real-row chunks of the real×fake distances, reducing along both axes."""
    fake_in_any_real_ball = torch.zeros(fake.shape[0], dtype=torch.bool, device=fake.device)
    real_balls_per_fake = torch.zeros(fake.shape[0], dtype=torch.int64, device=fake.device)
    real_in_any_fake_ball = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)
    real_covered = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)
    fake_norms = fake.square().sum(dim=1)
    for start in range(0, real.shape[0], chunk_size):
        stop = min(start + chunk_size, real.shape[0])
        distances = _squared_distances(real[start:stop], fake, fake_norms)
        radii = real_radii[start:stop, None]
        inside_real_ball = distances <= radii
        fake_in_any_real_ball |= inside_real_ball.any(dim=0)
        real_balls_per_fake += inside_real_ball.sum(dim=0)
        real_covered[start:stop] = distances.min(dim=1).values <= real_radii[start:stop]
        if fake_radii is not None:
            real_in_any_fake_ball[start:stop] = (distances <= fake_radii[None, :]).any(dim=1)
    return _PRDCResult(
        precision=float(fake_in_any_real_ball.double().mean()),
        recall=float(real_in_any_fake_ball.double().mean()) if fake_radii is not None else nan,
        density=float(real_balls_per_fake.double().sum() / (k * fake.shape[0])),
        coverage=float(real_covered.double().mean()),
    )


def _kth_neighbour_squared(features: torch.Tensor, k: int, chunk_size: int) -> torch.Tensor:
    n = features.shape[0]
    norms = features.square().sum(dim=1)
    radii = torch.empty(n, dtype=features.dtype, device=features.device)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        distances = _squared_distances(features[start:stop], features, norms)
        rows = torch.arange(stop - start, device=features.device)
        distances[rows, rows + start] = torch.inf  # exclude each point itself, by index
        radii[start:stop] = distances.topk(k, dim=1, largest=False).values[:, -1]
    return radii


def _squared_distances(x: torch.Tensor, y: torch.Tensor, y_norms: torch.Tensor) -> torch.Tensor:
    """‖x_i − y_j‖² as ‖x_i‖² + ‖y_j‖² − 2 x_iᵀy_j (one matrix product), clamped at 0."""
    squared = torch.addmm(y_norms[None, :], x, y.T, alpha=-2.0)
    squared += x.square().sum(dim=1, keepdim=True)
    return squared.clamp_min_(0.0)


def _working_precision(features: torch.Tensor) -> torch.Tensor:
    # float64 input stays float64 (exact comparisons in tests); float32 stays float32 for speed.
    return features if features.dtype == torch.float64 else features.to(torch.float32)


def _check_options(k: int, chunk_size: int, n: int, what: str) -> None:
    if chunk_size < 1:
        raise GenlabError(f"chunk_size must be at least 1, got {chunk_size}")
    if k < 1:
        raise GenlabError(f"k (the neighbour defining each ball) must be at least 1, got {k}")
    if k >= n:
        raise GenlabError(
            f"{what} has {n} samples, too few for k={k} nearest neighbours besides each sample "
            f"itself; pass k <= {n - 1} or more samples"
        )

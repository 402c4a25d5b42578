r"""Memorisation: which generated images are near-copies of training images.

A model that copies its training set can score a fine FID: copies *are* real images. What gives
them away is distance. Let T be the training images (the reference A of ``genlab eval``), g a
generated image and d(g) = min_{t ∈ T} ‖φ(g) − φ(t)‖ its distance to the nearest training image
in feature space φ. A real image the model never saw lies at a typical distance from T; a copy lies
far closer. The test here compares each d(g) with the null distribution of those typical
distances, in the spirit of Meehan et al. ("A Non-Parametric Test to Detect Data-Copying in
Generative Models", AISTATS 2020), who compare d(generated, T) with d(held-out, T):

- **Null distances.** With a held-out set H of real images (never trained on), δ_h = d(h) for
  each h ∈ H. Without one — ``genlab eval`` has only A and B — the leave-one-out distances
  δ_i = min_{j ≠ i} ‖φ(t_i) − φ(t_j)‖ of up to `NULL_SIZE` training images stand in: by
  exchangeability a training image's distance to the other n − 1 is distributed as a fresh real
  image's distance to n − 1 training images (one image fewer than T, a bias of order 1/n towards
  larger null distances, i.e. towards flagging slightly more). Holding out part of A instead
  would blind the test to copies of the held-out part.
- **Threshold.** τ = the k-th smallest of the m null distances, k = ⌊α(m + 1)⌋ (α = `ALPHA`,
  ``alpha``). A generated image is a *copy* when d(g) < τ: closer to the training set than all
  but a fraction α of real images the model never saw.
- **Bound.** For a real image exchangeable with the m null images (a true held-out set), its rank
  among the m + 1 distances is uniform, so P(d < τ) ≤ k/(m + 1) ≤ α: held-out real images are
  flagged at rate at most α (1 % by default) in expectation. Exact copies have d = 0 < τ (unless
  k of the null images have an exact twin in T, making τ = 0), so a model that copies gives a
  fraction of 1.
- **Fraction and interval.** memorization = copies / |B|, with the Clopper–Pearson interval.
  Meehan et al.'s Z_U (the Mann–Whitney statistic of the d(g) against the null distances,
  standardised; their C_T over one cell) is reported beside it: ≈ 0 when B is as far from T as
  unseen real images, clearly negative when B is closer (copying), positive when farther
  (underfitting).

This is not Alaa et al.'s (2022) authenticity, which flags g when d(g) is below its nearest
training image's own nearest-neighbour distance: held-out real images fail that rule about half of
the time, so it does not read as "a fraction of copies".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

from genlab.errors import GenlabError
from genlab.metrics import keys
from genlab.metrics.judges import clopper_pearson
from genlab.metrics.registry import MetricInputs
from genlab.metrics.validation import ArrayLike, as_feature_pair, as_feature_tensor

#: The null's level: the rate at which unseen real images are flagged, at most.
ALPHA = 0.01
#: Training images whose leave-one-out distances form the null when no held-out set is given.
NULL_SIZE = 2000
#: Closest (generated, training) pairs kept for the report.
PAIRS = 8
#: Rows of distances computed at once.
_CHUNK = 1024


@dataclass(frozen=True)
class MemorizationResult:
    """Outcome of `memorization`.

    Attributes
    ----------
    fraction
        Share of generated images closer to the training set than the threshold.
    low, high
        Clopper–Pearson interval of the fraction.
    copies
        Number of generated images flagged.
    threshold
        τ, in feature units.
    z
        Meehan et al.'s Z_U: < 0 when generated images are closer to T than unseen real ones.
    distances
        d(g) for every generated image, shape (|B|,).
    nearest
        Index in T of each generated image's nearest training image, shape (|B|,).
    null
        The m null distances, sorted.
    pairs
        The `PAIRS` closest (generated index, training index, distance), closest first.
    """

    fraction: float
    low: float
    high: float
    copies: int
    threshold: float
    z: float
    distances: torch.Tensor
    nearest: torch.Tensor
    null: torch.Tensor
    pairs: tuple[tuple[int, int, float], ...]


def memorization(
    train: ArrayLike,
    generated: ArrayLike,
    *,
    heldout: ArrayLike | None = None,
    alpha: float = ALPHA,
    null_size: int = NULL_SIZE,
    seed: int = 0,
    confidence: float = 0.95,
) -> MemorizationResult:
    """The fraction of ``generated`` that are near-copies of ``train`` (see the module docstring).

    Parameters
    ----------
    train, generated
        Features (n, d) of the training images T and (N, d) of the generated images.
    heldout
        Features of real images the model was not trained on: the null distances are theirs (a
        sharper test: exactly exchangeable with unseen images). None: leave-one-out distances of
        up to ``null_size`` training images, drawn with ``seed``.
    alpha
        Level of the threshold, in (0, 1): unseen real images are flagged at rate ≤ alpha.

    Raises
    ------
    GenlabError
        For a null of fewer than ⌈1/α⌉ − 1 distances (the threshold would be 0), bad features or
        a bad alpha.
    """
    if not 0 < alpha < 1:
        raise GenlabError(f"alpha must lie in (0, 1), got {alpha}")
    t, g = as_feature_pair(train, generated, what_a="training features", what_b="generated")
    t, g = t.double(), g.double()
    needed = math.ceil(1 / alpha) - 1
    if heldout is not None:
        h = as_feature_tensor(heldout, what="held-out features").to(t.device, torch.float64)
        if h.shape[1] != t.shape[1]:
            raise GenlabError(
                f"held-out features have {h.shape[1]} dimensions, training {t.shape[1]}"
            )
        null = nearest_neighbours(h, t)[0]
    else:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(len(t), size=min(null_size, len(t)), replace=False))
        null = nearest_neighbours(t[torch.from_numpy(rows)], t, exclude=rows)[0]
    m = len(null)
    if m < needed:
        source = "held-out images" if heldout is not None else "images of A (the training set)"
        raise GenlabError(
            f"memorization at level {alpha} needs at least {needed} {source} to set its "
            f"threshold, got {m}; pass more (--n-ref) or a larger alpha"
        )
    null = null.sort().values
    k = math.floor(alpha * (m + 1))
    threshold = float(null[k - 1])
    distances, nearest = nearest_neighbours(g, t)
    flagged = distances < threshold
    copies = int(flagged.sum())
    low, high = clopper_pearson(copies, len(g), confidence=confidence)
    order = distances.argsort()[:PAIRS]
    pairs = tuple((int(i), int(nearest[i]), float(distances[i])) for i in order)
    return MemorizationResult(
        fraction=copies / len(g),
        low=low,
        high=high,
        copies=copies,
        threshold=threshold,
        z=mann_whitney_z(distances.cpu().numpy(), null.cpu().numpy()),
        distances=distances,
        nearest=nearest,
        null=null,
        pairs=pairs,
    )


def nearest_neighbours(
    queries: torch.Tensor, reference: torch.Tensor, *, exclude: np.ndarray | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance from each query row to its nearest reference row, and that row's index.

    ``exclude[i]`` (optional) is a reference index that query i may not match: itself, for
    leave-one-out distances (excluded by index, so exact duplicates still count as neighbours).
    Computed `_CHUNK` queries at a time, so memory is O(chunk · n) not O(N · n).
    """
    indices = torch.empty(len(queries), dtype=torch.int64, device=queries.device)
    # Distances are translation invariant; centring keeps cdist's matrix-product form accurate
    # for features with a large common mean.
    offset = reference.mean(dim=0)
    reference = reference - offset
    for start in range(0, len(queries), _CHUNK):
        stop = min(start + _CHUNK, len(queries))
        block = torch.cdist(queries[start:stop] - offset, reference)
        if exclude is not None:
            rows = torch.arange(stop - start, device=block.device)
            block[rows, torch.from_numpy(exclude[start:stop]).to(block.device)] = torch.inf
        indices[start:stop] = block.argmin(dim=1)
    # The matrix-product form loses digits to cancellation (an exact copy comes out at 1e-8, not
    # 0); the distance to the chosen neighbour is recomputed directly, so copies are exactly 0.
    distances = (queries - offset - reference[indices]).norm(dim=1)
    return distances, indices


def mann_whitney_z(x: np.ndarray, y: np.ndarray) -> float:
    r"""Standardised Mann–Whitney statistic of x against y (Meehan et al. 2020's Z_U).

    U = Σ_{i,j} 1[x_i > y_j] + ½·1[x_i = y_j] (from the mid-ranks of the pooled sample), and
    Z = (U − mn/2) / √(mn(m + n + 1)/12), the normal approximation without tie correction:
    negative when x tends to be smaller than y.
    """
    m, n = len(x), len(y)
    ranks = stats.rankdata(np.concatenate([x, y]))
    u = ranks[:m].sum() - m * (m + 1) / 2
    return float((u - m * n / 2) / math.sqrt(m * n * (m + n + 1) / 12))


def memorization_metric(inputs: MetricInputs) -> dict[str, object]:
    """`memorization` of B against A's features (A: the training images); the null distances
    are the held-out images' when given, else leave-one-out distances within A."""
    heldout = inputs.heldout.features if inputs.heldout is not None else None
    result = memorization(
        inputs.a.features, inputs.b.features, heldout=heldout, seed=inputs.options.seed
    )
    return {
        keys.MEMORIZATION: result.fraction,
        keys.MEMORIZATION + keys.CI_LOW_SUFFIX: result.low,
        keys.MEMORIZATION + keys.CI_HIGH_SUFFIX: result.high,
        keys.MEMORIZATION_THRESHOLD: result.threshold,
        keys.MEMORIZATION_Z: result.z,
        keys.MEMORIZATION_PAIRS: [list(pair) for pair in result.pairs],
    }

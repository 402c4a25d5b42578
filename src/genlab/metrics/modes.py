"""Mode coverage from a classifier's predictions: the classic check for GAN mode collapse.

A classifier trained on the real data (e.g. `genlab.metrics.features.classifier`) labels each
generated sample; a generator that covers the data's modes spreads its samples over all classes in
about the data's proportions, a collapsed one piles them onto a few. This is how mode collapse is
counted on MNIST and Stacked MNIST by Metz et al. 2017 ("Unrolled Generative Adversarial
Networks") and Srivastava et al. 2017 ("VEEGAN"): the number of classes that receive samples, and
the KL divergence from the predicted class histogram to the uniform distribution.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from genlab.errors import GenlabError
from genlab.metrics.keys import MODE_CONFIDENCE, MODE_COUNTS, MODE_KL_UNIFORM, MODES_COVERED

# float32 softmax rows sum to 1 within a few ulps; a larger gap means logits or scores were passed.
_ROW_SUM_TOLERANCE = 1e-3


def _as_probability_array(probabilities: Any, num_classes: int) -> np.ndarray:
    if hasattr(probabilities, "detach"):  # a torch tensor, on any device
        probabilities = probabilities.detach().cpu().numpy()
    array = np.asarray(probabilities)
    if array.ndim != 2 or array.shape[1] != num_classes or array.shape[0] == 0:
        raise GenlabError(
            f"probabilities must have shape (N, {num_classes}) with N ≥ 1, got {array.shape}; "
            "pass the classifier's per-sample class probabilities"
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise GenlabError(f"probabilities must be floats, got {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise GenlabError("probabilities contain NaN or infinite values; check the classifier")
    row_sums = array.sum(axis=1)
    if array.min() < 0 or np.abs(row_sums - 1.0).max() > _ROW_SUM_TOLERANCE:
        raise GenlabError(
            "probabilities must be non-negative with rows summing to 1 (found row sums from "
            f"{row_sums.min():.4g} to {row_sums.max():.4g}); apply a softmax to logits first"
        )
    return array


def mode_coverage(
    probabilities: Any,
    *,
    num_classes: int = 10,
    min_count: int = 1,
    min_fraction: float = 0.0,
) -> dict[str, Any]:
    """Modes covered, KL to uniform and confidence of predicted class probabilities.

    Each sample i is assigned its predicted class ŷᵢ = argmaxₖ pᵢₖ (ties go to the lowest class
    index). With nₖ = #{i : ŷᵢ = k} and the histogram q̂ₖ = nₖ / N:

    - modes covered = #{k : nₖ ≥ max(min_count, ⌈min_fraction · N⌉)};
    - KL(q̂ ‖ u) = Σₖ q̂ₖ log(q̂ₖ K) = log K − H(q̂), in nats, with 0 log 0 = 0; it lies in
      [0, log K]: 0 when every class gets N/K samples, log K when all fall into one class;
    - confidence = (1/N) Σᵢ maxₖ pᵢₖ.

    The uniform reference assumes balanced classes in the real data (MNIST's digit frequencies
    range from 9.0% to 11.2% of the training set, so its own KL to uniform is 0.0014 nats, not 0).

    Parameters
    ----------
    probabilities
        (N, ``num_classes``) class probabilities, numpy or torch, float32 or float64; rows must
        be non-negative and sum to 1.
    num_classes
        K, the number of classes (modes) of the real data.
    min_count, min_fraction
        A class counts as covered when at least ``min_count`` samples and at least a fraction
        ``min_fraction`` of all samples are predicted as it (the defaults: at least one sample).
        A threshold ignores classes reached only by a few misclassified samples.

    Returns
    -------
    dict
        `MODES_COVERED` (int), `MODE_KL_UNIFORM` (float, nats), `MODE_CONFIDENCE` (float),
        `MODE_COUNTS` (list of K ints).
    """
    if num_classes < 1:
        raise GenlabError(f"num_classes must be at least 1, got {num_classes}")
    if min_count < 1:
        raise GenlabError(f"min_count must be at least 1, got {min_count}")
    if not 0.0 <= min_fraction <= 1.0:
        raise GenlabError(f"min_fraction must be in [0, 1], got {min_fraction}")
    array = _as_probability_array(probabilities, num_classes)
    total = array.shape[0]
    counts = np.bincount(array.argmax(axis=1), minlength=num_classes)
    threshold = max(min_count, math.ceil(min_fraction * total))
    histogram = counts[counts > 0] / total
    kl = float(np.sum(histogram * np.log(histogram * num_classes)))
    return {
        MODES_COVERED: int(np.count_nonzero(counts >= threshold)),
        # Clipped at 0: for an exactly uniform histogram rounding can give -1e-17.
        MODE_KL_UNIFORM: max(kl, 0.0),
        MODE_CONFIDENCE: float(array.max(axis=1).mean()),
        MODE_COUNTS: [int(c) for c in counts],
    }

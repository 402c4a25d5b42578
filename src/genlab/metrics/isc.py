"""Inception Score (IS): how confidently and how diversely a classifier labels generated images.

Salimans et al. (2016), "Improved Techniques for Training GANs":

    IS = exp( E_x KL( p(y|x) ‖ p(y) ) ),   p(y) = E_x p(y|x),

high when each image gets a confident label (low-entropy p(y|x)) and the labels are spread over
many classes (high-entropy p(y)); it lies in [1, K] for K classes. The standard protocol feeds
50 000 images to the FID Inception network, takes the softmax of its 1008 logits, and reports the
mean and standard deviation of IS over 10 consecutive splits.
"""

from __future__ import annotations

import numpy as np
import torch

from genlab.errors import GenlabError
from genlab.metrics.validation import ArrayLike, as_feature_tensor

#: A probability row may differ from summing to 1 by this much (float32 softmax round-off).
_SUM_TOLERANCE = 1e-3


def inception_score(
    logits_or_probs: ArrayLike, *, splits: int = 10, from_logits: bool = True
) -> tuple[float, float]:
    """Mean and standard deviation of the Inception Score over consecutive splits.

    The N rows are cut into ``splits`` consecutive parts of ⌊N/splits⌋ or ⌈N/splits⌉ rows; in
    each part, with p(y) the mean of its rows p(y|x),

        IS_part = exp( mean_x Σ_y p(y|x) (log p(y|x) − log p(y)) ),

    using 0·log 0 = 0. Computed in float64.

    Parameters
    ----------
    logits_or_probs : array (N, K)
        Classifier logits (``from_logits=True``, softmax applied here) or class probabilities.
    splits : int
        Number of parts (10 in the standard protocol); the std is over parts with ddof=0.
    from_logits : bool
        Whether the input is logits rather than probabilities.

    Returns
    -------
    (float, float)
        Mean and standard deviation of IS over the splits.

    Raises
    ------
    GenlabError
        If there are fewer rows than splits, or probabilities are negative or do not sum to 1.
    """
    what = "logits" if from_logits else "probabilities"
    if splits < 1:
        raise GenlabError(f"splits must be at least 1, got {splits}")
    values = as_feature_tensor(logits_or_probs, what=what, min_samples=splits).to(torch.float64)
    probs = torch.softmax(values, dim=1) if from_logits else _checked_probabilities(values)
    n = probs.shape[0]
    scores = [
        _split_score(probs[index * n // splits : (index + 1) * n // splits])
        for index in range(splits)
    ]
    return float(np.mean(scores)), float(np.std(scores))


def _split_score(probs: torch.Tensor) -> float:
    marginal = probs.mean(dim=0, keepdim=True)
    kl_per_row = (torch.xlogy(probs, probs) - torch.xlogy(probs, marginal)).sum(dim=1)
    return float(torch.exp(kl_per_row.mean()))


def _checked_probabilities(probs: torch.Tensor) -> torch.Tensor:
    if float(probs.min()) < 0:
        raise GenlabError(
            "probabilities must be non-negative; pass logits with from_logits=True instead"
        )
    sums = probs.sum(dim=1)
    worst = float((sums - 1).abs().max())
    if worst > _SUM_TOLERANCE:
        raise GenlabError(
            f"probability rows must sum to 1 (worst row is off by {worst:.3g}); "
            "pass logits with from_logits=True or normalise the rows"
        )
    # Remove float32 round-off so each row is an exact distribution for the KL.
    return probs / sums[:, None]

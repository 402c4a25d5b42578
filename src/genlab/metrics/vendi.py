r"""The Vendi score: the effective number of distinct images in a set.

Friedman & Dieng, "The Vendi Score: A Diversity Evaluation Metric for Machine Learning", TMLR 2023.
For n samples with a similarity kernel k (k(x, x) = 1) and K_ij = k(x_i, x_j), let λ_1..λ_n be the
eigenvalues of K/n (non-negative, summing to 1). Then

.. math::

    \mathrm{VS} = \exp\Big(-\sum_i \lambda_i \log \lambda_i\Big),

the exponential of the Shannon entropy of the spectrum (0 log 0 = 0). n identical samples give
K = 11ᵀ, one eigenvalue 1, VS = 1; n mutually orthogonal ones give K = I, n eigenvalues 1/n,
VS = n. In between it counts "how many different things" the set holds, whatever they are.

The kernel here is the paper's choice for embeddings, the cosine similarity
k(x, y) = xᵀy / (‖x‖‖y‖). It is linear in the normalised rows X̂, so K/n = X̂X̂ᵀ/n has the same
non-zero eigenvalues as the d × d matrix X̂ᵀX̂/n: the score costs O(n d² + d³), not O(n³).
"""

from __future__ import annotations

import math

import torch

from genlab.errors import GenlabError
from genlab.metrics import keys
from genlab.metrics.registry import MetricInputs
from genlab.metrics.validation import ArrayLike, as_feature_tensor


def vendi_score(features: ArrayLike) -> float:
    """The Vendi score of (n, d) features with the cosine-similarity kernel (float64 maths).

    Raises
    ------
    GenlabError
        For a row of zeros (its cosine similarity is undefined) or bad features.
    """
    x = as_feature_tensor(features, what="features").detach().double()
    norms = x.norm(dim=1, keepdim=True)
    zero = int((norms == 0).sum())
    if zero:
        raise GenlabError(
            f"{zero} feature rows are all zeros, which have no cosine similarity; the Vendi "
            "score needs non-zero features (use another extractor or drop blank images)"
        )
    x = x / norms
    n, d = x.shape
    # The smaller Gram matrix has the same non-zero spectrum.
    gram = x @ x.T if n <= d else x.T @ x
    eigenvalues = torch.linalg.eigvalsh(gram / n).clamp_min(0.0)
    # Round-off leaves tiny positive eigenvalues where exact ones are 0; 0 log 0 = 0 for them.
    positive = eigenvalues[eigenvalues > 1e-12]
    entropy = -(positive * positive.log()).sum().item()
    return math.exp(entropy)


def vendi_metric(inputs: MetricInputs) -> dict[str, float]:
    """The Vendi score of B's features."""
    return {keys.VENDI: vendi_score(inputs.b.features)}

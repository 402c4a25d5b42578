r"""Kullback–Leibler and Jensen–Shannon divergences of discrete distributions (histograms).

Both take two histograms over the same bins — counts or probabilities, numpy arrays or torch
tensors — normalise each to sum to one along ``axis``, and work on every leading index at once.

The pair shows the lecture's point about disjoint supports: KL(P‖Q) is +∞ as soon as P puts mass
where Q has none, and JS saturates at log 2 for any two disjoint distributions, however near or far
(Arjovsky et al., "Wasserstein GAN", ICML 2017, Example 1).
"""

from __future__ import annotations

import math

import numpy as np

from genlab.divergences._backend import ArrayLike, as_float64
from genlab.errors import GenlabError


def kl_divergence(
    p: ArrayLike,
    q: ArrayLike,
    *,
    axis: int = -1,
    base: float | None = None,
    return_support: bool = False,
) -> float | np.ndarray | tuple[float | np.ndarray, np.ndarray | tuple[np.ndarray, ...]]:
    r"""Kullback–Leibler divergence KL(P‖Q) of two histograms over the same bins.

    .. math::

        \mathrm{KL}(P\,\|\,Q) = \sum_i p_i \log \frac{p_i}{q_i},

    with the conventions 0 log(0/q) = 0 and p log(p/0) = +∞ for p > 0. The result is +∞ exactly
    when P charges a bin that Q does not (P is not absolutely continuous w.r.t. Q); otherwise it is
    finite and ≥ 0, with equality iff P = Q (Cover & Thomas, *Elements of Information Theory*,
    section 2.3).

    Parameters
    ----------
    p, q
        Non-negative weights (counts or probabilities) of the same shape, or shapes that broadcast;
        each is divided by its sum along ``axis``. numpy or torch, any float dtype.
    axis
        The axis that indexes bins; all other axes index independent pairs of histograms.
    base
        Logarithm base: None for nats (natural log), 2 for bits.
    return_support
        Also return where the divergence is infinite: the bins with p > 0 and q = 0.

    Returns
    -------
    float or numpy.ndarray
        KL(P‖Q): a float for 1-D inputs, else a float64 array over the leading (non-bin) axes.
    support : numpy.ndarray or tuple of numpy.ndarray
        Only with ``return_support``: for 1-D inputs the integer indices of the offending bins;
        otherwise a tuple of index arrays, as `numpy.nonzero` gives, into the broadcast shape.

    Raises
    ------
    GenlabError
        Negative or non-finite weights, a histogram summing to zero, or incompatible shapes.
    """
    p_norm, q_norm = _normalised_pair(p, q, axis=axis)
    p_pos = p_norm > 0
    offending = p_pos & (q_norm == 0)
    # log p - log q rather than log(p / q): the ratio can overflow to inf for a tiny q > 0.
    with np.errstate(divide="ignore"):
        log_ratio = np.log(np.where(p_pos, p_norm, 1.0)) - np.log(np.where(p_pos, q_norm, 1.0))
    terms = np.where(p_pos, p_norm * log_ratio, 0.0)
    divergence = np.sum(terms, axis=axis)
    divergence = _in_base(divergence, base)
    result = _scalar_if_0d(divergence)
    if not return_support:
        return result
    support = np.flatnonzero(offending) if offending.ndim == 1 else np.nonzero(offending)
    return result, support


def js_divergence(
    p: ArrayLike, q: ArrayLike, *, axis: int = -1, base: float | None = None
) -> float | np.ndarray:
    r"""Jensen–Shannon divergence of two histograms over the same bins.

    .. math::

        \mathrm{JS}(P, Q) = \tfrac12 \mathrm{KL}(P\,\|\,M) + \tfrac12 \mathrm{KL}(Q\,\|\,M),
        \qquad M = \tfrac12 (P + Q).

    Symmetric, always finite (M charges every bin P or Q charges), 0 iff P = Q, and at most log 2
    nats (1 bit), reached exactly when the supports are disjoint (Lin, "Divergence measures based on
    the Shannon entropy", IEEE Trans. Inf. Theory 1991). The GAN discriminator's optimal value is
    2·JS(P, Q) - log 4 (Goodfellow et al. 2014, Theorem 1). Its square root is a metric; scipy's
    ``jensenshannon`` returns that root.

    Parameters
    ----------
    p, q
        Non-negative weights, normalised along ``axis`` as in `kl_divergence`.
    axis
        The axis that indexes bins.
    base
        Logarithm base: None for nats (JS ≤ log 2), 2 for bits (JS ≤ 1).

    Returns
    -------
    float or numpy.ndarray
        JS(P, Q): a float for 1-D inputs, else a float64 array over the leading axes.
    """
    p_norm, q_norm = _normalised_pair(p, q, axis=axis)
    mixture = 0.5 * (p_norm + q_norm)
    divergence = 0.5 * _kl_to_mixture(p_norm, mixture, axis) + 0.5 * _kl_to_mixture(
        q_norm, mixture, axis
    )
    # Rounding can leave -1e-17 for identical inputs; JS is non-negative by Jensen's inequality.
    divergence = np.maximum(divergence, 0.0)
    return _scalar_if_0d(_in_base(divergence, base))


def _kl_to_mixture(p: np.ndarray, mixture: np.ndarray, axis: int) -> np.ndarray:
    # Where p > 0 the mixture is ≥ p/2 > 0, so the ratio p/m lies in (0, 2]: no overflow, and for
    # disjoint supports it is exactly 2, which makes JS = log 2 to rounding of the sums.
    positive = p > 0
    ratio = np.where(positive, p, 1.0) / np.where(positive, mixture, 1.0)
    return np.sum(np.where(positive, p * np.log(ratio), 0.0), axis=axis)


def _normalised_pair(p: ArrayLike, q: ArrayLike, *, axis: int) -> tuple[np.ndarray, np.ndarray]:
    p_arr = as_float64(p, name="p")
    q_arr = as_float64(q, name="q")
    try:
        p_arr, q_arr = np.broadcast_arrays(p_arr, q_arr)
    except ValueError as exc:
        raise GenlabError(
            f"p and q must have broadcastable shapes over the same bins, got {p_arr.shape} "
            f"and {q_arr.shape}"
        ) from exc
    if p_arr.ndim == 0:
        raise GenlabError("p and q must be histograms (at least one axis of bins), got scalars")
    return _normalised(p_arr, axis=axis, name="p"), _normalised(q_arr, axis=axis, name="q")


def _normalised(weights: np.ndarray, *, axis: int, name: str) -> np.ndarray:
    if np.any(weights < 0):
        raise GenlabError(f"{name} has negative entries; a histogram needs weights ≥ 0")
    totals = np.sum(weights, axis=axis, keepdims=True)
    if np.any(totals <= 0):
        raise GenlabError(f"{name} has a histogram summing to zero; every histogram needs mass")
    return weights / totals


def _in_base(nats: np.ndarray, base: float | None) -> np.ndarray:
    if base is None:
        return nats
    if not base > 0 or base == 1:
        raise GenlabError(f"logarithm base must be positive and not 1, got {base}")
    return nats / math.log(base)


def _scalar_if_0d(values: np.ndarray) -> float | np.ndarray:
    return float(values) if np.ndim(values) == 0 else values

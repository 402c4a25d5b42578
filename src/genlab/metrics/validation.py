"""Input checks shared by every metric: one place that turns bad features into a clear error.

The conversion and the finiteness and dimension checks are `genlab.arrays`' (shared with
`genlab.divergences`); this module adds what is particular to feature sets: (N, d) shape, dtype
promotion, a common device, and the FID bias warning.

Features are 2-D arrays of shape (N, d), one row per image, given as a NumPy array or a torch
tensor. The checks run before any maths so that a wrong shape or a NaN row is reported in terms of
the user's data ("features_b has 3 rows with NaN or inf values") rather than as a LinAlgError from
deep inside an eigensolver.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from genlab.arrays import check_finite, check_same_dimension, to_tensor
from genlab.errors import GenlabError

ArrayLike = np.ndarray | torch.Tensor
_FIX_NON_FINITE = "drop or fix those samples (often a diverged model) before computing metrics"


class FIDBiasWarning(UserWarning):
    """Fewer samples than feature dimensions: the covariance is singular and FID is biased.

    With N samples in d dimensions the sample covariance has rank at most N − 1, so for N ≤ d it is
    singular and FID (whose bias grows like d/N) overstates the distance by a large amount. Use more
    samples (the usual protocol is 50 000 against the 2048-D Inception features) or compare FID only
    between runs with the same N.
    """


def as_feature_tensor(
    features: ArrayLike, *, what: str = "features", min_samples: int = 1
) -> torch.Tensor:
    """Return ``features`` as a floating torch tensor of shape (N, d) after checking it.

    NumPy input is wrapped without a copy. Floating dtypes narrower than float32 (float16,
    bfloat16) become float32 and integer or boolean input becomes float64, so that the arithmetic
    downstream never runs in a format too narrow for sums over thousands of rows.

    Raises
    ------
    GenlabError
        If the input is not 2-D, has fewer than ``min_samples`` rows, has no columns, or holds
        NaN or infinite values (the message counts the offending rows).
    """
    tensor = to_tensor(features, what=what)
    if tensor.ndim != 2:
        raise GenlabError(
            f"{what} must be 2-D (N samples × d features), got shape {tuple(tensor.shape)}; "
            "flatten each sample to one row"
        )
    n, d = tensor.shape
    if d == 0:
        raise GenlabError(f"{what} has 0 feature columns; pass features of shape (N, d) with d ≥ 1")
    if n < min_samples:
        raise GenlabError(
            f"{what} has {n} rows but at least {min_samples} are needed; pass more samples"
        )
    tensor = _promote_dtype(tensor)
    check_finite(tensor, what, fix=_FIX_NON_FINITE)
    return tensor


def as_feature_pair(
    features_a: ArrayLike,
    features_b: ArrayLike,
    *,
    what_a: str = "features_a",
    what_b: str = "features_b",
    min_samples: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check two feature sets and return them as tensors with one common dtype and device.

    Raises
    ------
    GenlabError
        If either set fails `as_feature_tensor`, or the two have different feature dimensions or
        live on different devices.
    """
    a = as_feature_tensor(features_a, what=what_a, min_samples=min_samples)
    b = as_feature_tensor(features_b, what=what_b, min_samples=min_samples)
    check_same_dim(a.shape[1], b.shape[1], what_a=what_a, what_b=what_b)
    if a.device != b.device:
        raise GenlabError(
            f"{what_a} is on {a.device} but {what_b} is on {b.device}; move both to one device"
        )
    dtype = torch.promote_types(a.dtype, b.dtype)
    return a.to(dtype), b.to(dtype)


def check_same_dim(dim_a: int, dim_b: int, *, what_a: str, what_b: str) -> None:
    """Raise if two feature sets (or statistics) have different feature dimensions."""
    check_same_dimension(
        dim_a,
        dim_b,
        what_a=what_a,
        what_b=what_b,
        fix="both must come from the same feature extractor",
    )


def warn_if_rank_deficient(n: int | None, d: int, *, what: str = "features") -> None:
    """Warn with `FIDBiasWarning` when ``n`` samples cannot give a full-rank d×d covariance.

    ``n`` None (unknown: statistics from an external file) is not checked.
    """
    if n is not None and n <= d:
        warnings.warn(
            f"{what}: {n} samples in {d} dimensions give a singular covariance (rank ≤ {n - 1}), "
            "so FID is strongly biased; use more samples than feature dimensions",
            FIDBiasWarning,
            stacklevel=3,
        )


def _promote_dtype(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.is_complex():
        raise GenlabError(f"features must be real, got {tensor.dtype}; pass real-valued features")
    if not tensor.is_floating_point():
        return tensor.to(torch.float64)
    if torch.finfo(tensor.dtype).bits < 32:
        return tensor.to(torch.float32)
    return tensor

"""Input conversion shared by the divergence functions (on top of `genlab.arrays`).

Every distance here accepts numpy arrays or torch tensors of any float dtype on any device, and
computes in float64 numpy on the CPU: these are evaluation tools, where a float32 rounding error in
a log-ratio or a sorted cumulative sum would be larger than the quantity measured. (The training
losses that need gradients live in `genlab.objectives`.)
"""

from __future__ import annotations

import numpy as np

from genlab.arrays import ArrayLike, as_float64, check_same_dimension
from genlab.errors import GenlabError

__all__ = ["ArrayLike", "as_float64", "as_generator", "as_points", "as_weights", "same_dimension"]


def as_points(values: ArrayLike, *, name: str, min_count: int = 1) -> np.ndarray:
    """A sample of points as an (n, d) float64 array; a 1-D input is n points on the line."""
    array = as_float64(values, name=name)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise GenlabError(
            f"{name} must be points of shape (n, d) (or (n,) on the line), got {array.shape}; "
            "flatten images with x.reshape(len(x), -1)"
        )
    if array.shape[0] < min_count:
        raise GenlabError(f"{name} needs at least {min_count} points, got {array.shape[0]}")
    return array


def same_dimension(x: np.ndarray, y: np.ndarray, *, names: tuple[str, str] = ("x", "y")) -> None:
    """Raise unless two (n, d) samples live in the same space."""
    check_same_dimension(
        x.shape[1],
        y.shape[1],
        what_a=names[0],
        what_b=names[1],
        fix="both must have the same dimension",
    )


def as_weights(weights: ArrayLike | None, count: int, *, name: str) -> np.ndarray:
    """Probability weights of ``count`` points (uniform when None), normalised to sum to one."""
    if weights is None:
        return np.full(count, 1.0 / count)
    array = as_float64(weights, name=name)
    if array.shape != (count,):
        raise GenlabError(
            f"{name} must have shape ({count},) to match the points, got {array.shape}"
        )
    if np.any(array < 0) or not array.sum() > 0:
        raise GenlabError(f"{name} must be non-negative with a positive sum")
    return array / array.sum()


def as_generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A numpy generator from a seed (or the generator itself, to continue its stream)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)

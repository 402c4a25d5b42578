"""Array conversion and input checks shared by `genlab.metrics` and `genlab.divergences`.

Both accept NumPy arrays or torch tensors. Metrics keep torch tensors (their dtype and device,
`to_tensor`); the divergences compute in float64 NumPy on the CPU (`as_float64`). Either way the
checks are these: real numbers only, no NaN or infinity (`check_finite`, which counts the bad rows
so that the message speaks of the user's data), two samples of one dimension
(`check_same_dimension`), and counts that are integers of at least some minimum (`check_integer`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genlab.errors import GenlabError

#: NumPy array, torch tensor (or, for `as_float64`, a nested sequence of numbers).
ArrayLike = Any


def check_integer(value: Any, name: str, *, minimum: int = 1, or_none: bool = False) -> None:
    """Raise unless ``value`` is an int (not a bool) of at least ``minimum`` (or None if allowed).

    The message reads ``batch_size must be a positive integer, got 0`` for ``minimum=1``, else
    ``ci_resamples must be an integer of at least 2, got 1``.
    """
    if or_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        rule = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
        raise GenlabError(f"{name} must be {rule}{' or None' if or_none else ''}, got {value!r}")


def to_tensor(values: ArrayLike, *, what: str) -> torch.Tensor:
    """A torch tensor of ``values`` (NumPy arrays wrapped without a copy; tensors detached)."""
    if isinstance(values, torch.Tensor):
        return values.detach()
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "biuf":
            raise GenlabError(
                f"{what} must hold real numbers, got NumPy dtype {values.dtype}; convert it"
            )
        return torch.from_numpy(np.ascontiguousarray(values))
    raise GenlabError(
        f"{what} must be a NumPy array or a torch tensor, got {type(values).__name__}"
    )


def as_float64(values: ArrayLike, *, name: str) -> np.ndarray:
    """``values`` as a float64 NumPy array on the CPU; NaN or infinite entries raise."""
    if isinstance(values, torch.Tensor):
        array = values.detach().to("cpu", torch.float64).numpy()
    else:
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise GenlabError(
                f"{name} must be an array of numbers, got {type(values).__name__}"
            ) from exc
    check_finite(array, name, fix="remove them before measuring")
    return array


def check_finite(values: np.ndarray | torch.Tensor, what: str, *, fix: str) -> None:
    """Raise when ``values`` hold NaN or infinity, counting the rows (2-D) or entries that do."""
    if isinstance(values, torch.Tensor):
        bad = ~torch.isfinite(values)
        if not bool(bad.any()):
            return
        per_row = bad.reshape(bad.shape[0], -1).any(dim=1) if bad.ndim >= 2 else bad.reshape(-1)
        count, total = int(per_row.sum()), per_row.numel()
    else:
        bad = ~np.isfinite(values)
        if not bad.any():
            return
        per_row = bad.reshape(bad.shape[0], -1).any(axis=1) if bad.ndim >= 2 else bad.reshape(-1)
        count, total = int(per_row.sum()), per_row.size
    unit = "rows" if values.ndim >= 2 else "entries"
    raise GenlabError(f"{what} has {count} of {total} {unit} with NaN or inf values; {fix}")


def check_same_dimension(dim_a: int, dim_b: int, *, what_a: str, what_b: str, fix: str) -> None:
    """Raise unless two samples (or their statistics) have the same number of features."""
    if dim_a != dim_b:
        raise GenlabError(
            f"{what_a} has {dim_a} features per sample but {what_b} has {dim_b}; {fix}"
        )


__all__ = [
    "ArrayLike",
    "as_float64",
    "check_finite",
    "check_integer",
    "check_same_dimension",
    "to_tensor",
]

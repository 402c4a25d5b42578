"""Batch-parallel inference on CPU: one part of each batch per core, one thread per part.

torch parallelises each operator over its threads (intra-op). That is efficient on large
tensors, but a feature network's late layers are small (Inception's last blocks are 8×8), and
every operator ends in a barrier where the threads wait for each other. Running the parts of a
batch side by side instead, each on one thread, keeps every core busy from the first layer to
the last: the per-thread efficiency of one-thread inference with the core count of intra-op.

Each lane is a Python thread (torch releases the GIL inside operators) whose own intra-op
thread count is 1. A thread's count is its own once it has run or asked for it, but
`torch.set_num_threads` also sets the default that threads started later begin with; so the
caller's count is read before the lanes start and set again after, which restores that default.
inference mode and autocast are thread-local in torch, so the work function sets them up itself.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch


def _one_intra_op_thread() -> None:
    torch.set_num_threads(1)


class Lanes:
    """Maps a batch function over the parts of a batch, ``lanes`` parts side by side.

    ``lanes(fn, batch)`` equals ``fn(batch)`` up to float rounding (a convolution sums in an
    order that may depend on its batch and thread count) and keeps the order of the rows.
    With one lane, or a batch of one, it is exactly ``fn(batch)``.
    """

    def __init__(self, lanes: int) -> None:
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, got {lanes}")
        self.lanes = lanes
        self._pool: ThreadPoolExecutor | None = None

    def __call__(
        self, fn: Callable[[torch.Tensor], torch.Tensor], batch: torch.Tensor
    ) -> torch.Tensor:
        parts = min(self.lanes, batch.shape[0])
        if parts <= 1:
            return fn(batch)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self.lanes, thread_name_prefix="genlab-lane", initializer=_one_intra_op_thread
            )
        threads = torch.get_num_threads()  # fixes the caller's own count before the lanes start
        try:
            return torch.cat(list(self._pool.map(fn, batch.tensor_split(parts))))
        finally:
            torch.set_num_threads(threads)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def cpu_lanes(device: torch.device) -> int:
    """How many lanes a network on ``device`` runs: torch's thread count on CPU, else 1."""
    return torch.get_num_threads() if device.type == "cpu" else 1

"""Many processes, one job: the small part of ``torch.distributed`` that genlab uses.

``torchrun --nproc_per_node N -m genlab train ...`` starts N copies of genlab and tells each its
place through environment variables: ``RANK`` (0 … WORLD_SIZE-1, unique over all machines),
``WORLD_SIZE`` and ``LOCAL_RANK`` (the GPU index on this machine). `init` reads them and joins
the process group; without them (a plain ``genlab train``) nothing is initialised and every
function here is a cheap no-op — `rank` is 0, `world_size` 1, a gather returns its input — so
single-process code pays nothing for being multi-process-ready.

The process group has two backends: NCCL for CUDA tensors (GPU-to-GPU, the fast path) and gloo
for CPU tensors (object collectives, the feature gathers of evaluation, and whole jobs on CPU).

Conventions:

- rank 0 is the *main* process: it alone writes files (run folder, checkpoints, logs, caches)
  and shows progress bars;
- a global batch of B rows is split into W equal shards, rank r taking rows r·B/W … (r+1)·B/W−1,
  so B must be divisible by W (`local_batch_size`);
- every rank must call the collectives here in the same order; a decision that only rank 0 can
  take (a new run folder, reading a checkpoint) goes through `run_on_main`, which broadcasts its
  result — or its error, so that no rank waits forever for a rank that failed.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from genlab.errors import GenlabError

#: Environment variables torchrun sets in every process it starts.
ENV_WORLD_SIZE = "WORLD_SIZE"
ENV_LOCAL_RANK = "LOCAL_RANK"

T = TypeVar("T")


def launched() -> bool:
    """Whether this process was started by torchrun (or similar) as one of several."""
    return int(os.environ.get(ENV_WORLD_SIZE, "1")) > 1


def active() -> bool:
    """Whether a process group of more than one process is up."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def init() -> bool:
    """Join the process group described by torchrun's environment variables; idempotent.

    Returns whether this process is one of several. On a machine with CUDA, the process's GPU is
    ``cuda:LOCAL_RANK`` from here on (``torch.device("cuda")`` means that one), so code that
    says "cuda" needs no rank arithmetic.
    """
    if not launched():
        return False
    if dist.is_initialized():
        return active()
    if not dist.is_available():
        raise GenlabError(
            "this torch build has no torch.distributed; run without torchrun, or install a torch "
            "with distributed support"
        )
    backend = "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank())
        # CPU tensors (object broadcasts, gathered features) still need gloo.
        backend = "cpu:gloo,cuda:nccl"
    dist.init_process_group(backend=backend)
    atexit.register(cleanup)
    return active()


def cleanup() -> None:
    """Leave the process group (safe to call twice, or when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def finish() -> None:
    """End this process's part of a job that went well: wait for every rank, then leave.

    Without the wait, a rank with nothing left to do exits while rank 0 still writes (the report,
    the last checkpoint), and torchrun stops the whole job as soon as any process ends badly.
    Leaving explicitly, before the interpreter shuts down, keeps gloo's worker threads from being
    torn down during finalisation, which aborts the process ("terminate called without an active
    exception").
    """
    if active():
        dist.barrier()
    cleanup()


def rank() -> int:
    """This process's rank, 0 … world_size() − 1 (0 without a process group)."""
    return dist.get_rank() if active() else 0


def world_size() -> int:
    """Number of processes in the job (1 without a process group)."""
    return dist.get_world_size() if active() else 1


def local_rank() -> int:
    """This process's index on its machine (torchrun's ``LOCAL_RANK``; 0 when not launched)."""
    return int(os.environ.get(ENV_LOCAL_RANK, "0"))


def is_main() -> bool:
    """Whether this is rank 0, the process that writes files and prints."""
    return rank() == 0


def barrier() -> None:
    """Wait until every process reaches this point."""
    if active():
        dist.barrier()


def local_batch_size(global_batch: int) -> int:
    """Rows of a global batch that each process handles; an error unless it divides evenly."""
    world = world_size()
    if global_batch % world:
        lower = max(world, global_batch - global_batch % world)
        raise GenlabError(
            f"--batch-size {global_batch} is the global batch, split evenly over {world} "
            f"processes, so it must be divisible by {world}; use {lower} or "
            f"{lower + world}"
        )
    return global_batch // world


def shard_rows(batch: torch.Tensor) -> torch.Tensor:
    """This rank's equal share of a global batch: rows r·b … (r+1)·b − 1 with b = B / world."""
    if not active():
        return batch
    size = local_batch_size(batch.shape[0])
    start = rank() * size
    return batch[start : start + size]


def mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of ``value`` over processes (a detached copy; ``value`` itself is unchanged).

    With equal shards, the mean of per-process batch means is the mean over the global batch.
    """
    value = value.detach()
    if not active():
        return value
    total = value.clone()
    dist.all_reduce(total)  # gloo has no AVG: sum, then divide
    return total / world_size()


def any_true(flag: bool) -> bool:
    """Whether ``flag`` is true on any process (so that all take the same branch)."""
    if not active():
        return flag
    value = torch.tensor([int(flag)])  # a CPU tensor: gloo carries it
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def maximum(value: float) -> float:
    """The largest ``value`` over processes (e.g. of their clocks, so that all agree)."""
    if not active():
        return value
    largest = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(largest, op=dist.ReduceOp.MAX)
    return float(largest.item())


def broadcast_object(value: T, *, src: int = 0) -> T:
    """``value`` of rank ``src`` on every process (pickled; for small python objects)."""
    if not active():
        return value
    box = [value if rank() == src else None]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_objects(value: Any) -> list[Any]:
    """Every process's ``value``, in rank order, on every process (pickled; small objects)."""
    if not active():
        return [value]
    values: list[Any] = [None] * world_size()
    dist.all_gather_object(values, value)
    return values


def all_gather_rows(rows: torch.Tensor | None) -> list[torch.Tensor | None]:
    """Each process's ``rows`` (any number along dim 0, or None), in rank order, everywhere.

    The tensors may differ in length but not in trailing shape or dtype; a process with nothing
    to give passes None (its entry stays None). Shorter tensors are padded to the longest for the
    collective and cut back after, so the values arrive bit for bit.
    """
    if not active():
        return [rows]
    shapes = all_gather_objects(
        None if rows is None else (tuple(rows.shape), rows.dtype, rows.device.type)
    )
    given = [shape for shape in shapes if shape is not None]
    if not given:
        return [None] * len(shapes)
    trailing, dtype, device_type = given[0][0][1:], given[0][1], given[0][2]
    if any(
        shape[1:] != trailing or (kind, where) != (dtype, device_type)
        for shape, kind, where in given
    ):
        raise GenlabError(f"cannot gather rows of different shapes, dtypes or devices: {shapes}")
    longest = max(shape[0] for shape, _, _ in given)
    # A process with no rows still takes part, with a tensor on the others' kind of device.
    device = rows.device if rows is not None else torch.device(device_type)
    padded = torch.zeros((longest, *trailing), dtype=dtype, device=device)
    if rows is not None:
        padded[: rows.shape[0]] = rows
    received = [torch.empty_like(padded) for _ in shapes]
    dist.all_gather(received, padded)
    return [
        None if shape is None else part[: shape[0][0]]
        for shape, part in zip(shapes, received, strict=True)
    ]


def gather_rows(rows: torch.Tensor) -> torch.Tensor:
    """The rows of every process concatenated in rank order (a global batch from its shards)."""
    parts = [part for part in all_gather_rows(rows) if part is not None]
    return torch.cat(parts) if len(parts) > 1 else parts[0]


def run_on_main(function: Callable[[], T]) -> T:
    """Run ``function`` on rank 0 only and return its result on every process.

    An exception on rank 0 is re-raised on every process (a `GenlabError` with its message), so
    the others stop too instead of waiting in the next collective.
    """
    if not active():
        return function()
    outcome: tuple[bool, Any] = (True, None)
    if is_main():
        try:
            outcome = (True, function())
        except GenlabError as error:
            outcome = (False, str(error))
        except Exception as error:  # re-raised below on rank 0; the others get its message
            broadcast_object((False, f"rank 0 failed: {type(error).__name__}: {error}"))
            raise
    ok, value = broadcast_object(outcome)
    if not ok:
        raise GenlabError(value)
    return value


def wrap_for_training(module: nn.Module) -> nn.Module:
    """``module`` inside `DistributedDataParallel` when there are several processes, else itself.

    DDP broadcasts rank 0's parameters and buffers at construction (so every rank starts from the
    same weights), averages gradients over processes during ``backward`` and, before every
    forward pass, copies rank 0's buffers (batch-norm statistics, spectral-norm vectors) to all.
    """
    if not active():
        return module
    from torch.nn.parallel import DistributedDataParallel

    device = next(module.parameters()).device
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


__all__ = [
    "active",
    "all_gather_objects",
    "all_gather_rows",
    "any_true",
    "barrier",
    "broadcast_object",
    "cleanup",
    "finish",
    "gather_rows",
    "init",
    "is_main",
    "launched",
    "local_batch_size",
    "local_rank",
    "maximum",
    "mean",
    "rank",
    "run_on_main",
    "shard_rows",
    "world_size",
    "wrap_for_training",
]

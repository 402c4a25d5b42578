"""Where a run's numbers go: a JSONL log (the record), TensorBoard scalars, and a progress bar."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from genlab import distributed
from genlab.progress import Progress
from genlab.runs import METRICS_FILE


class RunLogger:
    """Appends metric records to ``metrics.jsonl``, mirrors them to TensorBoard, drives the bar.

    Under several processes only rank 0 writes and shows the bar; elsewhere the logger is inert,
    so the training loop calls it the same way on every process.
    """

    def __init__(
        self, run_dir: Path, *, total: int, initial: int, tensorboard: bool, progress: bool
    ) -> None:
        self.path = Path(run_dir) / METRICS_FILE
        self.active = distributed.is_main()
        self.handle = self.path.open("a") if self.active else None
        self.writer = None
        if tensorboard and self.active:
            from torch.utils.tensorboard import SummaryWriter

            # Events at or after purge_step are dropped: those logged after the checkpoint at
            # step `initial`. The point at `initial` itself was logged before the checkpoint and
            # is kept, as in metrics.jsonl (`truncate_metrics`).
            purge = initial + 1 if initial > 0 else None
            self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"), purge_step=purge)
        self.bar = Progress(
            total=total,
            initial=initial,
            enabled=progress and self.active,
            desc="training",
            unit="step",
        )

    def log(self, step: int, values: dict[str, float]) -> None:
        if not self.active:
            return
        record = {"step": step, **{k: _plain(v) for k, v in values.items()}}
        self.handle.write(json.dumps(record) + "\n")
        self.handle.flush()
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)
        shown = {k: f"{v:.4g}" for k, v in values.items() if k in _SHOWN}
        self.bar.set_postfix(shown)

    def advance(self, steps: int = 1) -> None:
        self.bar.update(steps)

    def close(self) -> None:
        self.bar.close()
        if self.handle is not None:
            self.handle.close()
        if self.writer is not None:
            self.writer.close()


_SHOWN = ("loss_critic", "loss_generator", "wasserstein_estimate", "loss", "kl")


def _plain(value: Any) -> Any:
    value = float(value)
    return value if math.isfinite(value) else str(value)

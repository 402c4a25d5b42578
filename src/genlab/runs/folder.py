"""`RunFolder`: one run folder seen whole, for the commands that read or file into it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genlab.runs import checkpoint, evaluations, layout, records


@dataclass(frozen=True)
class RunFolder:
    """A run folder (`genlab.runs.layout`): its config, record, checkpoints, grids, evaluations.

    Reading never changes the folder; a run killed early simply has fewer pieces (no samples, no
    checkpoint, no evaluations). `open` refuses a path that is not a run folder at all.
    """

    path: Path

    @classmethod
    def open(cls, path: str | Path) -> RunFolder:
        """The run folder at ``path``; a `GenlabError` naming the problem if it is none."""
        layout.check_run_dir(Path(path))
        return cls(Path(path))

    @property
    def name(self) -> str:
        """The name a run goes by in legends and headings: its folder's name."""
        return self.path.resolve().name or str(self.path)

    def config(self) -> dict[str, Any]:
        """The resolved training options (``config.json``)."""
        return layout.read_json(self.path / layout.CONFIG_FILE)

    def model(self) -> dict[str, Any]:
        """The config that rebuilds the networks (``model.json``)."""
        return layout.read_json(self.path / layout.MODEL_FILE)

    def records(self) -> list[dict[str, Any]]:
        """The metrics log, in order (`genlab.runs.records.read_metrics`)."""
        return records.read_metrics(self.path)

    def checkpoints(self) -> list[Path]:
        """Finished checkpoints, oldest first."""
        return checkpoint.list_checkpoints(self.path)

    def sample_grids(self) -> list[tuple[int, Path]]:
        """``(step, path)`` of each sample grid, in step order."""
        return layout.list_sample_grids(self.path)

    @property
    def evaluations_dir(self) -> Path:
        return self.path / layout.EVALUATIONS_DIR

    def evaluations(self) -> list[Path]:
        """The files of the final evaluations, in name order."""
        return evaluations.list_evaluations(self.path)

    def evaluation_path(self, name: str) -> Path:
        return evaluations.evaluation_path(self.path, name)

    def write_evaluation(self, result: Mapping[str, Any], *, name: str | None = None) -> Path:
        """File ``result`` as ``evaluations/NAME.json`` (`genlab.runs.evaluations`)."""
        return evaluations.write_evaluation(self.path, result, name=name)

    @property
    def lipschitz_path(self) -> Path:
        return self.path / layout.LIPSCHITZ_FILE

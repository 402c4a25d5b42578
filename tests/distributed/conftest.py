"""Launching torchrun from the tests: two CPU processes on gloo, one thread each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).parent / "worker.py"
PROCESSES = 2


#: Seconds before a launch counts as hung. A guard against deadlocked collectives, not a speed
#: check: the longest launch takes about a minute on two shared cores, and a slower machine must
#: not fail for being slow.
HUNG_AFTER = 600


def _torchrun(
    args: list[str], *, timeout: float = HUNG_AFTER, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run --standalone --nproc_per_node 2 ARGS``, output captured.

    ``--standalone`` lets torchrun pick a free port, so launches never collide.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", str(PROCESSES), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


def _run_worker(plan: list[dict], folder: Path, *, expect_success: bool = True) -> dict:
    """Run the jobs of ``plan`` in one torchrun launch; each job's per-rank results, by name."""
    plan_path, results_path = folder / "plan.json", folder / "results.json"
    plan_path.write_text(json.dumps(plan))
    done = _torchrun([str(WORKER), str(plan_path), str(results_path)])
    if expect_success:
        assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(results_path.read_text()) if results_path.exists() else {}


@pytest.fixture(scope="session")
def torchrun():
    """`_torchrun`: launch two processes with the given torchrun arguments."""
    return _torchrun


@pytest.fixture(scope="session")
def run_worker():
    """`_run_worker`: run a plan of worker.py jobs in one launch of two processes."""
    return _run_worker


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """In-process references run single-threaded like the workers (OMP_NUM_THREADS=1)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

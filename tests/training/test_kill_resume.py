"""A training process killed with SIGKILL — between steps and in the middle of writing a
checkpoint — resumes to the same losses, step for step, as a run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from genlab.runs import read_metrics
from genlab.runs.checkpoint import list_checkpoints, load_checkpoint
from genlab.training.config import resolve_config
from genlab.training.trainer import Trainer

OPTIONS = dict(
    data="digits",
    steps=8,
    batch_size=16,
    hidden=(16, 16),
    latent_dim=4,
    log_every=1,
    sample_every=100,
    checkpoint_every=2,
    progress=False,
    tensorboard=False,
)

# Runs training in a child process that SIGKILLs itself at a chosen moment of its N-th checkpoint
# save: "before" (in torch.save, with a half-written temporary file), "after-write" (the temporary
# file is complete, the rename has not happened) or "after-save" (between steps).
CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    import torch
    from genlab.training.config import resolve_config
    from genlab.training.trainer import Trainer

    out, moment, target = sys.argv[1], sys.argv[2], int(sys.argv[3])
    options = json.loads(sys.argv[4])
    calls = {"save": 0}
    real_save, real_replace = torch.save, os.replace

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def save(obj, handle, *args, **kwargs):
        calls["save"] += 1
        if moment == "before" and calls["save"] == target:
            handle.write(b"half a checkpoint")
            handle.flush()
            die()
        real_save(obj, handle, *args, **kwargs)

    def replace(src, dst):
        if moment == "after-write" and calls["save"] == target and str(dst).endswith(".pt"):
            die()
        real_replace(src, dst)
        if moment == "after-save" and calls["save"] == target and str(dst).endswith(".pt"):
            die()

    # Patched process-wide: this child process does nothing but train.
    torch.save = save
    os.replace = replace
    Trainer.start(resolve_config("wgan-gp", out=out, **options)).train()
    """
)


def losses(run_dir):
    return [
        (r["step"], r["loss_critic"], r["loss_generator"], r["wasserstein_estimate"])
        for r in read_metrics(run_dir)
    ]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "run"
    return losses(Trainer.start(resolve_config("wgan-gp", out=str(out), **OPTIONS)).train())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("moment", "save", "newest_step"),
    [("before", 2, 2), ("after-write", 3, 4), ("after-save", 2, 4)],
)
def test_sigkill_then_resume_matches_uninterrupted(
    tmp_path, uninterrupted, moment, save, newest_step
):
    out = tmp_path / "run"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), moment, str(save), json.dumps(OPTIONS)],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    checkpoints = list_checkpoints(out)
    # The newest finished checkpoint is intact and loads; a half-written one is never visible.
    assert load_checkpoint(checkpoints[-1])["step"] == newest_step
    Trainer.resume(out).train()
    assert losses(out) == uninterrupted

"""Atomic checkpoints: keep-last-K, RNG round trip, corrupt files refused with a clear message."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from genlab.errors import GenlabError
from genlab.runs.checkpoint import (
    capture_rng_state,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_latest_good_checkpoint,
    restore_rng_state,
    save_checkpoint,
)


def test_keeps_the_newest_k_and_leaves_no_temporary_files(tmp_path):
    for step in range(1, 6):
        save_checkpoint({"step": step, "weights": torch.ones(3) * step}, tmp_path, step, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000004.pt", "step-00000005.pt"]
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.endswith(".tmp")]
    state = load_checkpoint(tmp_path)
    assert state["step"] == 5
    torch.testing.assert_close(state["weights"], torch.full((3,), 5.0))


def test_rng_states_round_trip_through_a_weights_only_load(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)  # noqa: NPY002
    save_checkpoint({"rng": capture_rng_state()}, tmp_path, 1)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())  # noqa: NPY002
    restore_rng_state(load_checkpoint(tmp_path)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected  # noqa: NPY002


def test_truncated_checkpoint_is_refused_clearly(tmp_path):
    path = save_checkpoint({"step": 1, "w": torch.randn(1000)}, tmp_path, 1)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(GenlabError, match="truncated or corrupt — delete it") as info:
        load_checkpoint(path)
    assert "If you are seeing this error" not in str(info.value)  # PyTorch's advice is cut


class Payload:
    """A class a malicious checkpoint could make torch.load instantiate."""


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "checkpoints" / "step-00000001.pt"
    path.parent.mkdir()
    torch.save({"format": "genlab-checkpoint-1", "object": Payload()}, path)
    with pytest.raises(GenlabError, match=r"refused to load .* never runs code") as info:
        load_checkpoint(path)
    assert "weights_only` set to `False`" not in str(info.value)  # no advice to run the code


def test_missing_checkpoint_says_what_a_run_folder_is(tmp_path):
    with pytest.raises(GenlabError, match="no checkpoint"):
        latest_checkpoint(tmp_path)


def test_resume_skips_damaged_newest_checkpoints_with_a_warning(tmp_path):
    for step in (1, 2, 3):
        save_checkpoint({"step": step}, tmp_path, step)
    newest = list_checkpoints(tmp_path)
    for path in newest[1:]:
        path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(UserWarning, match="resuming from") as caught:
        assert load_latest_good_checkpoint(tmp_path)["step"] == 1
    messages = [str(warning.message) for warning in caught]
    assert len(messages) == 2  # one per damaged checkpoint, newest first
    for message, damaged in zip(messages, ("step-00000003.pt", "step-00000002.pt"), strict=True):
        assert damaged in message
        assert message.endswith("resuming from step-00000001.pt instead")


def test_resume_with_no_loadable_checkpoint_says_so(tmp_path):
    path = save_checkpoint({"step": 1}, tmp_path, 1)
    path.write_bytes(b"garbage")
    with pytest.raises(GenlabError, match=r"no checkpoint of .* loads"):
        load_latest_good_checkpoint(tmp_path)

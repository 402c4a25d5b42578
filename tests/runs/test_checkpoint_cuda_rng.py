"""CUDA RNG states in checkpoints: captured where CUDA is in use, restored where devices exist.

No GPU is needed: torch.cuda's state functions are replaced by a fake of two devices, so the test
checks which states genlab saves and hands back, and that a CPU-only machine skips them.
"""

from __future__ import annotations

import pytest
import torch

from genlab.runs import checkpoint as ckpt


class FakeCuda:
    """Two devices' RNG states held in memory, as torch.cuda holds them on a GPU machine."""

    def __init__(self, count: int) -> None:
        self.states = [torch.full((16,), i, dtype=torch.uint8) for i in range(count)]
        self.available = count > 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(torch.cuda, "is_initialized", lambda: self.available)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: self.available)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: len(self.states))
        monkeypatch.setattr(
            torch.cuda, "get_rng_state_all", lambda: [s.clone() for s in self.states]
        )

        def set_rng_state(state: torch.Tensor, device: int) -> None:
            self.states[device] = state.clone()

        monkeypatch.setattr(torch.cuda, "set_rng_state", set_rng_state)


def test_cuda_states_are_saved_and_restored_per_device(tmp_path, monkeypatch):
    cuda = FakeCuda(2)
    cuda.install(monkeypatch)
    ckpt.save_checkpoint({"rng": ckpt.capture_rng_state()}, tmp_path, 1)
    saved = [s.clone() for s in cuda.states]
    cuda.states = [torch.zeros(16, dtype=torch.uint8), torch.zeros(16, dtype=torch.uint8)]
    ckpt.restore_rng_state(ckpt.load_checkpoint(tmp_path)["rng"])
    for restored, expected in zip(cuda.states, saved, strict=True):
        torch.testing.assert_close(restored, expected)


def test_a_machine_with_fewer_devices_restores_those_it_has(tmp_path, monkeypatch):
    FakeCuda(2).install(monkeypatch)
    ckpt.save_checkpoint({"rng": ckpt.capture_rng_state()}, tmp_path, 1)
    one = FakeCuda(1)
    one.states = [torch.full((16,), 99, dtype=torch.uint8)]
    one.install(monkeypatch)
    ckpt.restore_rng_state(ckpt.load_checkpoint(tmp_path)["rng"])
    torch.testing.assert_close(one.states[0], torch.zeros(16, dtype=torch.uint8))  # device 0's
    assert len(one.states) == 1


def test_a_gpu_checkpoint_resumes_on_a_cpu_machine(tmp_path, monkeypatch):
    FakeCuda(2).install(monkeypatch)
    ckpt.save_checkpoint({"rng": ckpt.capture_rng_state()}, tmp_path, 1)
    expected = torch.rand(3)
    FakeCuda(0).install(monkeypatch)  # this machine: no CUDA
    torch.manual_seed(0)
    ckpt.restore_rng_state(ckpt.load_checkpoint(tmp_path)["rng"])
    torch.testing.assert_close(torch.rand(3), expected)  # the CPU stream goes on as saved


def test_a_cpu_run_does_not_initialise_cuda(monkeypatch):
    FakeCuda(0).install(monkeypatch)
    assert ckpt.capture_rng_state()["cuda"] == []

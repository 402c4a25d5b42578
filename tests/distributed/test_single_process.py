"""Without torchrun, `genlab.distributed` is a set of no-ops: no process group, inputs returned."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torch import nn

from genlab import distributed
from genlab.errors import GenlabError


@pytest.mark.parametrize("world_size", [None, "1"])
def test_no_process_group_without_several_processes(monkeypatch, world_size):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    if world_size is not None:  # torchrun --nproc_per_node 1 sets WORLD_SIZE=1
        monkeypatch.setenv("WORLD_SIZE", world_size)
    assert distributed.init() is False
    assert not dist.is_initialized()
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    distributed.finish()  # nothing to wait for, nothing to leave
    assert not dist.is_initialized()


def test_collectives_return_their_inputs():
    rows = torch.arange(6.0).reshape(3, 2)
    assert distributed.gather_rows(rows) is rows
    assert distributed.all_gather_rows(rows)[0] is rows
    assert distributed.shard_rows(rows) is rows
    assert torch.equal(distributed.mean(torch.tensor(2.5)), torch.tensor(2.5))
    assert distributed.any_true(False) is False
    assert distributed.maximum(1.5) == 1.5
    assert distributed.broadcast_object({"a": 1}) == {"a": 1}
    assert distributed.all_gather_objects(3) == [3]
    assert distributed.local_batch_size(15) == 15
    module = nn.Linear(2, 1)
    assert distributed.wrap_for_training(module) is module


def test_run_on_main_runs_here_and_lets_errors_through():
    assert distributed.run_on_main(lambda: 7) == 7

    def fails():
        raise GenlabError("bad input")

    with pytest.raises(GenlabError, match="bad input"):
        distributed.run_on_main(fails)

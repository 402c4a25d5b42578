"""Batch-parallel CPU inference: the same rows in the same order, one intra-op thread per lane."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from genlab.metrics.features.lanes import Lanes, cpu_lanes


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("rows", [1, 2, 7, 50])
def test_lanes_keep_every_row_in_order(rows):
    batch = torch.arange(rows * 3, dtype=torch.float32).reshape(rows, 3)
    lanes = Lanes(3)
    try:
        assert torch.equal(lanes(lambda part: part * 2 + 1, batch), batch * 2 + 1)
    finally:
        lanes.close()


def test_each_lane_runs_one_thread_and_the_caller_keeps_its_count(two_threads):
    lanes = Lanes(2)
    try:
        seen = lanes(
            lambda part: torch.full((part.shape[0],), torch.get_num_threads()), torch.ones(4)
        )
    finally:
        lanes.close()
    assert seen.tolist() == [1, 1, 1, 1]
    assert torch.get_num_threads() == 2
    started_later: list[int] = []
    thread = threading.Thread(target=lambda: started_later.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert started_later == [2]


def test_a_network_in_lanes_matches_it_on_the_whole_batch(two_threads):
    torch.manual_seed(0)
    network = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 8, 3, stride=2), nn.Flatten()
    ).eval()
    batch = torch.randn(9, 3, 33, 33)
    lanes = Lanes(cpu_lanes(torch.device("cpu")))
    try:
        with torch.inference_mode():
            whole = network(batch)

            def run(part: torch.Tensor) -> torch.Tensor:
                with torch.inference_mode():
                    return network(part)

            parted = lanes(run, batch)
    finally:
        lanes.close()
    assert lanes.lanes == 2
    torch.testing.assert_close(parted, whole, rtol=1e-5, atol=1e-6)


def test_a_lane_count_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        Lanes(0)

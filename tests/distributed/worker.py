"""Run by ``torchrun --nproc_per_node 2`` in the tests of this folder: a list of jobs, one process
group. ``python worker.py PLAN.json RESULTS.json``; rank 0 writes each job's result to RESULTS as
soon as it is done (a later job may kill the process on purpose)."""

from __future__ import annotations

import copy
import json
import os
import signal
import sys

import torch

from genlab import distributed
from genlab.errors import GenlabError
from genlab.metrics.evaluate import Needs, build_extractor, extract
from genlab.metrics.sources import resolve_source
from genlab.models.mlp import MLPCritic
from genlab.objectives.lipschitz import GradientPenalty
from genlab.training.config import resolve_config
from genlab.training.trainer import Trainer


def api_job(_: dict) -> dict:
    """The collectives on known inputs: rank r holds r + 1 rows (rank 1 nothing, in one case)."""
    rank = distributed.rank()
    rows = torch.arange(rank + 1, dtype=torch.float64)[:, None] * 10 + rank
    gathered = distributed.all_gather_rows(rows)
    with_gap = distributed.all_gather_rows(rows if rank == 0 else None)
    raised = {}

    def fails_on_main() -> None:
        raise GenlabError(f"only rank {rank} knows")

    try:
        distributed.run_on_main(fails_on_main)
    except GenlabError as error:
        raised["run_on_main"] = str(error)
    try:
        distributed.local_batch_size(15)
    except GenlabError as error:
        raised["local_batch_size"] = str(error)
    try:
        Trainer(resolve_config("wgan-gp", batch_size=15, progress=False), "unused")
    except GenlabError as error:
        raised["trainer"] = str(error)
    return {
        "rank": rank,
        "world_size": distributed.world_size(),
        "gathered": [part.tolist() for part in gathered],
        "gather_rows": distributed.gather_rows(rows).tolist(),
        "with_gap": [None if part is None else part.tolist() for part in with_gap],
        "broadcast": distributed.broadcast_object({"from": rank}),
        "all_objects": distributed.all_gather_objects(rank * 2),
        "any_true": distributed.any_true(rank == 1),
        "mean": distributed.mean(torch.tensor(float(rank))).item(),
        "maximum": distributed.maximum(float(rank) + 0.5),
        "shard": distributed.shard_rows(torch.arange(6)).tolist(),
        "raised": raised,
    }


def gp_gradients_job(_: dict) -> dict:
    """WGAN-GP critic gradients through DDP against gradients all-reduced by hand."""
    torch.manual_seed(0)  # the same critic and global batch on every process
    critic = MLPCritic((1, 8, 8), hidden=(16, 16))
    real, fake = torch.randn(8, 1, 8, 8), torch.randn(8, 1, 8, 8)
    real, fake = distributed.shard_rows(real), distributed.shard_rows(fake)
    penalty = GradientPenalty(weight=10.0)

    def loss_of(network):
        torch.manual_seed(100 + distributed.rank())  # the same interpolation weights both times
        loss = network(fake).mean() - network(real).mean()
        return loss + penalty.penalty(network, real, fake)

    manual = copy.deepcopy(critic)
    ddp = distributed.wrap_for_training(critic)
    loss_of(ddp).backward()
    loss_of(manual).backward()
    largest, total = 0.0, 0.0
    for synced, own in zip(critic.parameters(), manual.parameters(), strict=True):
        reduced = own.grad.clone()
        torch.distributed.all_reduce(reduced)
        reduced /= distributed.world_size()
        largest = max(largest, float((synced.grad - reduced).abs().max()))
        total = max(total, float(reduced.abs().max()))
        # The local gradients differ between ranks, so the comparison is not trivially equal.
    local_differs = distributed.any_true(
        any(
            not torch.equal(own.grad, synced.grad)
            for own, synced in zip(manual.parameters(), critic.parameters(), strict=True)
        )
    )
    return {"max_difference": largest, "max_gradient": total, "local_differs": local_differs}


def _same_everywhere(trainer: Trainer) -> bool:
    """Whether every tensor of every network (parameters and buffers) is equal on all ranks."""
    states = {name: module.state_dict() for name, module in trainer.models.items()}
    gathered = distributed.all_gather_objects(states)
    return all(
        torch.equal(value, other[name][key])
        for other in gathered
        for name, state in states.items()
        for key, value in state.items()
    )


def train_job(job: dict) -> dict:
    trainer = Trainer.start(resolve_config(job["preset"], out=job["out"], **job["options"]))
    trainer.train()
    buffers = {
        f"{name}.{key}"
        for name, module in trainer.models.items()
        for key, _ in module.named_buffers()
    }
    return {"same_weights_on_all_ranks": _same_everywhere(trainer), "buffers": sorted(buffers)}


def kill_job(job: dict) -> dict:
    """Train, and SIGKILL rank 0 right after its checkpoint of step ``job["after_step"]``."""
    real_replace = os.replace
    target = f"step-{job['after_step']:08d}.pt"

    def replace(src, dst):
        real_replace(src, dst)
        if str(dst).endswith(target):
            os.kill(os.getpid(), signal.SIGKILL)

    if distributed.is_main():
        os.replace = replace  # this process does nothing else afterwards
    train_job(job)
    return {"survived": True}


def extract_job(job: dict) -> dict:
    """Features of a source, gathered; rank 0 saves them for the test to compare."""
    source = resolve_source(job["source"], n=job["n"])
    extractor = build_extractor(job["features"], extractor_options=job.get("options"))
    extracted = extract(
        source,
        extractor,
        Needs(features=True, statistics=True),
        batch_size=job["batch_size"],
        progress=False,
    )
    if distributed.is_main():
        torch.save({"features": extracted.features}, job["save"])
    return {"count": extracted.count}


def streamed_images(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two sets of n 8×8 images with full-rank pixel covariances (digits have constant corner
    pixels, whose zero variances make FID's matrix square root sensitive to the last bit)."""
    noise = torch.randint(0, 256, (2 * n, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    real, fake = noise[:n], noise[n:] ** 2 // 255
    return real.to(torch.uint8), fake.to(torch.uint8)


def metrics_job(job: dict) -> dict:
    """`genlab.Metrics` fed with this rank's share of the images in ragged batches; every rank
    returns what its `compute` gave (the test checks they agree and equal one process)."""
    from genlab import Metrics

    real, fake = streamed_images(job["n"])
    rank = distributed.rank()
    real = real.tensor_split(distributed.world_size())[rank]
    fake = fake.tensor_split(distributed.world_size())[rank]
    metrics = Metrics(job["metrics"], features="pixels", cache=False, kid_subset_size=50)
    for start in range(0, real.shape[0], 37 + rank):  # ranks cut their shares differently
        metrics.update(real[start : start + 37 + rank], real=True)
    for start in range(0, fake.shape[0], 61):
        metrics.update(fake[start : start + 61], real=False)
    result = metrics.compute()
    return {**result, "n_a": result.protocol["n_a"], "n_b": result.protocol["n_b"]}


JOBS = {
    "api": api_job,
    "gp_gradients": gp_gradients_job,
    "train": train_job,
    "kill": kill_job,
    "extract": extract_job,
    "metrics": metrics_job,
}


def main() -> None:
    plan_path, results_path = sys.argv[1], sys.argv[2]
    with open(plan_path) as handle:
        plan = json.load(handle)
    distributed.init()
    results = {}
    for job in plan:
        outcome = JOBS[job["job"]](job)
        everyone = distributed.all_gather_objects(outcome)
        if distributed.is_main():
            results[job["name"]] = everyone
            with open(results_path, "w") as handle:
                json.dump(results, handle)
    distributed.finish()


if __name__ == "__main__":
    main()

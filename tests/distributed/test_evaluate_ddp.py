"""Evaluation under torchrun with two CPU processes: the gathered features, the cache written by
rank 0 and every metric equal a single process's, bit for bit."""

from __future__ import annotations

import json
import os

import pytest
import torch

from genlab.data.imageio import write_npz
from genlab.data.sources import load_dataset
from genlab.metrics.cache import FEATURES, FeatureCache, cache_key
from genlab.metrics.evaluate import Needs, build_extractor, evaluate, extract
from genlab.metrics.sources import resolve_source

pytestmark = pytest.mark.slow

# 330 images in batches of 50: 7 batches, so the last round of two has a batch for rank 0 only,
# and the last batch is short.
N, BATCH = 330, 50


@pytest.fixture(scope="module")
def judged_npz(tmp_path_factory):
    """Images to judge against the digits: the digits shifted by one pixel and brightened."""
    images = load_dataset("digits").images[N : 2 * N]
    shifted = torch.roll(images, shifts=1, dims=-1).to(torch.int16) + 20
    path = tmp_path_factory.mktemp("judged") / "judged.npz"
    write_npz(path, shifted.clamp(0, 255).to(torch.uint8))
    return path


def test_two_process_cli_evaluation_equals_one_process(tmp_path, judged_npz, torchrun):
    cache_dir, report = tmp_path / "cache", tmp_path / "result.json"
    args = ["digits", str(judged_npz), "--features", "pixels", "--metrics", "fid,kid,pr"]
    args += [
        "--num-images",
        str(N),
        "--batch-size",
        str(BATCH),
        "--json",
        str(report),
        "--no-progress",
    ]
    done = torchrun(["-m", "genlab", "eval", *args], env={"GENLAB_CACHE_DIR": str(cache_dir)})
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("FD_pixels ") == 1  # printed by rank 0 only (FID on pixels: FD_pixels)
    two = json.loads(report.read_text())
    one = evaluate(
        "digits",
        judged_npz,
        metrics="fid,kid,pr",
        features="pixels",
        n=N,
        batch_size=BATCH,
        cache=False,
        progress=False,
    )
    for key in ("fid", "kid_mean", "kid_std", "precision", "recall"):
        assert two[key] == one[key], key
    assert two["protocol"]["n_a"] == two["protocol"]["n_b"] == N
    # Rank 0 wrote the cache: the gathered features of both sources, in the original order.
    extractor = build_extractor("pixels")
    store = FeatureCache(cache_dir / "features")
    for spec in ("digits", str(judged_npz)):
        source = resolve_source(spec, n=N)
        key = cache_key(
            kind=FEATURES,
            source_identity=source.identity(),
            extractor_protocol=extractor.protocol(),
        )
        cached = store.load_array(key)
        single = extract(source, extractor, Needs(features=True), batch_size=BATCH, cache=None)
        assert torch.equal(cached, single.features)


@pytest.mark.skipif(
    not os.environ.get("GENLAB_INCEPTION_WEIGHTS"),
    reason="GENLAB_INCEPTION_WEIGHTS is not set (e.g. to the FID Inception default_1.pt)",
)
def test_two_process_inception_features_equal_one_process(tmp_path, run_worker):
    # Five digits in batches of two: rounds (0, 1) and (2, -), the last batch short.
    job = {"job": "extract", "name": "inception", "source": "digits", "n": 5, "batch_size": 2,
           "features": "inception", "save": str(tmp_path / "features.pt")}  # fmt: skip
    results = run_worker([job], tmp_path)
    assert [r["count"] for r in results["inception"]] == [5, 5]
    gathered = torch.load(tmp_path / "features.pt")["features"]
    single = extract(
        resolve_source("digits", n=5),
        build_extractor("inception"),
        Needs(features=True),
        batch_size=2,
        cache=None,
        progress=False,
    )
    assert gathered.shape == (5, 2048)
    assert torch.equal(gathered, single.features)


def streamed_images(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """worker.py's images (copied: the worker is a script, not a module of the tests)."""
    noise = torch.randint(0, 256, (2 * n, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    real, fake = noise[:n], noise[n:] ** 2 // 255
    return real.to(torch.uint8), fake.to(torch.uint8)


def test_two_process_streaming_metrics_agree_and_equal_one_process(tmp_path, run_worker):
    """Each rank streams half of the images in its own batch sizes; every rank's result equals
    `genlab.evaluate` on rank 0's images followed by rank 1's."""
    jobs = [
        {"job": "metrics", "name": metrics, "metrics": metrics, "n": 301}
        for metrics in ("fid", "fid,kid,pr")
    ]
    results = run_worker(jobs, tmp_path)
    real, fake = streamed_images(301)
    for job in jobs:
        rank_0, rank_1 = results[job["name"]]
        assert rank_0 == rank_1
        assert (rank_0["n_a"], rank_0["n_b"]) == (301, 301)
        one = evaluate(
            real,
            fake,
            metrics=job["metrics"],
            features="pixels",
            kid_subset_size=50,
            cache=False,
            progress=False,
        )
        for key, value in one.items():
            assert rank_0[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key

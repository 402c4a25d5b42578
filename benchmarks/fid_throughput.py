"""FID pipeline throughput, Fréchet distance time and streaming-statistics memory, in one run.

1. Throughput: genlab's whole feature pipeline — decode uint8 images from a real image folder
   (PNG files, or the CIFAR-10 JPEG tar), TF1 bilinear resize to 299, (x - 128) / 128, the FID
   Inception network, streaming mean/covariance update (`genlab.metrics.evaluate.extract`) —
   against the bare network forward (`FIDInceptionV3.pool3`) on the same images already resized
   to 299×299 float tensors, at the same batch size, same threads, same process. The arms
   alternate batch by batch (each timed alone, decoding included), so load from other processes
   falls on both alike; the ratio of images/s should stay at or above 0.85.
2. The Fréchet distance at d = 2048 between two random full-rank covariances: genlab's route
   (symmetric eigenproblems, `frechet_distance`) against ``scipy.linalg.sqrtm(Σ₁Σ₂)``.
3. Peak resident memory of a streaming-statistics pass over the 60 000 MNIST training images,
   in a child process (so the Inception network of part 1 does not count): the real data source
   and `RunningStatistics`, with a cheap stand-in extractor (a fixed random projection of the
   pixels to 2048 features, Inception's dimension, so the O(d²) accumulators are full size).

    GENLAB_DATA_DIR=../shared/data GENLAB_INCEPTION_WEIGHTS=.cache/fid-weights/default_1.pt \\
        python benchmarks/fid_throughput.py                     # MNIST test images as PNG files
    python benchmarks/fid_throughput.py --source cifar10-jpeg  # the CIFAR-10 JPEG tar instead

On a machine whose cores are shared, set OPENBLAS_NUM_THREADS=1: OpenBLAS threads spin while
waiting, and with the cores oversubscribed a d = 256 Fréchet distance took 5 s with 2 BLAS
threads against 0.08 s with one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.linalg
import torch

from genlab.data.imageio import write_image_folder
from genlab.data.sources import FolderSource, load_dataset
from genlab.metrics.evaluate import Needs, extract
from genlab.metrics.features.inception import InceptionExtractor, preprocess_uint8
from genlab.metrics.fid import frechet_distance


def image_folder(kind: str, count: int, workdir: Path) -> Path:
    """A real image folder to decode: MNIST test images written as PNG, or the CIFAR JPEG tar."""
    if kind == "cifar10-jpeg":
        from genlab.data.dirs import resolve_data_dir

        return resolve_data_dir() / "cifar10-jpeg" / "CIFAR-10-images.tar"
    images = load_dataset("mnist", split="test", limit=count).images
    write_image_folder(workdir / "mnist-png", images)
    return workdir / "mnist-png"


def throughput(folder: Path, batch_size: int, batches: int) -> tuple[float, float]:
    """(pipeline images/s, bare forward images/s), arms alternating batch by batch."""
    extractor = InceptionExtractor(batch_size=batch_size)
    count = batch_size * batches
    source = FolderSource(str(folder), path=folder, n=count)
    # Pre-resized input for the bare arm: the same images, resized once, outside the timing.
    pre_resized = [
        preprocess_uint8(batch).contiguous(memory_format=torch.channels_last)
        for batch in source.batches(batch_size)
    ]
    single = [_one_batch_source(folder, index, batch_size) for index in range(batches)]
    pipeline_seconds, bare_seconds = 0.0, 0.0
    _bare(extractor, pre_resized[0])  # warm-up: allocations and kernel selection
    for index in range(batches):
        start = time.perf_counter()
        extract(
            single[index], extractor, Needs(statistics=True), progress=False, batch_size=batch_size
        )
        pipeline_seconds += time.perf_counter() - start
        start = time.perf_counter()
        _bare(extractor, pre_resized[index])
        bare_seconds += time.perf_counter() - start
    return count / pipeline_seconds, count / bare_seconds


class _Slice(FolderSource):
    """Images [offset, offset + batch_size) of a folder, so each timed pipeline call decodes."""

    def __init__(self, folder: Path, offset: int, batch_size: int) -> None:
        super().__init__(str(folder), path=folder, n=offset + batch_size)
        self.offset, self.batch_size = offset, batch_size

    @property
    def count(self) -> int:
        return self.batch_size

    def batches(self, batch_size: int):
        folder = self.folder
        yield torch.stack([folder[i][0] for i in range(self.offset, self.offset + self.batch_size)])


def _one_batch_source(folder: Path, index: int, batch_size: int) -> _Slice:
    source = _Slice(folder, index * batch_size, batch_size)
    _ = source.folder  # list the folder now; the timed part decodes, resizes and runs the network
    return source


@torch.inference_mode()
def _bare(extractor: InceptionExtractor, x: torch.Tensor) -> torch.Tensor:
    return extractor.network.pool3(x)


def frechet_timing(dim: int, seed: int = 0) -> tuple[float, float, float]:
    """(seconds of frechet_distance, seconds of the scipy sqrtm formula, relative difference)."""
    rng = np.random.default_rng(seed)
    covariances = []
    for _ in range(2):
        factor = rng.normal(size=(dim, dim + 64)) / np.sqrt(dim)
        covariances.append(factor @ factor.T)
    mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
    start = time.perf_counter()
    ours = frechet_distance(mu1, covariances[0], mu2, covariances[1])
    ours_seconds = time.perf_counter() - start
    start = time.perf_counter()
    root = scipy.linalg.sqrtm(covariances[0] @ covariances[1]).real
    reference = float(
        ((mu1 - mu2) ** 2).sum()
        + np.trace(covariances[0])
        + np.trace(covariances[1])
        - 2 * np.trace(root)
    )
    scipy_seconds = time.perf_counter() - start
    return ours_seconds, scipy_seconds, abs(ours - reference) / abs(reference)


class _ProjectedPixels:
    """Stand-in extractor: a fixed random projection of the pixels to ``dim`` features + ReLU."""

    name = "projected-pixels"

    def __init__(self, dim: int, pixels: int) -> None:
        self.dim = dim
        generator = torch.Generator().manual_seed(0)
        self.weight = torch.randn(pixels, dim, generator=generator) / pixels**0.5

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return torch.relu((images.flatten(1).float() / 255.0) @ self.weight)

    def protocol(self) -> dict:
        return {"extractor": self.name, "dim": self.dim}


def memory_child(dim: int) -> None:
    """Runs in a child process: stream statistics over MNIST train, print MiB before and peak."""
    from genlab.metrics.sources import resolve_source

    source = resolve_source("mnist:train")
    _ = source.count  # load the 60 000 images (47 MB of uint8) before the baseline
    before = _max_rss_mib()
    start = time.perf_counter()
    extracted = extract(
        source,
        _ProjectedPixels(dim, 28 * 28),
        Needs(statistics=True),
        batch_size=1000,
        progress=False,
    )
    seconds = time.perf_counter() - start
    print(f"{extracted.count} {before:.1f} {_max_rss_mib():.1f} {seconds:.1f}")


def _max_rss_mib() -> float:
    """Peak resident memory of this process, MiB: VmHWM from /proc/self/status.

    Not ``resource.getrusage(...).ru_maxrss``: Linux carries that across fork + exec, so a child
    would report its parent's peak (the Inception network of part 1) as its own.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status; this measurement needs Linux")


def memory(dim: int) -> tuple[int, float, float, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(dim)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(output[0]), float(output[1]), float(output[2]), float(output[3])


def _threads() -> str:
    from threadpoolctl import threadpool_info  # a scikit-learn dependency

    blas = [entry["num_threads"] for entry in threadpool_info() if entry["user_api"] == "blas"]
    return f"torch {torch.get_num_threads()} threads, BLAS {blas[0] if blas else '?'} threads, CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("mnist-png", "cifar10-jpeg"), default="mnist-png")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--batches", type=int, default=4, help="Timed batches per arm.")
    parser.add_argument("--dim", type=int, default=2048, help="d of the Fréchet distance timing.")
    parser.add_argument("--memory-dim", type=int, default=2048, help="Stand-in feature count.")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    with tempfile.TemporaryDirectory() as workdir:
        folder = image_folder(args.source, args.batch_size * args.batches, Path(workdir))
        pipeline_rate, bare_rate = throughput(folder, args.batch_size, args.batches)
    ours, scipy_seconds, relative = frechet_timing(args.dim)
    count, rss_before, rss_peak, memory_seconds = memory(args.memory_dim)

    print(
        f"\nFID feature throughput: {args.source}, batch {args.batch_size}, "
        f"{args.batches} batches per arm, {_threads()}\n"
    )
    print(f"{'arm':<52} {'images/s':>9} {'ratio':>7}")
    print(f"{'bare pool3 forward, pre-resized 299×299 float':<52} {bare_rate:>9.2f} {1:>7.3f}")
    print(
        f"{'genlab pipeline: decode, TF1 resize, network, stats':<52} {pipeline_rate:>9.2f} "
        f"{pipeline_rate / bare_rate:>7.3f}"
    )
    print(f"\nFréchet distance, d = {args.dim}\n")
    print(f"{'route':<52} {'seconds':>9} {'speed-up':>9}")
    print(f"{'scipy.linalg.sqrtm(Σ₁Σ₂)':<52} {scipy_seconds:>9.2f} {1:>9.2f}")
    print(f"{'genlab eigenvalues of Σ₁^½ Σ₂ Σ₁^½':<52} {ours:>9.2f} {scipy_seconds / ours:>9.2f}")
    print(f"relative difference {relative:.1e}")
    print(
        f"\nStreaming statistics over {count} MNIST images, stand-in extractor "
        f"(random projection to d = {args.memory_dim}), batch 1000, child process\n"
    )
    print(
        f"peak RSS {rss_peak:.0f} MiB (after imports and loading the data: {rss_before:.0f} MiB), "
        f"{memory_seconds:.1f} s"
    )


if __name__ == "__main__":
    main()

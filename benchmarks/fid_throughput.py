"""FID pipeline throughput, Fréchet distance time and streaming-statistics memory, in one run.

1. Throughput: genlab's whole feature pipeline — decode uint8 images from a real image folder
   (PNG files, or the CIFAR-10 JPEG tar), TF1 bilinear resize to 299, (x - 128) / 128, the FID
   Inception network, streaming mean/covariance update (`genlab.metrics.evaluate.extract`) —
   against the bare network forward (`InceptionExtractor.pool3`: on CPU the batch's parts run
   side by side, one thread each) on the same images already resized to 299×299 float tensors,
   at the same batch size, same threads, same process, and against the same forward with every
   thread on each layer (torch's intra-op default, what genlab ran before the lanes). The arms
   alternate batch by batch (each timed alone, decoding included), so load from other processes
   falls on all alike; the pipeline's ratio of images/s should stay at or above 0.85.
   A third arm, alternating with the other two, times large fp32 matrix products (n = 2048): the
   best of them is the machine's attainable peak in this process and this load, GFLOP/s (the
   best, not the mean: on shared cores the mean would fall with other jobs' load, and a "peak"
   below what the network reaches would flatter it). The bare network's
   GFLOP/s (images/s × its cost, counted by hooks on every convolution at 299×299: about
   5.7 GMACs = 11.5 GFLOP an image) as a fraction of that peak says how close to the machine the
   network runs.
2. End to end, process start to printed number: ``genlab eval A B`` against torch-fidelity's
   ``fidelity --fid`` CLI on the same two PNG folders (MNIST train and test images), each the way a
   user runs it (default batch sizes, no cache), same environment and thread settings. The
   torch-fidelity row needs ``--torch-fidelity PATH`` (its ``fidelity`` executable, in a virtual
   environment of its own: it pulls torchvision); without it the row is skipped with a note.
   torch-fidelity is given the same FID weights genlab uses (``GENLAB_INCEPTION_WEIGHTS``)
   written in its layout, with a zero ``fc`` layer where the file has none (FID reads pool3,
   before ``fc``), so it never downloads; the two FIDs are printed side by side as a check.
3. The Fréchet distance at d = 2048, for two random full-rank covariances and for two of rank
   N − 1 (N = ``--e2e-n`` samples, the end-to-end case): genlab's route (pivoted Cholesky
   factors, one symmetric eigenproblem, `frechet_distance`) against its previous one (the
   symmetric square root Σ₁^½ Σ₂ Σ₁^½ by two eigendecompositions) and, at full rank,
   ``scipy.linalg.sqrtm(Σ₁Σ₂)``.
4. Peak resident memory of a streaming-statistics pass over the 60 000 MNIST training images,
   in a child process (so the Inception network of part 1 does not count): the real data source
   and `RunningStatistics`, with a cheap stand-in extractor (a fixed random projection of the
   pixels to 2048 features, Inception's dimension, so the O(d²) accumulators are full size).

    GENLAB_DATA_DIR=../shared/data GENLAB_INCEPTION_WEIGHTS=.cache/fid-weights/default_1.pt \\
        python benchmarks/fid_throughput.py                     # MNIST test images as PNG files
    python benchmarks/fid_throughput.py --source cifar10-jpeg  # the CIFAR-10 JPEG tar instead
    python benchmarks/fid_throughput.py --torch-fidelity /work/tf-venv/bin/fidelity --e2e-n 500

On a machine whose cores are shared, set OPENBLAS_NUM_THREADS=1: OpenBLAS threads spin while
waiting, and with the cores oversubscribed a d = 256 Fréchet distance took 5 s with 2 BLAS
threads against 0.08 s with one.
"""

from __future__ import annotations

import argparse
import json
import os
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


def throughput(folder: Path, batch_size: int, batches: int) -> tuple[float, float, float, float]:
    """(pipeline images/s, bare forward images/s, bare intra-op images/s, peak GFLOP/s), arms
    alternating batch by batch; the peak is the best fp32 matrix product measured between them.

    The bare forward runs the network as the extractor does (on CPU, the batch's parts side by
    side, one thread each: `genlab.metrics.features.lanes`); the intra-op arm runs the whole batch
    through the network with every thread on each layer, torch's default.
    """
    extractor = InceptionExtractor(batch_size=batch_size)
    count = batch_size * batches
    source = FolderSource(str(folder), path=folder, n=count)
    # Pre-resized input for the bare arm: the same images, resized once, outside the timing.
    pre_resized = [
        preprocess_uint8(batch).contiguous(memory_format=torch.channels_last)
        for batch in source.batches(batch_size)
    ]
    single = [_one_batch_source(folder, index, batch_size) for index in range(batches)]
    pipeline_seconds, bare_seconds, intra_op_seconds = 0.0, 0.0, 0.0
    _bare(extractor, pre_resized[0])  # warm-up: allocations and kernel selection
    _intra_op(extractor, pre_resized[0])
    peak = _matmul_gflops()
    for index in range(batches):
        start = time.perf_counter()
        extract(
            single[index], extractor, Needs(statistics=True), progress=False, batch_size=batch_size
        )
        pipeline_seconds += time.perf_counter() - start
        start = time.perf_counter()
        _bare(extractor, pre_resized[index])
        bare_seconds += time.perf_counter() - start
        start = time.perf_counter()
        _intra_op(extractor, pre_resized[index])
        intra_op_seconds += time.perf_counter() - start
        peak = max(peak, _matmul_gflops())
    return count / pipeline_seconds, count / bare_seconds, count / intra_op_seconds, peak


def _matmul_gflops(size: int = 2048, repeats: int = 3) -> float:
    """The best GFLOP/s of ``repeats`` fp32 products of two size×size matrices (2n³ FLOP each):
    on a shared machine the least disturbed product is the closest to what the cores can do."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator)
    b = torch.randn(size, size, generator=generator)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2.0 * size**3 / (time.perf_counter() - start) / 1e9)
    return best


def inception_macs() -> float:
    """Multiply-adds of one 299×299 image through the FID Inception network (to pool3), counted
    by a hook on every convolution: output elements × input channels × kernel area."""
    from genlab.metrics.features.inception_net import FIDInceptionV3

    network = FIDInceptionV3(include_fc=False)
    total = 0

    def count(module: torch.nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        kernel = module.kernel_size[0] * module.kernel_size[1]
        total += output.numel() * (module.in_channels // module.groups) * kernel

    for module in network.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_hook(count)
    with torch.inference_mode():
        network.pool3(torch.zeros(1, 3, 299, 299))
    return float(total)


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


def png_pair(count: int, workdir: Path) -> tuple[Path, Path]:
    """Two PNG folders of ``count`` MNIST images each: the first train and the first test images."""
    folders = []
    for split in ("train", "test"):
        folder = workdir / f"e2e-mnist-{split}"
        write_image_folder(folder, load_dataset("mnist", split=split, limit=count).images)
        folders.append(folder)
    return folders[0], folders[1]


def genlab_end_to_end(a: Path, b: Path, count: int) -> tuple[float, float]:
    """(seconds, FID) of ``python -m genlab eval A B`` from process start to the printed JSON."""
    command = [sys.executable, "-m", "genlab", "eval", str(a), str(b), "--n", str(count)]
    command += ["--no-cache", "--no-progress", "--json", "-"]
    start = time.perf_counter()
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - start, float(json.loads(output)["fid"])


def torch_fidelity_weights(workdir: Path) -> Path:
    """genlab's installed FID weights in torch-fidelity's layout (pytorch-fid's ``.pth``)."""
    from genlab.metrics.features.inception_net import FEATURE_DIM, NUM_CLASSES
    from genlab.metrics.features.inception_weights import resolve_inception_weights

    weights = resolve_inception_weights()
    state = dict(weights.state_dict)
    if not weights.has_fc:
        # torch-fidelity loads strictly; its FID reads pool3, before fc, so zeros change nothing.
        state["fc.weight"] = torch.zeros(NUM_CLASSES, FEATURE_DIM)
        state["fc.bias"] = torch.zeros(NUM_CLASSES)
    path = workdir / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(state, path)
    return path


def torch_fidelity_end_to_end(
    fidelity: str, a: Path, b: Path, weights: Path
) -> tuple[float, float]:
    """(seconds, FID) of torch-fidelity's CLI on the CPU, process start to the printed JSON."""
    command = [fidelity, "--input1", str(a), "--input2", str(b), "--fid", "--cpu", "--json"]
    command += ["--no-cache", "--silent", "--feature-extractor-weights-path", str(weights)]
    start = time.perf_counter()
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    seconds = time.perf_counter() - start
    return seconds, float(json.loads(output[output.index("{") :])["frechet_inception_distance"])


def _median_run(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """(median seconds, FID) of repeated end-to-end runs (the FID is the same each time)."""
    return sorted(runs)[len(runs) // 2][0], runs[0][1]


def _bare(extractor: InceptionExtractor, x: torch.Tensor) -> torch.Tensor:
    return extractor.pool3(x)


@torch.inference_mode()
def _intra_op(extractor: InceptionExtractor, x: torch.Tensor) -> torch.Tensor:
    return extractor.network.pool3(x)


def frechet_timing(dim: int, rank: int, seed: int = 0) -> dict[str, float]:
    """Seconds of three routes to the Fréchet distance between covariances FFᵀ of ``rank``.

    ``genlab``: `frechet_distance`; ``eigh``: genlab's previous route, Σ₁^½ from ``eigh`` and
    the eigenvalues of Σ₁^½ Σ₂ Σ₁^½; ``sqrtm``: ``scipy.linalg.sqrtm(Σ₁Σ₂)`` (full rank only: it
    is ill-conditioned on singular products). ``relative``: genlab against the exact value, with
    Tr((Σ₁Σ₂)^½) the sum of the singular values of F₁ᵀF₂.
    """
    rng = np.random.default_rng(seed)
    factors = [rng.normal(size=(dim, rank)) / np.sqrt(dim) for _ in range(2)]
    covariances = [factor @ factor.T for factor in factors]
    mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
    base = float(((mu1 - mu2) ** 2).sum() + np.trace(covariances[0]) + np.trace(covariances[1]))
    exact = base - 2 * np.linalg.svd(factors[0].T @ factors[1], compute_uv=False).sum()
    seconds = {}
    start = time.perf_counter()
    ours = frechet_distance(mu1, covariances[0], mu2, covariances[1])
    seconds["genlab"] = time.perf_counter() - start
    start = time.perf_counter()
    eigenvalues, eigenvectors = np.linalg.eigh(covariances[0])
    root = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T
    middle = root @ covariances[1] @ root
    np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    seconds["eigh"] = time.perf_counter() - start
    if rank >= dim:
        start = time.perf_counter()
        np.trace(scipy.linalg.sqrtm(covariances[0] @ covariances[1]).real)
        seconds["sqrtm"] = time.perf_counter() - start
    seconds["relative"] = abs(ours - exact) / abs(exact)
    return seconds


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
    parser.add_argument(
        "--e2e-n", type=int, default=500, help="Images per folder in the end-to-end rows."
    )
    parser.add_argument(
        "--e2e-repeats", type=int, default=1, help="End-to-end runs of each command (median)."
    )
    parser.add_argument(
        "--torch-fidelity",
        metavar="PATH",
        help="torch-fidelity's `fidelity` executable (own venv); without it, its row is skipped.",
    )
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    with tempfile.TemporaryDirectory() as workdir:
        folder = image_folder(args.source, args.batch_size * args.batches, Path(workdir))
        pipeline_rate, bare_rate, intra_op_rate, peak = throughput(
            folder, args.batch_size, args.batches
        )
        a, b = png_pair(args.e2e_n, Path(workdir))
        weights = torch_fidelity_weights(Path(workdir)) if args.torch_fidelity else None
        genlab_runs, fidelity_runs = [], []
        for _ in range(args.e2e_repeats):  # interleaved, so load falls on both alike
            genlab_runs.append(genlab_end_to_end(a, b, args.e2e_n))
            if weights is not None:
                fidelity_runs.append(torch_fidelity_end_to_end(args.torch_fidelity, a, b, weights))
        genlab_e2e = _median_run(genlab_runs)
        fidelity_e2e = _median_run(fidelity_runs) if fidelity_runs else None
    gflop = 2 * inception_macs() / 1e9
    frechet = {
        "full rank": frechet_timing(args.dim, args.dim + 64),
        f"rank {args.e2e_n - 1}": frechet_timing(args.dim, args.e2e_n - 1),
    }
    count, rss_before, rss_peak, memory_seconds = memory(args.memory_dim)

    print(
        f"\nFID feature throughput: {args.source}, batch {args.batch_size}, "
        f"{args.batches} batches per arm, {_threads()}\n"
    )
    print(f"{'arm':<52} {'images/s':>9} {'ratio':>7}")
    print(f"{'bare pool3 forward, pre-resized 299×299 float':<52} {bare_rate:>9.2f} {1:>7.3f}")
    print(
        f"{'  the same, all threads on each layer (intra-op)':<52} {intra_op_rate:>9.2f} "
        f"{intra_op_rate / bare_rate:>7.3f}"
    )
    print(
        f"{'genlab pipeline: decode, TF1 resize, network, stats':<52} {pipeline_rate:>9.2f} "
        f"{pipeline_rate / bare_rate:>7.3f}"
    )
    network_gflops = bare_rate * gflop
    print(
        f"\nMachine peak against the network: Inception-v3 at 299 costs {gflop / 2:.2f} GMACs = "
        f"{gflop:.2f} GFLOP an image (counted)\n"
    )
    print(f"{'arm':<52} {'GFLOP/s':>9} {'of peak':>7}")
    print(f"{'fp32 matrix product 2048×2048 (best, same run)':<52} {peak:>9.1f} {1:>7.3f}")
    print(
        f"{'bare pool3 forward (images/s × GFLOP an image)':<52} {network_gflops:>9.1f} "
        f"{network_gflops / peak:>7.3f}"
    )
    print(
        f"images/s the peak would allow: {peak / gflop:.2f}; genlab pipeline: {pipeline_rate:.2f} "
        f"({pipeline_rate * gflop / peak:.3f} of peak)"
    )
    print(
        f"\nEnd to end, process start to printed FID: {args.e2e_n} vs {args.e2e_n} MNIST PNGs "
        f"(train vs test), no cache, median of {args.e2e_repeats}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}\n"
    )
    print(f"{'command':<52} {'seconds':>9} {'speed-up':>9} {'FID':>9}")
    genlab_seconds, genlab_fid = genlab_e2e
    if fidelity_e2e is None:
        print("torch-fidelity CLI: skipped (give --torch-fidelity PATH to its `fidelity`)")
        print(f"{'genlab eval':<52} {genlab_seconds:>9.1f} {'':>9} {genlab_fid:>9.4f}")
    else:
        fidelity_seconds, fidelity_fid = fidelity_e2e
        print(
            f"{'torch-fidelity 0.4 fidelity --fid --cpu':<52} {fidelity_seconds:>9.1f} {1:>9.2f} "
        )
        print(
            f"{'genlab eval':<52} {genlab_seconds:>9.1f} {fidelity_seconds / genlab_seconds:>9.2f} "
            f"{genlab_fid:>9.4f}"
        )
        print(
            f"torch-fidelity FID {fidelity_fid:.4f}, relative difference "
            f"{abs(genlab_fid - fidelity_fid) / abs(fidelity_fid):.1e}"
        )
        pairs = zip(fidelity_runs, genlab_runs, strict=True)
        print(
            "each round (torch-fidelity s / genlab s = speed-up): "
            + ", ".join(f"{tf:.1f} / {gl:.1f} = {tf / gl:.2f}" for (tf, _), (gl, _) in pairs)
        )
    print(f"\nFréchet distance, d = {args.dim}: seconds (speed-up of genlab's route)\n")
    print(
        f"{'covariances':<20} {'scipy sqrtm':>12} {'eigh Σ₁^½Σ₂Σ₁^½':>16} {'genlab':>8} "
        f"{'vs exact':>9}"
    )
    for name, row in frechet.items():
        sqrtm = (
            f"{row['sqrtm']:.2f} ({row['sqrtm'] / row['genlab']:.1f}×)" if "sqrtm" in row else "–"
        )
        eigh = f"{row['eigh']:.2f} ({row['eigh'] / row['genlab']:.1f}×)"
        print(f"{name:<20} {sqrtm:>12} {eigh:>16} {row['genlab']:>8.2f} {row['relative']:>9.1e}")
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

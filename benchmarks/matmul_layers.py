"""Training steps a second with the DCGAN networks' CPU matrix-product layers, against the plain
convolutions they replace (same parameters, same seed, same step).

`genlab.models.dcgan` computes three layers on the CPU as the matrix products they are: the
generator's first transposed convolution (of the 1×1 latent map), its last (few output channels)
and the critic's first convolution (one input channel). This benchmark times each GAN preset's
training step (`GANTask.step`, as `genlab train` runs it) both ways: the "plain" networks are the
same networks with those layers computed by torch's own convolutions. Rounds are interleaved and the
median steps/s is compared; the layers are also timed alone, forward and backward.

    GENLAB_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python benchmarks/matmul_layers.py
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Iterator

import torch

from genlab.models.dcgan import FoldConvTranspose2d, ProjectionConvTranspose2d, UnfoldConv2d
from genlab.training.config import resolve_config
from genlab.training.trainer import Trainer

MATMUL_LAYERS = (ProjectionConvTranspose2d, FoldConvTranspose2d, UnfoldConv2d)
KINDS = ("plain", "matmul")


@contextlib.contextmanager
def plain_convolutions() -> Iterator[None]:
    """Inside, the matrix-product layers compute as torch's convolutions (their parents' forward;
    patched on the classes, so spectrally normalised subclasses follow too)."""
    saved = {kind: kind.forward for kind in MATMUL_LAYERS}
    for kind in MATMUL_LAYERS:
        kind.forward = kind.__mro__[1].forward
    try:
        yield
    finally:
        for kind, forward in saved.items():
            kind.forward = forward


def steps_per_second(trainer: Trainer, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        trainer.task.step(log=False)
    return steps / (time.perf_counter() - start)


def build(preset: str, args: argparse.Namespace) -> Trainer:
    config = resolve_config(preset, data=args.data, seed=0, precision=args.precision)
    return Trainer(config, run_dir=None)


def timed(kind: str, trainer: Trainer, steps: int) -> float:
    """Steps/s of ``trainer``, with plain convolutions if ``kind`` is "plain"."""
    with plain_convolutions() if kind == "plain" else contextlib.nullcontext():
        return steps_per_second(trainer, steps)


def time_training(args: argparse.Namespace) -> None:
    """Median generator steps/s of each preset, plain and with the matrix-product layers."""
    print(f"{'preset':<10} {'plain steps/s':>14} {'matmul steps/s':>15} {'ratio':>6}")
    for preset in args.presets.split(","):
        trainers = {kind: build(preset, args) for kind in KINDS}  # same seed, same networks
        for kind, trainer in trainers.items():
            timed(kind, trainer, 3)  # warm-up: allocations and kernel choice
        rates: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for _ in range(args.rounds):
            for kind, trainer in trainers.items():
                rates[kind].append(timed(kind, trainer, args.steps))
        plain, matmul = (statistics.median(rates[kind]) for kind in KINDS)
        print(f"{preset:<10} {plain:>14.2f} {matmul:>15.2f} {matmul / plain:>6.2f}", flush=True)


def milliseconds(forward, x: torch.Tensor, repeats: int) -> float:
    """Mean time of forward(x).sum().backward() after 3 warm-up calls."""
    for _ in range(3):
        forward(x).sum().backward()
    start = time.perf_counter()
    for _ in range(repeats):
        forward(x).sum().backward()
    return 1e3 * (time.perf_counter() - start) / repeats


def time_layers(batch: int, repeats: int = 30) -> None:
    """Each layer alone at MNIST's width-32 shapes, forward and backward, in ms."""
    cases = [
        ("generator's first", ProjectionConvTranspose2d(128, 64, 7, bias=False), (128, 1, 1)),
        ("generator's last", FoldConvTranspose2d(32, 1, 4, 2, 1), (32, 14, 14)),
        ("critic's first", UnfoldConv2d(1, 32, 4, 2, 1), (1, 28, 28)),
    ]
    print(f"\n{'layer, batch ' + str(batch):<22} {'plain ms':>9} {'matmul ms':>10} {'ratio':>6}")
    for name, layer, shape in cases:
        x = torch.randn(batch, *shape, requires_grad=True)
        with plain_convolutions():
            plain = milliseconds(layer, x, repeats)
        matmul = milliseconds(layer, x, repeats)
        print(f"{name:<22} {plain:>9.2f} {matmul:>10.2f} {plain / matmul:>6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="dcgan,sngan,wgan,wgan-gp")
    parser.add_argument("--data", default="mnist")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--steps", type=int, default=20, help="generator steps per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.precision}")
    time_training(args)
    time_layers(batch=64)


if __name__ == "__main__":
    main()

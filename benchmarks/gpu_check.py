"""The Python parts of `benchmarks/gpu_check.sh`: each prints a short table and writes JSON.

    python benchmarks/gpu_check.py fid-devices --n 10000 --cpu-n 2000 --json out.json
    python benchmarks/gpu_check.py throughput --batch-sizes 200,500 --json out.json
    python benchmarks/gpu_check.py train-steps --steps 300 --cpu-steps 30 --json out.json
    python benchmarks/gpu_check.py same-losses RUN_A RUN_B --after 100

``--device cpu`` runs every part on the CPU at tiny sizes (the script's ``--dry-run``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path

import torch

from genlab.data.sources import load_dataset
from genlab.metrics.features import inception
from genlab.metrics.features.inception import InceptionExtractor, preprocess_uint8
from genlab.metrics.fid import fid_from_features

PRESETS = ("wgan", "wgan-gp", "dcgan", "gan", "sngan", "vae")


def _write(path: str | None, record: dict) -> None:
    print(json.dumps(record, indent=2))
    if path:
        Path(path).write_text(json.dumps(record, indent=2) + "\n")


def _features(
    extractor: InceptionExtractor, images: torch.Tensor, *, tf32: bool
) -> tuple[torch.Tensor, float]:
    """Features and seconds; ``tf32=True`` runs the network with PyTorch's default TF32 settings
    for convolutions instead of genlab's IEEE float32 (the arm that shows what TF32 would cost)."""
    saved = inception._float32_arithmetic, torch.backends.cudnn.allow_tf32
    if tf32:
        torch.backends.cudnn.allow_tf32 = True  # PyTorch's default for convolutions
        inception._float32_arithmetic = contextlib.nullcontext
    try:
        start = time.perf_counter()
        features = extractor(images)
        if extractor.device.type == "cuda":
            torch.cuda.synchronize()
        return features.double(), time.perf_counter() - start
    finally:
        inception._float32_arithmetic, torch.backends.cudnn.allow_tf32 = saved


def fid_devices(args: argparse.Namespace) -> None:
    """FID of CIFAR-10 train vs test (JPEG) on the device, TF32 off (genlab) and on; CPU on the
    first ``--cpu-n`` images of each for the device-vs-CPU comparison."""
    splits = {
        split: load_dataset("cifar10-jpeg", split=split, limit=args.n).images
        for split in ("train", "test")
    }
    device = InceptionExtractor(device=args.device, batch_size=args.batch_size)
    record: dict = {"n": args.n, "cpu_n": args.cpu_n, "device": args.device}
    features = {}
    for tf32 in (False, True):
        parts = {split: _features(device, images, tf32=tf32) for split, images in splits.items()}
        name = "tf32" if tf32 else "fp32"
        features[name] = {split: part[0] for split, part in parts.items()}
        record[f"{name}_fid_{args.n}"] = fid_from_features(
            features[name]["train"], features[name]["test"]
        )
        record[f"{name}_images_per_s"] = 2 * args.n / sum(part[1] for part in parts.values())
    cpu = InceptionExtractor(device="cpu", batch_size=min(args.batch_size, 100))
    cpu_features = {
        split: _features(cpu, images[: args.cpu_n], tf32=False)[0]
        for split, images in splits.items()
    }
    cpu_fid = fid_from_features(cpu_features["train"], cpu_features["test"])
    record[f"cpu_fid_{args.cpu_n}"] = cpu_fid
    for name in ("fp32", "tf32"):
        small = fid_from_features(
            features[name]["train"][: args.cpu_n], features[name]["test"][: args.cpu_n]
        )
        record[f"{name}_fid_{args.cpu_n}"] = small
        record[f"{name}_vs_cpu_fid_relative"] = abs(small - cpu_fid) / cpu_fid
        record[f"{name}_vs_cpu_feature_max_abs"] = float(
            (features[name]["test"][: args.cpu_n] - cpu_features["test"]).abs().max()
        )
    record["fp32_passes_1e-4"] = record["fp32_vs_cpu_fid_relative"] <= 1e-4
    _write(args.json, record)


def throughput(args: argparse.Namespace) -> None:
    """Network images/s (pre-resized input) and whole-extractor images/s at each batch size."""
    extractor = InceptionExtractor(device=args.device)
    sync = torch.cuda.synchronize if extractor.device.type == "cuda" else (lambda: None)
    images = load_dataset("cifar10-jpeg", split="test", limit=max(args.batch_sizes)).images
    record: dict = {"device": args.device}
    for batch_size in args.batch_sizes:
        batch = images[:batch_size]
        x = preprocess_uint8(batch.to(extractor.device)).contiguous(
            memory_format=torch.channels_last
        )
        extractor.batch_size = batch_size
        with torch.inference_mode(), inception._float32_arithmetic():
            extractor.network.pool3(x)  # warm-up: cuDNN's algorithm choice
            sync()
            start = time.perf_counter()
            for _ in range(args.batches):
                extractor.network.pool3(x)
            sync()
            network_rate = batch_size * args.batches / (time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(args.batches):
            extractor(batch)
        sync()
        record[f"batch_{batch_size}"] = {
            "network_images_per_s": network_rate,
            "extractor_images_per_s": batch_size * args.batches / (time.perf_counter() - start),
        }
    _write(args.json, record)


def _train_seconds(preset: str, steps: int, device: str, data: str) -> float:
    from genlab.training.config import resolve_config
    from genlab.training.trainer import Trainer

    with tempfile.TemporaryDirectory() as folder:
        config = resolve_config(
            preset,
            data=data,
            steps=steps,
            device=device,
            out=f"{folder}/run",
            progress=False,
            tensorboard=False,
            sample_every=10**9,
            checkpoint_every=10**9,
        )
        trainer = Trainer.start(config)
        start = time.perf_counter()
        trainer.train()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start


def train_steps(args: argparse.Namespace) -> None:
    """Generator steps/s of each preset on the device against the CPU (same data, batch 64)."""
    record: dict = {"device": args.device, "data": args.data}
    for preset in args.presets:
        device_seconds = _train_seconds(preset, args.steps, args.device, args.data)
        cpu_seconds = _train_seconds(preset, args.cpu_steps, "cpu", args.data)
        record[preset] = {
            "device_steps_per_s": args.steps / device_seconds,
            "cpu_steps_per_s": args.cpu_steps / cpu_seconds,
            "speed_up": (args.steps / device_seconds) / (args.cpu_steps / cpu_seconds),
        }
    _write(args.json, record)


def _losses(run: Path, after: int) -> dict[int, dict[str, float]]:
    """The last record of each logged step past ``after`` (a killed run may have logged a step
    that its resumed continuation logs again)."""
    records: dict[int, dict[str, float]] = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        step = record.get("step")
        if isinstance(step, int) and step > after:
            losses = {k: v for k, v in record.items() if k.startswith("loss")}
            if losses:
                records[step] = losses
    return records


def same_losses(args: argparse.Namespace) -> None:
    """Losses of an uninterrupted run and a killed-and-resumed one, step by step past the
    checkpoint: equal (deterministic algorithms) or the largest difference is printed."""
    full, resumed = _losses(Path(args.full), args.after), _losses(Path(args.resumed), args.after)
    steps = sorted(full.keys() & resumed.keys())
    largest = max(
        (
            abs(full[s][k] - resumed[s][k])
            for s in steps
            for k in full[s].keys() & resumed[s].keys()
        ),
        default=float("nan"),
    )
    record = {
        "compared_steps": len(steps),
        "missing_steps": sorted(full.keys() ^ resumed.keys()),
        "largest_loss_difference": largest,
        "identical": bool(steps) and largest == 0.0,
    }
    _write(args.json, record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    part = commands.add_parser("fid-devices")
    part.add_argument("--n", type=int, default=10000)
    part.add_argument("--cpu-n", type=int, default=2000)
    part.add_argument("--batch-size", type=int, default=200)
    part.set_defaults(run=fid_devices)
    part = commands.add_parser("throughput")
    part.add_argument(
        "--batch-sizes", type=lambda s: [int(v) for v in s.split(",")], default=[200, 500]
    )
    part.add_argument("--batches", type=int, default=5)
    part.set_defaults(run=throughput)
    part = commands.add_parser("train-steps")
    part.add_argument("--presets", type=lambda s: s.split(","), default=list(PRESETS))
    part.add_argument("--data", default="mnist")
    part.add_argument("--steps", type=int, default=300)
    part.add_argument("--cpu-steps", type=int, default=30)
    part.set_defaults(run=train_steps)
    part = commands.add_parser("same-losses")
    part.add_argument("full")
    part.add_argument("resumed")
    part.add_argument("--after", type=int, required=True)
    part.set_defaults(run=same_losses)
    for sub in commands.choices.values():
        sub.add_argument("--device", default="cuda")
        sub.add_argument("--json", help="Also write the record to this file.")
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()

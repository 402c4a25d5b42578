"""FID Inception features under bfloat16 autocast on the CPU: speed and how far FID moves.

Both arms run the same network (batch norms folded, channels_last) on the same MNIST images,
batch by batch alternating, so load from other processes falls on both alike:

- fp32: genlab's protocol (``InceptionExtractor``);
- bf16: the same forward under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (oneDNN runs the
  convolutions in bfloat16 where the CPU has bf16 units: ``avx512_bf16`` or ``amx_bf16`` in
  ``lscpu``), features cast back to float32.

Printed: images/s of each arm and their ratio, FID of MNIST train vs test (the first ``--n``
images of each) under each arm, and the relative FID difference, which says whether bf16 could be
offered as a protocol of its own (never mixed with fp32 statistics).

    GENLAB_DATA_DIR=../shared/data GENLAB_INCEPTION_WEIGHTS=.cache/fid-weights/default_1.pt \\
        python benchmarks/bf16_features.py --n 1000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from genlab.data.sources import load_dataset
from genlab.metrics.features.inception import InceptionExtractor, preprocess_uint8
from genlab.metrics.fid import fid_from_features


def _cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "").split()
    found = [flag for flag in ("avx512_bf16", "amx_bf16", "amx_tile") if flag in flags]
    return ", ".join(found) or "no bf16 flags"


@torch.inference_mode()
def features(extractor: InceptionExtractor, images: torch.Tensor, batch_size: int):
    """(fp32 features, bf16 features, fp32 seconds, bf16 seconds), arms alternating."""
    fp32, bf16, seconds32, seconds16 = [], [], 0.0, 0.0
    for start in range(0, images.shape[0], batch_size):
        x = preprocess_uint8(images[start : start + batch_size])
        x = x.contiguous(memory_format=torch.channels_last)
        begin = time.perf_counter()
        fp32.append(extractor.network.pool3(x))
        seconds32 += time.perf_counter() - begin
        begin = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16.append(extractor.network.pool3(x).float())
        seconds16 += time.perf_counter() - begin
    return torch.cat(fp32), torch.cat(bf16), seconds32, seconds16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="Images of each split.")
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args()
    extractor = InceptionExtractor(batch_size=args.batch_size)
    warm = preprocess_uint8(load_dataset("mnist", split="test", limit=2).images)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        extractor.network.pool3(warm.contiguous(memory_format=torch.channels_last))
    results = {}
    total32 = total16 = 0.0
    for split in ("train", "test"):
        images = load_dataset("mnist", split=split, limit=args.n).images
        fp32, bf16, seconds32, seconds16 = features(extractor, images, args.batch_size)
        results[split] = fp32.double(), bf16.double()
        total32, total16 = total32 + seconds32, total16 + seconds16
    count = 2 * args.n
    fid32 = fid_from_features(results["train"][0], results["test"][0])
    fid16 = fid_from_features(results["train"][1], results["test"][1])
    drift = (results["test"][1] - results["test"][0]).abs().max().item()
    print(
        f"\nInception features, fp32 against bf16 autocast: MNIST train vs test, {args.n} each, "
        f"batch {args.batch_size}, torch {torch.get_num_threads()} threads, CPU flags: "
        f"{_cpu_flags()}\n"
    )
    print(f"{'arm':<28} {'images/s':>9} {'speed-up':>9} {'FID':>10}")
    print(f"{'fp32 (genlab protocol)':<28} {count / total32:>9.2f} {1:>9.2f} {fid32:>10.4f}")
    print(f"{'bf16 autocast':<28} {count / total16:>9.2f} {total32 / total16:>9.2f} {fid16:>10.4f}")
    print(
        f"FID relative difference {abs(fid16 - fid32) / fid32:.1e}; "
        f"largest feature difference {drift:.3f}"
    )


if __name__ == "__main__":
    main()

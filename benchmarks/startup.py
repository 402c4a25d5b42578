"""Start-up of the CLI against the floor, ``python -c "import torch"``, in one run.

Each command is a fresh interpreter, run ``--repeats`` times, the commands interleaved so load
from other processes falls on all alike; the median wall time and its ratio to the floor are
printed. ``genlab --help`` and ``genlab eval --help`` should cost a fraction of the floor (they
import no torch: tests/cli/test_startup.py); the modules ``genlab eval`` loads to compute an
Inception FID should cost little above it.

    python benchmarks/startup.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c 'import torch' (floor)": ["-c", "import torch"],
    "python -c 'pass' (the interpreter alone)": ["-c", "pass"],
    "genlab --help": ["-m", "genlab", "--help"],
    "genlab eval --help": ["-m", "genlab", "eval", "--help"],
    "modules of genlab eval (Inception FID)": [
        "-c",
        "import genlab.cli.eval, genlab.metrics.evaluate, genlab.metrics.features.inception",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):
        for name, command in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, *command], check=True, capture_output=True)
            seconds[name].append(time.perf_counter() - start)
    floor = statistics.median(seconds["python -c 'import torch' (floor)"])
    print(f"\nStart-up, median of {args.repeats} fresh interpreters each, interleaved\n")
    print(f"{'command':<44} {'seconds':>8} {'of floor':>9}")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"{name:<44} {median:>8.2f} {median / floor:>9.2f}")


if __name__ == "__main__":
    main()

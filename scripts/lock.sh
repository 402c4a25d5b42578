#!/usr/bin/env bash
# Regenerate requirements/test.txt: the exact version of every package that scripts/test.sh
# installs (genlab's dependencies, its test tools, torch's own dependencies), resolved with
# pip-tools in a throwaway environment. Run it when a dependency floor changes or to move the
# test environment to newer releases; commit the result after `bash scripts/test.sh` passes.
# pyproject.toml keeps floors only: a library must not pin its users.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools/venv"
"$tools/venv/bin/python" -m pip install -q "pip-tools==7.6.2"
CUSTOM_COMPILE_COMMAND="bash scripts/lock.sh" "$tools/venv/bin/pip-compile" -q --upgrade \
  --extra dev --strip-extras --allow-unsafe --no-emit-find-links --no-emit-index-url \
  --output-file requirements/test.txt pyproject.toml requirements/torch.in
# The resolver may pick a local build such as torch 2.13.0+cpu; the lock names the release, so
# that the CPU and CUDA builds of it both satisfy it and test.sh keeps whichever is installed.
sed -E -i 's/^(torch==[0-9.]+)\+[A-Za-z0-9.]+$/\1/' requirements/test.txt
echo "wrote requirements/test.txt ($(grep -c '^[a-z]' requirements/test.txt) packages)"

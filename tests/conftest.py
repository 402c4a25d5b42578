"""Shared fixtures.

Tests that read public data sets find them through GENLAB_DATA_DIR. On a user's machine without it
they skip with a reason; in CI (CI=true) a missing data directory is a failure, because nothing may
skip there for want of data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch


def _require(path: Path, what: str) -> Path:
    if path.exists():
        return path
    message = f"{what} not found at {path}; set GENLAB_DATA_DIR to the folder holding the data sets"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The folder of local data-set copies (``../shared/data`` in CI)."""
    value = os.environ.get("GENLAB_DATA_DIR")
    if not value:
        message = "GENLAB_DATA_DIR is not set; point it at the folder with mnist/ and cifar10-jpeg/"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return _require(Path(value), "data directory")


@pytest.fixture(scope="session")
def mnist_dir(shared_data_dir: Path) -> Path:
    return _require(shared_data_dir / "mnist", "MNIST IDX files")


@pytest.fixture(scope="session")
def cifar10_jpeg_tar(shared_data_dir: Path) -> Path:
    return _require(shared_data_dir / "cifar10-jpeg" / "CIFAR-10-images.tar", "CIFAR-10 JPEG tar")


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same global torch RNG state, whatever ran before it."""
    torch.manual_seed(0)

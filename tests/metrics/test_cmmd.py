"""CMMD against a direct evaluation of its formula, and its place among the metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genlab.data.imageio import write_npz
from genlab.errors import GenlabError
from genlab.metrics import keys
from genlab.metrics.cmmd import cmmd
from genlab.metrics.evaluate import evaluate


def _direct_cmmd(x: np.ndarray, y: np.ndarray) -> float:
    """1000 · MMD²_b with k(u, v) = exp(-‖u - v‖²/(2·10²)) on unit vectors, term by term."""
    x = [[v / math.sqrt(sum(w * w for w in row)) for v in row] for row in x.tolist()]
    y = [[v / math.sqrt(sum(w * w for w in row)) for v in row] for row in y.tolist()]

    def k(u, v):
        return math.exp(-sum((a - b) ** 2 for a, b in zip(u, v, strict=True)) / (2 * 10.0**2))

    k_xx = sum(k(u, v) for u in x for v in x) / len(x) ** 2
    k_yy = sum(k(u, v) for u in y for v in y) / len(y) ** 2
    k_xy = sum(k(u, v) for u in x for v in y) / (len(x) * len(y))
    return 1000.0 * (k_xx + k_yy - 2.0 * k_xy)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cmmd_equals_the_formula_evaluated_directly(dtype):
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(9, 16, generator=generator, dtype=torch.float64)
    y = torch.randn(6, 16, generator=generator, dtype=torch.float64) + 0.4
    expected = _direct_cmmd(x.numpy(), y.numpy())
    assert expected > 1.0  # different sets: a clearly positive value
    assert cmmd(x.to(dtype), y.to(dtype)) == pytest.approx(
        expected, rel=1e-6 if dtype == torch.float32 else 1e-12
    )


def test_cmmd_is_zero_for_identical_sets_and_ignores_the_embeddings_norms():
    x = torch.randn(12, 8, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    assert abs(cmmd(x, x.clone())) < 1e-12
    y = torch.randn(10, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    scales = torch.rand(12, 1, dtype=torch.float64) * 5 + 0.1
    assert cmmd(x * scales, y) == pytest.approx(cmmd(x, y), rel=1e-12)


def test_cmmd_refuses_a_zero_embedding():
    x = torch.randn(4, 3)
    x[2] = 0
    with pytest.raises(GenlabError, match="all zeros"):
        cmmd(x, torch.randn(4, 3))


def test_cmmd_refuses_a_non_clip_extractor(tmp_path):
    images = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8)
    write_npz(tmp_path / "a.npz", images)
    with pytest.raises(GenlabError, match="CMMD is defined on CLIP image embeddings"):
        evaluate(
            str(tmp_path / "a.npz"),
            str(tmp_path / "a.npz"),
            metrics="cmmd",
            features="pixels",
            cache=False,
            progress=False,
        )


def test_result_key_is_declared():
    from genlab.metrics import registry

    assert registry.result_key(keys.CMMD).label == "CMMD"
    assert registry.get("cmmd").requires == frozenset({registry.CLIP_EMBEDDING})

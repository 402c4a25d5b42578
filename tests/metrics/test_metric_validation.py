"""Shared feature checks: shapes, dimensions, finiteness, sample counts and the FID bias warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from genlab.errors import GenlabError
from genlab.metrics.validation import (
    FIDBiasWarning,
    as_feature_pair,
    as_feature_tensor,
    warn_if_rank_deficient,
)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_valid_features_come_back_as_tensor_with_same_values(backend):
    values = np.arange(12, dtype=np.float64).reshape(4, 3)
    given = values if backend == "numpy" else torch.from_numpy(values)
    tensor = as_feature_tensor(given)
    assert isinstance(tensor, torch.Tensor)
    assert tensor.dtype == torch.float64
    np.testing.assert_array_equal(tensor.numpy(), values)


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (torch.float16, torch.float32),
        (torch.bfloat16, torch.float32),
        (torch.int64, torch.float64),
        (torch.uint8, torch.float64),
        (torch.float32, torch.float32),
    ],
)
def test_narrow_and_integer_dtypes_are_promoted(dtype, expected):
    assert as_feature_tensor(torch.ones(3, 2, dtype=dtype)).dtype == expected


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4), ()])
def test_non_2d_input_is_rejected(shape):
    with pytest.raises(GenlabError, match="must be 2-D"):
        as_feature_tensor(np.zeros(shape))


def test_non_array_input_is_rejected():
    with pytest.raises(GenlabError, match="NumPy array or a torch tensor"):
        as_feature_tensor([[1.0, 2.0]])


def test_string_array_is_rejected():
    with pytest.raises(GenlabError, match="real numbers"):
        as_feature_tensor(np.array([["a", "b"]]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_non_finite_rows_are_counted_in_the_message(bad, backend):
    values = np.zeros((10, 4))
    values[2, 1] = bad
    values[7, 0] = bad
    values[7, 3] = bad  # same row twice: still 2 rows
    given = values if backend == "numpy" else torch.from_numpy(values)
    with pytest.raises(GenlabError, match=r"features_b has 2 of 10 rows with NaN or inf"):
        as_feature_tensor(given, what="features_b")


def test_too_few_samples_is_rejected():
    with pytest.raises(GenlabError, match="1 rows but at least 2"):
        as_feature_tensor(np.zeros((1, 3)), min_samples=2)


def test_zero_columns_is_rejected():
    with pytest.raises(GenlabError, match="0 feature columns"):
        as_feature_tensor(np.zeros((3, 0)))


def test_pair_with_different_dims_is_rejected():
    with pytest.raises(
        GenlabError, match="features_a has 3 features per sample but features_b has 4"
    ):
        as_feature_pair(np.zeros((5, 3)), np.zeros((5, 4)))


def test_pair_is_promoted_to_a_common_dtype():
    a, b = as_feature_pair(np.zeros((2, 3), np.float32), torch.zeros(4, 3, dtype=torch.float64))
    assert a.dtype == b.dtype == torch.float64


def test_rank_deficient_covariance_warns():
    with pytest.warns(FIDBiasWarning, match="100 samples in 2048 dimensions"):
        warn_if_rank_deficient(100, 2048)


def test_enough_samples_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_rank_deficient(2049, 2048)

"""The sklearn digits, against sklearn's own arrays."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from genlab.data.digits import load_digits_dataset


def test_digits_match_sklearn_scaled_to_uint8():
    data = load_digits_dataset()
    reference = load_digits()
    assert data.images.shape == (1797, 1, 8, 8)
    assert data.images.dtype == torch.uint8
    expected = np.floor(reference.images * 255 / 16 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(data.images[:, 0].numpy(), expected)
    np.testing.assert_array_equal(data.labels.numpy(), reference.target)
    assert data.labels.dtype == torch.int64
    assert data.classes == tuple("0123456789")
    assert data.name == "digits"


def test_digits_value_range_and_classes():
    data = load_digits_dataset()
    assert int(data.images.min()) == 0
    assert int(data.images.max()) == 255
    assert set(np.unique(data.images.numpy()).tolist()) <= {
        round(v * 255 / 16 + 1e-9) for v in range(17)
    }
    assert torch.bincount(data.labels).tolist() == [
        178,
        182,
        177,
        183,
        181,
        182,
        181,
        179,
        174,
        180,
    ]

"""Result keys are distinct and are the ones the metric functions return."""

from __future__ import annotations

import numpy as np
import torch

from genlab.metrics import keys
from genlab.metrics.prdc import prdc
from genlab.metrics.reconstruction import reconstruction_error


def test_result_keys_are_distinct_lowercase_strings():
    names = [name for name in dir(keys) if name.isupper() and not name.endswith("_SUFFIX")]
    values = [getattr(keys, name) for name in names]
    assert len(values) == len(set(values)) >= 13
    assert all(isinstance(value, str) and value == value.lower() for value in values)


def test_metric_functions_return_the_published_keys():
    features = np.random.default_rng(0).normal(size=(20, 3))
    assert set(prdc(features, features + 0.1, k=3)) == {
        keys.PRECISION,
        keys.RECALL,
        keys.DENSITY,
        keys.COVERAGE,
    }
    images = torch.zeros(1, 1, 2, 2, dtype=torch.uint8)
    assert set(reconstruction_error(images, images + 1)) == {keys.MSE, keys.L2, keys.PSNR}

"""The Vendi score against its definition (the n × n kernel's spectrum) and its known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genlab.errors import GenlabError
from genlab.metrics.vendi import vendi_score


def _direct(x: np.ndarray) -> float:
    """exp(entropy of the eigenvalues of K/n), K the n × n cosine similarities."""
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    eigenvalues = np.linalg.eigvalsh(unit @ unit.T / len(x))
    eigenvalues = eigenvalues[eigenvalues > 1e-12]
    return math.exp(-(eigenvalues * np.log(eigenvalues)).sum())


def test_identical_samples_score_one(backend):
    row = np.random.default_rng(0).normal(size=(1, 16))
    assert vendi_score(backend(np.repeat(row, 50, axis=0))) == pytest.approx(1.0, abs=1e-5)


def test_orthogonal_samples_score_their_number(backend):
    # Orthogonal rows of different lengths: the cosine kernel ignores the length.
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(20, 20)))
    rows = q[:12] * np.arange(1, 13)[:, None]
    assert vendi_score(backend(rows)) == pytest.approx(12.0, rel=1e-5)


def test_groups_of_copies_score_the_number_of_groups():
    # 4 orthogonal directions, 25 copies each: K/n is block-constant with 4 eigenvalues ¼.
    rows = np.repeat(np.eye(4, 10), 25, axis=0)
    assert vendi_score(rows) == pytest.approx(4.0, rel=1e-10)


@pytest.mark.parametrize(("n", "d"), [(30, 8), (8, 30)])
def test_matches_the_n_by_n_definition(n, d):
    # n > d goes through the d × d Gram matrix, n < d through the n × n one: both must agree
    # with the definition.
    x = np.random.default_rng(1).normal(size=(n, d)) + 0.5
    assert vendi_score(x) == pytest.approx(_direct(x), rel=1e-9)


def test_zero_rows_are_refused():
    x = np.ones((5, 3))
    x[2] = 0
    with pytest.raises(GenlabError, match="1 feature rows are all zeros"):
        vendi_score(x)

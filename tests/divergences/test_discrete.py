import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from genlab.divergences.discrete import js_divergence, kl_divergence
from genlab.errors import GenlabError


def _random_histograms(rng, shape):
    return rng.random(shape) * 10


def test_kl_matches_scipy_entropy_on_random_histograms(backend):
    rng = np.random.default_rng(1)
    for _ in range(5):
        p, q = _random_histograms(rng, 12), _random_histograms(rng, 12)
        # scipy reference on the same (possibly float32-rounded) values.
        p_in, q_in = backend(p), backend(q)
        p64 = np.asarray(p_in, dtype=np.float64)
        q64 = np.asarray(q_in, dtype=np.float64)
        expected = entropy(p64, q64)
        assert kl_divergence(p_in, q_in) == pytest.approx(expected, rel=1e-12)
        assert kl_divergence(p_in, q_in, base=2) == pytest.approx(
            entropy(p64, q64, base=2), rel=1e-12
        )


def test_js_matches_squared_scipy_jensenshannon(backend):
    rng = np.random.default_rng(2)
    for _ in range(5):
        p, q = _random_histograms(rng, 9), _random_histograms(rng, 9)
        p[rng.integers(9)] = 0.0  # a zero bin in one of them exercises 0 log 0
        p_in, q_in = backend(p), backend(q)
        p64 = np.asarray(p_in, dtype=np.float64)
        q64 = np.asarray(q_in, dtype=np.float64)
        assert js_divergence(p_in, q_in) == pytest.approx(jensenshannon(p64, q64) ** 2, rel=1e-10)
        assert js_divergence(p_in, q_in, base=2) == pytest.approx(
            jensenshannon(p64, q64, base=2) ** 2, rel=1e-10
        )


def test_vectorised_over_leading_axes_and_other_axis(backend):
    rng = np.random.default_rng(3)
    p, q = _random_histograms(rng, (4, 3, 7)), _random_histograms(rng, (4, 3, 7))
    p_in, q_in = backend(p), backend(q)
    p64, q64 = np.asarray(p_in, dtype=np.float64), np.asarray(q_in, dtype=np.float64)
    kl = kl_divergence(p_in, q_in)
    js = js_divergence(p_in, q_in)
    assert kl.shape == js.shape == (4, 3)
    for i in range(4):
        for j in range(3):
            assert kl[i, j] == pytest.approx(entropy(p64[i, j], q64[i, j]), rel=1e-12)
            assert js[i, j] == pytest.approx(jensenshannon(p64[i, j], q64[i, j]) ** 2, rel=1e-10)
    kl_axis0 = kl_divergence(p_in, q_in, axis=0)
    assert kl_axis0.shape == (3, 7)
    assert kl_axis0[1, 5] == pytest.approx(entropy(p64[:, 1, 5], q64[:, 1, 5]), rel=1e-12)


def test_kl_is_infinite_exactly_where_p_charges_a_bin_q_misses(backend):
    p = backend([0.2, 0.3, 0.0, 0.5, 0.0])
    q = backend([0.1, 0.0, 0.4, 0.0, 0.5])
    value, support = kl_divergence(p, q, return_support=True)
    assert value == math.inf
    np.testing.assert_array_equal(support, [1, 3])
    # The reverse direction is infinite too (q charges bins 2 and 4 where p is empty).
    value_rev, support_rev = kl_divergence(q, p, return_support=True)
    assert value_rev == math.inf
    np.testing.assert_array_equal(support_rev, [2, 4])
    # Q covering P's support (even with extra mass elsewhere) gives a finite value.
    q_cover = backend([0.1, 0.1, 0.4, 0.2, 0.2])
    finite, empty = kl_divergence(p, q_cover, return_support=True)
    assert math.isfinite(finite)
    assert empty.size == 0


def test_kl_support_indices_in_batched_histograms():
    p = np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    q = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0]])
    value, support = kl_divergence(p, q, return_support=True)
    assert math.isfinite(value[0])
    assert value[1] == math.inf
    assert [idx.tolist() for idx in support] == [[1], [1]]


def test_disjoint_supports_give_js_log2_exactly(backend):
    rng = np.random.default_rng(4)
    p = np.concatenate([rng.random(6), np.zeros(5)])
    q = np.concatenate([np.zeros(6), rng.random(5)])
    p_in, q_in = backend(p), backend(q)
    assert abs(js_divergence(p_in, q_in) - math.log(2)) < 1e-12
    assert abs(js_divergence(p_in, q_in, base=2) - 1.0) < 1e-12
    assert kl_divergence(p_in, q_in) == math.inf


def test_identical_histograms_give_zero_and_js_is_bounded(backend):
    rng = np.random.default_rng(5)
    p = backend(rng.random(20))
    assert kl_divergence(p, p) == 0.0
    assert js_divergence(p, p) == 0.0
    for _ in range(20):
        a, b = _random_histograms(rng, 20), _random_histograms(rng, 20)
        a[rng.random(20) < 0.5] = 0
        b[rng.random(20) < 0.5] = 0
        a[0] = b[1] = 1.0
        assert 0.0 <= js_divergence(a, b) <= math.log(2) + 1e-15


def test_counts_and_probabilities_give_the_same_value():
    p = np.array([3.0, 1.0, 4.0])
    q = np.array([1.0, 5.0, 9.0])
    assert kl_divergence(p, q) == pytest.approx(kl_divergence(p / 8, q / 15), rel=1e-14)
    assert js_divergence(p, q) == pytest.approx(js_divergence(p / 8, q / 15), rel=1e-14)


@pytest.mark.parametrize(
    ("p", "q", "match"),
    [
        ([0.5, -0.1, 0.6], [0.3, 0.3, 0.4], "negative"),
        ([0.0, 0.0], [0.5, 0.5], "summing to zero"),
        ([0.5, float("nan")], [0.5, 0.5], "NaN"),
        ([0.5, 0.5], [0.2, 0.3, 0.5], "broadcastable"),
    ],
)
@pytest.mark.parametrize("function", [kl_divergence, js_divergence])
def test_invalid_histograms_raise(function, p, q, match):
    with pytest.raises(GenlabError, match=match):
        function(p, q)


def test_invalid_base_raises():
    with pytest.raises(GenlabError, match="base"):
        kl_divergence([0.5, 0.5], [0.5, 0.5], base=1)

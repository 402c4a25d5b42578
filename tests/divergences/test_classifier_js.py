import math

import numpy as np
import pytest
from scipy import integrate, stats

from genlab.divergences.classifier import classifier_js_lower_bound
from genlab.divergences.discrete import js_divergence
from genlab.errors import GenlabError


def _gaussian_shift_js(shift):
    """JS(N(0, 1), N(shift, 1)) by quadrature of ½p log(p/m) + ½q log(q/m)."""
    p, q = stats.norm(0.0, 1.0), stats.norm(shift, 1.0)

    def integrand(t):
        pt, qt = p.pdf(t), q.pdf(t)
        mt = 0.5 * (pt + qt)
        return 0.5 * pt * math.log(pt / mt) + 0.5 * qt * math.log(qt / mt)

    return integrate.quad(integrand, -12.0, 12.0 + shift)[0]


def test_disjoint_well_separated_samples_give_nearly_log2(backend):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = rng.normal(size=(400, 2)) + 8.0
    result = classifier_js_lower_bound(backend(x), backend(y), steps=300)
    assert math.log(2) - 0.01 < result.estimate <= math.log(2)
    assert result.heldout_accuracy == 1.0


def test_identical_distributions_give_nearly_zero():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(1000, 2)), rng.normal(size=(1000, 2))
    result = classifier_js_lower_bound(x, y)
    assert abs(result.estimate) < 0.02
    assert abs(result.heldout_accuracy - 0.5) < 0.06


def test_estimate_approaches_the_true_js_of_two_gaussians():
    shift = 1.0
    true_js = _gaussian_shift_js(shift)  # 0.1114 nats
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(2000, 1)), rng.normal(size=(2000, 1)) + shift
    result = classifier_js_lower_bound(x, y)
    assert abs(result.estimate - true_js) < 0.03
    # Training on its own points is optimistic; history records the value climbing from ~0.
    assert result.train_estimate > result.history[0]
    assert abs(result.history[0]) < 0.05


def test_discrete_js_of_the_same_gaussians_agrees_with_quadrature():
    # Cross-check of the quadrature reference against the histogram JS on a fine grid.
    edges = np.linspace(-12.0, 13.0, 20001)
    p = np.diff(stats.norm(0.0, 1.0).cdf(edges))
    q = np.diff(stats.norm(1.0, 1.0).cdf(edges))
    assert js_divergence(p, q) == pytest.approx(_gaussian_shift_js(1.0), rel=1e-4)


def test_logistic_regression_discriminator_is_allowed():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(500, 1)), rng.normal(size=(500, 1)) + 1.0
    result = classifier_js_lower_bound(x, y, hidden=())
    assert 0.05 < result.estimate < _gaussian_shift_js(1.0) + 0.03


def test_bad_arguments_raise():
    x = np.random.default_rng(4).normal(size=(10, 2))
    with pytest.raises(GenlabError, match="holdout"):
        classifier_js_lower_bound(x, x + 1, holdout=1.0)
    with pytest.raises(GenlabError, match="same dimension"):
        classifier_js_lower_bound(x, np.zeros((10, 3)))
    with pytest.raises(GenlabError, match="at least 4"):
        classifier_js_lower_bound(x[:3], x + 1)

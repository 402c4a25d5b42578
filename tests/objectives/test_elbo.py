"""The ELBO's terms against torch.distributions on the same tensors."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from genlab.errors import GenlabError
from genlab.objectives.elbo import ELBO, gaussian_kl_to_standard_normal


def test_kl_to_standard_normal_matches_torch_distributions():
    mu, log_var = torch.randn(5, 4), torch.randn(5, 4)
    expected = kl_divergence(Normal(mu, (0.5 * log_var).exp()), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(gaussian_kl_to_standard_normal(mu, log_var), expected)


def test_gaussian_likelihood_is_the_scaled_squared_distance():
    x, params = torch.rand(3, 1, 4, 4) * 2 - 1, torch.rand(3, 1, 4, 4) * 2 - 1
    elbo = ELBO(likelihood="gaussian", sigma=0.3)
    expected = -Normal(params, 0.3).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(elbo.negative_log_likelihood(params, x), expected)


def test_bernoulli_likelihood():
    x, logits = torch.rand(3, 1, 4, 4) * 2 - 1, torch.randn(3, 1, 4, 4)
    expected = (
        -Bernoulli(logits=logits, validate_args=False).log_prob((x + 1) / 2).flatten(1).sum(1)
    )
    torch.testing.assert_close(
        ELBO(likelihood="bernoulli").negative_log_likelihood(logits, x), expected
    )


def test_loss_combines_terms_with_beta_and_reports_l2():
    x, params = torch.zeros(2, 1, 2, 2), torch.full((2, 1, 2, 2), 0.5)
    mu, log_var = torch.ones(2, 3), torch.zeros(2, 3)
    terms = ELBO(likelihood="gaussian", beta=2.0, sigma=1.0)(params, x, mu, log_var)
    assert terms["kl"].item() == pytest.approx(1.5)  # ½ Σ μ² over 3 dims
    assert terms["loss"].item() == pytest.approx(
        terms["reconstruction"].item() + 2.0 * 1.5, rel=1e-6
    )
    assert terms["l2"].item() == pytest.approx(1.0)  # ||0.5·1||₂ over 4 pixels


def test_bad_options_are_clear_errors():
    with pytest.raises(GenlabError, match="bernoulli"):
        ELBO(likelihood="laplace")
    with pytest.raises(GenlabError, match="sigma"):
        ELBO(sigma=0.0)

"""The README's imports work: every public name of genlab.divergences is importable from it."""

from __future__ import annotations

import importlib
import math

import pytest

import genlab.divergences as divergences


def test_every_exported_name_is_the_defining_modules_object():
    for name in divergences.__all__:
        module = importlib.import_module(f"genlab.divergences.{divergences._EXPORTS[name]}")
        assert getattr(divergences, name) is getattr(module, name)


def test_the_readme_import_and_its_closed_form():
    from genlab.divergences import js_divergence, kl_divergence

    assert kl_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2))
    assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf  # p > 0 where q = 0
    assert js_divergence([1.0, 0.0], [0.0, 1.0]) == pytest.approx(math.log(2))


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_divergence"):
        divergences.no_such_divergence  # noqa: B018

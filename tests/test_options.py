"""`genlab.options`: dataclass fields checked against their annotations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from genlab.errors import GenlabError
from genlab.options import check_field_types, has_type, type_name


@pytest.mark.parametrize(
    ("value", "hint", "expected"),
    [
        (3, int, True),
        (np.int64(3), int, True),
        (3.0, int, False),
        (True, int, False),
        (3, float, True),
        (np.float32(0.5), float, True),
        ("3", float, False),
        (None, int | None, True),
        ("x", int | None, False),
        ([0.5, 0.9], tuple[float, float], True),
        ((0.5,), tuple[float, float], False),
        ((0.5, "x"), tuple[float, float], False),
        ((), tuple[int, ...], True),
        ([1, 2, 3], tuple[int, ...], True),
        ((1, 2.5), tuple[int, ...], False),
        ("12", tuple[int, ...], False),
        (False, bool, True),
        (0, bool, False),
    ],
)
def test_has_type(value, hint, expected):
    assert has_type(value, hint) is expected


@pytest.mark.parametrize(
    ("hint", "name"),
    [
        (int, "a whole number"),
        (float | None, "a number or nothing (None)"),
        (tuple[float, float], "2 numbers"),
        (tuple[int, ...], "a list of whole numbers"),
        (bool, "true or false"),
    ],
)
def test_type_name(hint, name):
    assert type_name(hint) == name


@dataclass
class _Options:
    steps: int = 1
    rate: float | None = None


def test_the_error_names_the_flag_the_type_and_the_value():
    check_field_types(_Options(steps=2, rate=1), str)  # passes
    with pytest.raises(GenlabError, match=r"^--rate takes a number or nothing \(None\), got '1'$"):
        check_field_types(_Options(rate="1"), lambda name: f"--{name}")

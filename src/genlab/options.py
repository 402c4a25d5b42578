"""Option dataclasses checked against their annotations.

The command line types every value it parses; a config built from Python or read from a
hand-edited ``config.json`` may not, and a string where a number goes must fail as a one-line
`GenlabError` naming the option, not as a ``TypeError`` deep in a range check.
"""

from __future__ import annotations

import numbers
import types
import typing
from collections.abc import Callable
from typing import Any

from genlab.errors import GenlabError


def check_field_types(values: Any, flag: Callable[[str], str]) -> None:
    """Refuse the first field of dataclass ``values`` whose value is not of its annotated type.

    Ints pass for floats, lists for tuples (as JSON reads them), numpy scalars for numbers; a
    bool is never a number. ``flag`` names a field as the user sets it (``"lr"`` → ``"--lr"``).
    """
    for name, hint in typing.get_type_hints(type(values)).items():
        value = getattr(values, name)
        if not has_type(value, hint):
            raise GenlabError(f"{flag(name)} takes {type_name(hint)}, got {value!r}")


def has_type(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of annotation ``hint`` (a class, ``X | None``, ``tuple[X, ...]``)."""
    if isinstance(hint, types.UnionType):
        return any(has_type(value, arg) for arg in typing.get_args(hint))
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, tuple | list):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(has_type(item, args[0]) for item in value)
        return len(value) == len(args) and all(map(has_type, value, args))
    if hint is type(None):
        return value is None
    if isinstance(value, bool):
        return hint is bool
    if hint is float:
        return isinstance(value, numbers.Real)
    if hint is int:
        return isinstance(value, numbers.Integral)
    return isinstance(value, hint)


_NAMES = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}
_PLURALS = {int: "whole numbers", float: "numbers", str: "strings"}


def type_name(hint: Any) -> str:
    """``int | None`` → "a whole number or nothing (None)", as an error message says it."""
    if isinstance(hint, types.UnionType):
        return " or ".join(type_name(arg) for arg in typing.get_args(hint))
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_PLURALS.get(args[0], args[0].__name__)}"
        return f"{len(args)} {_PLURALS.get(args[0], args[0].__name__)}"
    if hint is type(None):
        return "nothing (None)"
    return _NAMES.get(hint, hint.__name__)

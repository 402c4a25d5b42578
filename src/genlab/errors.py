"""User-facing errors.

Every problem a user can fix (bad input, missing file, wrong option) raises a `GenlabError` whose
message is one line naming the problem and the fix. The CLI prints such errors without a traceback;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GenlabError(Exception):
    """A problem the user can fix; its message says what was found and what to do."""


class DataUnavailableError(GenlabError):
    """A data set or weights file is neither on disk nor downloadable."""


class ChecksumError(GenlabError):
    """A file's SHA-256 differs from the pinned value."""


class InvalidImageError(GenlabError):
    """An image file cannot be decoded or breaks the folder's policy."""


class NonFiniteLossError(GenlabError):
    """Training produced a NaN or infinite loss or gradient."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'fid'?)`` for the closest of ``known`` names, or ``""`` when none is close.

    For the errors of unknown names (metrics, extractors): a typo gets its likely fix.
    """
    close = closest(name, known)
    return f" (did you mean {close!r}?)" if close else ""


def closest(name: str, known: Iterable[str]) -> str | None:
    """The one of ``known`` closest to ``name`` (a likely typo's fix), or None if none is close."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return close[0] if close else None

"""Where data sets and derived caches live on disk.

Data directory (downloaded or copied data sets), first match wins:

1. the ``explicit`` argument (a command-line option or a function argument);
2. the environment variable ``GENLAB_DATA_DIR``;
3. ``$XDG_CACHE_HOME/genlab/data``, or ``~/.cache/genlab/data`` when ``XDG_CACHE_HOME`` is unset.

Cache directory (things genlab derives and can rebuild, such as decoded arrays):
``GENLAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/genlab``, else ``~/.cache/genlab``.

Nothing here creates a folder: callers create what they write into, so merely resolving a path
never touches the disk.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "GENLAB_DATA_DIR"
CACHE_DIR_ENV = "GENLAB_CACHE_DIR"


def _user_cache_root() -> Path:
    """``$XDG_CACHE_HOME`` when set to an absolute path (the XDG spec ignores relative ones)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg)
    return Path.home() / ".cache"


def resolve_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The folder holding data sets: ``explicit``, else ``$GENLAB_DATA_DIR``, else a user cache."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    from_env = os.environ.get(DATA_DIR_ENV, "")
    if from_env:
        return Path(from_env).expanduser()
    return _user_cache_root() / "genlab" / "data"


def resolve_cache_dir() -> Path:
    """The folder for derived, rebuildable caches: ``$GENLAB_CACHE_DIR`` else the user cache."""
    from_env = os.environ.get(CACHE_DIR_ENV, "")
    if from_env:
        return Path(from_env).expanduser()
    return _user_cache_root() / "genlab"

"""Figures on an explicit Agg canvas: genlab draws without touching matplotlib's global state.

``matplotlib.use("Agg")`` in a library would switch a notebook user's backend, and figures made
through pyplot stay in its list of open figures until closed. A figure here is a
`matplotlib.figure.Figure` with its own `FigureCanvasAgg`: nothing global changes (backend,
pyplot's figures), and the figure is freed with its last reference. matplotlib is imported only
when a figure is drawn, so importing genlab stays cheap.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genlab.fileio import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(figsize: tuple[float, float], *, dpi: float | None = None) -> Figure:
    """An empty figure of ``figsize`` inches on its own Agg canvas (``dpi``: matplotlib's default).

    Add axes with ``figure.subplots(rows, columns)`` or ``figure.add_subplot(...)``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def figure_bytes(
    figure: Figure, *, image_format: str = "png", dpi: float | None = None, **options: Any
) -> bytes:
    """The drawn figure as ``image_format`` bytes (PNG by default).

    ``dpi`` (default: matplotlib's ``savefig.dpi``, the figure's own) and ``options`` such as
    ``facecolor="white"`` go to `Figure.savefig`.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format=image_format, dpi=dpi, **options)
    return buffer.getvalue()


def save_figure(
    figure: Figure, path: str | os.PathLike, *, dpi: float | None = None, **options: Any
) -> Path:
    """Write the figure to ``path`` atomically, in the format its suffix names (PNG by default)."""
    path = Path(path)
    image_format = path.suffix[1:].lower() or "png"
    atomic_write_bytes(path, figure_bytes(figure, image_format=image_format, dpi=dpi, **options))
    return path

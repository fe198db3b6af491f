"""Figures for the run reports, rendered to PNG bytes without pyplot: matplotlib's Figure draws
with its own Agg canvas, so no process-wide backend is chosen here and no window ever opens."""

from __future__ import annotations

import io


def figure(width: float, height: float):
    """A new figure of width x height inches and its one Axes: (Figure, Axes)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def png(fig) -> bytes:
    """The figure as PNG bytes (100 dpi, tight)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()

"""One look for every chart: palette, fonts, margins and hover format shared by all tabs.

Use `figure(title, x_title, y_title)` to start a chart, then add traces with colours from PALETTE.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

# Colour-blind-friendly (Okabe–Ito based); first two are "train" and "validation" everywhere.
PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c", "#0c8599", "#f59f00", "#7048e8", "#495057"]
TRAIN, VALIDATION = PALETTE[0], PALETTE[1]
HEATMAP_SCALE = "Blues"
DIVERGING_SCALE = "RdBu"

TEMPLATE_NAME = "playground"

pio.templates[TEMPLATE_NAME] = go.layout.Template(
    layout=dict(
        font=dict(family="Inter, system-ui, sans-serif", size=13, color="#212529"),
        title=dict(font=dict(size=15), x=0.02, xanchor="left"),
        colorway=PALETTE,
        paper_bgcolor="white",
        plot_bgcolor="#f8f9fa",
        margin=dict(l=60, r=20, t=50, b=50),
        hovermode="closest",
        hoverlabel=dict(font=dict(family="ui-monospace, monospace", size=12)),
        xaxis=dict(gridcolor="#dee2e6", zerolinecolor="#adb5bd"),
        yaxis=dict(gridcolor="#dee2e6", zerolinecolor="#adb5bd"),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
    )
)


def figure(title: str, x_title: str = "", y_title: str = "", height: int = 360) -> go.Figure:
    """An empty figure in the shared style. Titles say what is plotted; axis titles carry units."""
    fig = go.Figure()
    fig.update_layout(template=TEMPLATE_NAME, title=title, height=height, xaxis_title=x_title, yaxis_title=y_title)
    return fig


def loss_curves(title: str, y_title: str, train=(), val=(), val_name: str = "validation") -> go.Figure:
    """Training curves: `train` and `val` are sequences of (step, loss); the same look in every lab."""
    fig = figure(title, "step", y_title)
    for points, name, colour, mode in ((train, "train", TRAIN, "lines"), (val, val_name, VALIDATION, "lines+markers")):
        if points:
            steps, losses = zip(*points)
            fig.add_trace(go.Scatter(x=steps, y=losses, name=name, mode=mode, line=dict(color=colour),
                                     hovertemplate=f"step %{{x}}<br>{name} loss %{{y:.4f}}<extra></extra>"))
    return fig


def heatmap(matrix, x_labels, y_labels, title: str, colorscale: str = HEATMAP_SCALE, value_format: str = ".3f", height: int = 360, **kwargs) -> go.Figure:
    """A heatmap with the actual tokens/characters on both axes and exact values on hover."""
    x_labels = [visible(s) for s in x_labels]
    y_labels = [visible(s) for s in y_labels]
    fig = figure(title, height=height)
    fig.add_trace(
        go.Heatmap(
            z=matrix,
            x=list(range(len(x_labels))),
            y=list(range(len(y_labels))),
            customdata=_cell_labels(x_labels, y_labels),
            colorscale=colorscale,
            hovertemplate=f"row %{{customdata[0]}} · col %{{customdata[1]}}<br>%{{z:{value_format}}}<extra></extra>",
            **kwargs,
        )
    )
    fig.update_xaxes(tickmode="array", tickvals=list(range(len(x_labels))), ticktext=x_labels, side="bottom")
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(y_labels))), ticktext=y_labels, autorange="reversed")
    return fig


def _cell_labels(x_labels: list[str], y_labels: list[str]) -> np.ndarray:
    """(rows, cols, 2) array of (row label, column label) for the hover; one NumPy array because
    plotly validates nested Python lists cell by cell (~50 ms for a 64 x 64 map)."""
    cells = np.empty((len(y_labels), len(x_labels), 2), dtype=object)
    cells[:, :, 0] = np.array(y_labels, dtype=object)[:, None]
    cells[:, :, 1] = np.array(x_labels, dtype=object)[None, :]
    return cells


def visible(text: str) -> str:
    """Make whitespace visible in axis labels and hovers (a space is invisible on an axis)."""
    return text.replace(" ", "␣").replace("\n", "↵").replace("\t", "→")

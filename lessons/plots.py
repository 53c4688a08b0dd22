"""One look for every chart: palette, fonts, margins and hover format shared by all tabs.

Two ways to draw, with the same look:
- `chart(title, x_title, y_title)` gives a `Chart`: the figure as plain data (traces and layout as
  dicts), for quick labs that redraw on every slider move. Building and encoding one takes about a
  millisecond; a `go.Figure` validates every property through plotly's object tree (~10-20 ms per
  figure, most of a quick-lab event). gr.Plot takes either (it calls `to_json()`).
- `figure(title, x_title, y_title)` gives a `go.Figure` with the same template, for tabs that build
  their charts step by step with plotly's API (training curves).
"""
from __future__ import annotations

import base64
import functools

import numpy as np
import orjson
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import get_colorscale

from lessons.tokens import label_text

# Colour-blind-friendly (Okabe–Ito based); first two are "train" and "validation" everywhere.
PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c", "#0c8599", "#f59f00", "#7048e8", "#495057"]
TRAIN, VALIDATION = PALETTE[0], PALETTE[1]
HEATMAP_SCALE = "Blues"
DIVERGING_SCALE = "RdBu"

TEMPLATE_NAME = "playground"

# The shared look as plain data, as plotly's Template.to_plotly_json() gives it (a test checks that): Charts
# use it directly; go.Figure gets it registered as a plotly template on first use (`figure`), because
# building a go.layout.Template validates it through plotly's object tree, 0.05 s of every start-up.
TEMPLATE = {"layout": dict(
    font=dict(family="Inter, system-ui, sans-serif", size=13, color="#212529"),
    # the title sits at the top of the figure and pushes the plot down (automargin), so a legend that
    # wraps onto several lines on a phone goes under the title instead of over it
    title=dict(font=dict(size=15), x=0.02, xanchor="left", automargin=True, yref="container", y=0.98, yanchor="top"),
    colorway=PALETTE,
    paper_bgcolor="white",
    plot_bgcolor="#f8f9fa",
    margin=dict(l=60, r=20, t=50, b=50),
    hovermode="closest",
    hoverlabel=dict(font=dict(family="ui-monospace, monospace", size=12)),
    xaxis=dict(gridcolor="#dee2e6", zerolinecolor="#adb5bd"),
    yaxis=dict(gridcolor="#dee2e6", zerolinecolor="#adb5bd"),
    legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1.0),
)}


@functools.cache
def _plotly_template() -> str:
    pio.templates[TEMPLATE_NAME] = go.layout.Template(TEMPLATE)
    return TEMPLATE_NAME


class Props(dict):
    """A dict that also reads as attributes (fig.layout.xaxis.type, fig.data[0].y), as plotly's
    objects do, so tests read a Chart like a go.Figure; an unset property reads as None."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = self.get(name)
        return Props(value) if type(value) is dict else value


# plotly.js typed arrays: the short names of the NumPy types it reads from base64
_TYPED = {"int8": "i1", "uint8": "u1", "int16": "i2", "uint16": "u2", "int32": "i4", "uint32": "u4",
          "float32": "f4", "float64": "f8"}
_INT32 = np.iinfo(np.int32)


def typed_array(v: np.ndarray):
    """A NumPy array as plotly.js reads it, {"dtype", "bdata", "shape"} (what plotly.py sends), or a list
    for what has no typed form (labels, None). Written here because plotly's own converter inspects
    every array through narwhals, ~3 ms each: more than building the whole chart."""
    if v.dtype.kind in "iu" and v.dtype.itemsize == 8 and v.size:
        if not (_INT32.min <= v.min() and v.max() <= _INT32.max):
            return v.tolist()
        v = v.astype(np.int32)  # plotly.js has no 64-bit integers
    code = _TYPED.get(v.dtype.name)
    if code is None or v.size == 0:
        return v.tolist()
    spec = {"dtype": code, "bdata": base64.b64encode(np.ascontiguousarray(v)).decode("ascii")}
    if v.ndim > 1:
        spec["shape"] = ", ".join(map(str, v.shape))
    return spec


def _json_default(value):
    """NumPy values for orjson: arrays as plotly.js typed arrays, scalars as numbers."""
    if isinstance(value, np.ndarray):
        return typed_array(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot encode {type(value).__name__} in a chart")


class Chart:
    """A plotly figure as plain data: `data` is a list of traces, `layout` a dict (plotly's schema).

    `add(type, **props)` appends a trace, `axes(x=..., y=...)` merges axis settings; gr.Plot sends
    `to_json()` to the browser. `to_figure()` gives the validated go.Figure (tests check every chart
    against plotly's schema through it, so a misspelt property cannot slip through)."""

    def __init__(self, layout: dict):
        self.layout = Props(layout)
        self.data: list[Props] = []

    def add(self, trace_type: str, **props) -> Chart:
        if isinstance(props.get("colorscale"), str):
            # plotly.py spells a named scale out; plotly.js has its own (different) "RdBu", "Blues"...
            props["colorscale"] = _named_scale(props["colorscale"])
        self.data.append(Props(type=trace_type, **props))
        return self

    def axes(self, x: dict | None = None, y: dict | None = None) -> Chart:
        for name, props in (("xaxis", x), ("yaxis", y)):
            if props:
                self.layout[name] = {**self.layout.get(name, {}), **props}
        return self

    def to_plotly_json(self) -> dict:
        return {"data": self.data, "layout": self.layout}

    def to_json(self) -> str:
        return orjson.dumps(self.to_plotly_json(), default=_json_default).decode()

    def to_figure(self) -> go.Figure:
        return go.Figure(self.to_plotly_json())


@functools.lru_cache(maxsize=None)
def _named_scale(name: str) -> tuple:
    return tuple(tuple(stop) for stop in get_colorscale(name))


def chart(title: str, x_title: str = "", y_title: str = "", height: int = 360, **layout) -> Chart:
    """An empty Chart in the shared style. Titles say what is plotted; axis titles carry units."""
    return Chart({"template": TEMPLATE, "title": {"text": title}, "height": height,
                  "xaxis": {"title": {"text": x_title}}, "yaxis": {"title": {"text": y_title}}, **layout})


def figure(title: str, x_title: str = "", y_title: str = "", height: int = 360) -> go.Figure:
    """An empty figure in the shared style. Titles say what is plotted; axis titles carry units."""
    fig = go.Figure()
    fig.update_layout(template=_plotly_template(), title=title, height=height, xaxis_title=x_title, yaxis_title=y_title)
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


def heatmap(matrix, x_labels, y_labels, title: str, colorscale: str = HEATMAP_SCALE, value_format: str = ".3f",
            height: int = 360, **kwargs) -> Chart:
    """A heatmap with the actual tokens/characters on both axes and exact values on hover."""
    x_labels = [label_text(s) for s in x_labels]
    y_labels = [label_text(s) for s in y_labels]
    fig = chart(title, height=height)
    fig.add("heatmap", z=matrix, x=list(range(len(x_labels))), y=list(range(len(y_labels))),
            customdata=_cell_labels(x_labels, y_labels), colorscale=colorscale,
            hovertemplate=f"row %{{customdata[0]}} · col %{{customdata[1]}}<br>%{{z:{value_format}}}<extra></extra>",
            **kwargs)
    fig.axes(x=dict(tickmode="array", tickvals=list(range(len(x_labels))), ticktext=x_labels, side="bottom"),
             y=dict(tickmode="array", tickvals=list(range(len(y_labels))), ticktext=y_labels, autorange="reversed"))
    return fig


def _cell_labels(x_labels: list[str], y_labels: list[str]) -> np.ndarray:
    """(rows, cols, 2) array of (row label, column label) for the hover, one cell per z value."""
    cells = np.empty((len(y_labels), len(x_labels), 2), dtype=object)
    cells[:, :, 0] = np.array(y_labels, dtype=object)[:, None]
    cells[:, :, 1] = np.array(x_labels, dtype=object)[None, :]
    return cells


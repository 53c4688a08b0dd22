"""What tab 3's quick-lab events cost the server: each handler at its default sizes, as the server pays it.

    python bench/math_handlers.py [--repeats 20]

Columns (median ms of --repeats calls): the handler alone; the event = handler + Gradio's postprocess
+ orjson of the payload (bench/gradio_cost.py), what one slider move costs; the same figures built as
plotly `go.Figure`s (plotly's validated object tree and its JSON encoder, how the tab drew before it
used lessons.plots.Chart), and the ratio of the two. Target: an event < 30 ms (issue 13: >= 3x less
than the ~90 ms median measured on the running app).
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from bench.gradio_cost import event_ms, median_ms, to_browser  # noqa: E402
from core import optimizers as O  # noqa: E402
from lessons import part03_core_math as lab  # noqa: E402

TARGET_MS = 30


def as_plotly(outputs):
    """The same outputs with every Chart turned into a validated go.Figure (the old way of drawing)."""
    import plotly.graph_objects as go

    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return tuple(go.Figure(v.to_plotly_json()) if hasattr(v, "to_plotly_json") else v for v in outputs)


CASES = [
    ("softmax (temperature, top-k, top-p, N sliders)",
     lambda: lab.softmax_lab(lab.SOFTMAX_LOGITS, lab.SOFTMAX_LABELS, 1.0, 3, 0.9, 1000, 0)),
    ("softmax, 50 logits, N = 10,000",
     lambda: lab.softmax_lab(", ".join(str(i % 7 - 3) for i in range(50)), "", 1.0, 3, 0.9, 10_000, 0)),
    ("stability table", lambda: lab.stability_lab(lab.STABILITY_LOGITS)),
    ("cross-entropy (push slider)", lambda: lab.cross_entropy_lab(lab.CE_LOGITS, lab.CE_LABELS, "dog", 1.0)),
    ("loss meaning", lambda: lab.loss_meaning(65, 0.09)),
    ("batch vs F.cross_entropy", lambda: lab.batch_lab(lab.BATCH)),
] + [
    (f"gradient descent: {key} ({lab.DEFAULT_STEPS} steps)",
     (lambda k=key: lab.descent_lab(k, "SGD", O.SURFACES[k].lr, lab.DEFAULT_STEPS, *(O.SURFACES[k].start + (0.0,))[:2],
                                    lab.DEFAULT_STEPS)))
    for key in O.SURFACES
] + [
    ("gradient descent: rosenbrock, 300 steps, Adam", lambda: lab.descent_lab("rosenbrock", "Adam", 0.05, 300, -1.2, 1.0, 300)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # gr.Warning outside a request only warns
    print(f"median of {args.repeats} calls, ms; event = handler + Gradio postprocess + JSON; target < {TARGET_MS} ms\n")
    print(f"{'handler':<50}{'handler':>9}{'event':>9}{'KB':>7}{'as go.Figure':>14}{'ratio':>7}  verdict")
    events, olds = [], []
    for name, handler in CASES:
        alone, event, size = event_ms(handler, args.repeats)
        old = median_ms(lambda h=handler: to_browser(as_plotly(h())), args.repeats)
        events.append(event)
        olds.append(old)
        verdict = "ok" if event < TARGET_MS else "SLOW"
        print(f"{name:<50}{alone:>9.2f}{event:>9.2f}{size / 1024:>7.1f}{old:>14.2f}{old / event:>6.1f}×  {verdict}")
    events.sort()
    olds.sort()
    mid = len(events) // 2
    print(f"\nmedian event {events[mid]:.2f} ms (as go.Figure {olds[mid]:.2f} ms, {olds[mid] / events[mid]:.1f}× more); "
          f"slowest {events[-1]:.2f} ms (target < {TARGET_MS} ms)")


if __name__ == "__main__":
    main()

"""How fast tab 3's labs redraw: each handler at its default sizes (target < 100 ms per slider move).

    python bench/math_handlers.py [--repeats 20]

A handler's time includes turning its plotly figures into JSON (what gradio sends the browser).
The baseline is the core computation alone (core.probability / core.optimizers, no figures), so the
ratio shows how much of a redraw is drawing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import warnings  # noqa: E402

from core import optimizers as O  # noqa: E402
from core import probability as P  # noqa: E402
from lessons import part03_core_math as lab  # noqa: E402

TARGET_MS = 100


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: first calls pay for imports and caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def to_browser(outputs) -> None:
    for out in outputs if isinstance(outputs, tuple) else (outputs,):
        if hasattr(out, "to_json"):
            out.to_json()


def softmax_core():
    logits = P.parse_logits(lab.SOFTMAX_LOGITS)
    probs = P.softmax(logits, 1.0)
    P.log_softmax(logits, 1.0), P.entropy_curve(logits, lab.TEMPERATURES), P.sample_frequencies(probs, 1000, 0)
    P.top_k_filter(probs, 3), P.top_p_filter(probs, 0.9)


def cross_entropy_core():
    logits = P.parse_logits(lab.CE_LOGITS)
    P.softmax(logits), P.cross_entropy(logits, 1), P.cross_entropy_gradient(logits, 1), P.loss_curve()


def descent_core(key):
    surface = O.SURFACES[key]
    O.run_descent(surface, "SGD", surface.lr, lab.DEFAULT_STEPS)
    surface.contour() if surface.dim == 2 else surface.grid()


CASES = [
    ("softmax (temperature, top-k, top-p, N sliders)",
     lambda: to_browser(lab.softmax_lab(lab.SOFTMAX_LOGITS, lab.SOFTMAX_LABELS, 1.0, 3, 0.9, 1000, 0)), softmax_core),
    ("softmax, 50 logits, N = 10,000",
     lambda: to_browser(lab.softmax_lab(", ".join(str(i % 7 - 3) for i in range(50)), "", 1.0, 3, 0.9, 10_000, 0)), None),
    ("stability table", lambda: lab.stability_lab(lab.STABILITY_LOGITS), None),
    ("cross-entropy (push slider)", lambda: to_browser(lab.cross_entropy_lab(lab.CE_LOGITS, lab.CE_LABELS, "dog", 1.0)),
     cross_entropy_core),
    ("loss meaning", lambda: lab.loss_meaning(65, 0.09), None),
    ("batch vs F.cross_entropy", lambda: lab.batch_lab(lab.BATCH), None),
] + [
    (f"gradient descent: {key} ({lab.DEFAULT_STEPS} steps)",
     (lambda k=key: to_browser(lab.descent_lab(k, "SGD", O.SURFACES[k].lr, lab.DEFAULT_STEPS, *(O.SURFACES[k].start + (0.0,))[:2],
                                               lab.DEFAULT_STEPS))),
     (lambda k=key: descent_core(k)))
    for key in O.SURFACES
] + [
    ("gradient descent: rosenbrock, 300 steps, Adam",
     lambda: to_browser(lab.descent_lab("rosenbrock", "Adam", 0.05, 300, -1.2, 1.0, 300)), None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # gr.Warning outside a request only warns
    print(f"median of {args.repeats} calls; handler = compute + figures + JSON; target < {TARGET_MS} ms\n")
    print(f"{'handler':<52}{'handler ms':>11}{'core ms':>9}{'ratio':>7}  verdict")
    slowest = 0.0
    for name, handler, core in CASES:
        handler_ms = median_ms(handler, args.repeats)
        slowest = max(slowest, handler_ms)
        core_text = ratio_text = ""
        if core is not None:
            core_ms = median_ms(core, args.repeats)
            core_text, ratio_text = f"{core_ms:.2f}", f"{handler_ms / core_ms:.0f}×"
        verdict = "ok" if handler_ms < TARGET_MS else "SLOW"
        print(f"{name:<52}{handler_ms:>11.2f}{core_text:>9}{ratio_text:>7}  {verdict}")
    print(f"\nslowest handler: {slowest:.1f} ms (target < {TARGET_MS} ms)")


if __name__ == "__main__":
    main()

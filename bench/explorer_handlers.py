"""What tab 1's events cost the server (target < 100 ms for the explorer on a short text).

    python bench/explorer_handlers.py [--runs 30] [--threads 1]

For each handler (median / 90th percentile, ms): the handler alone, and the event = handler + Gradio's
postprocess + orjson of the payload (bench/gradio_cost.py), what one keystroke or pick costs the
server. The shipped MiniGPT checkpoint is loaded once before timing (the explorer caches it per
checkpoint); its first load, paid by the first learner who opens the tab, is printed on its own.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def timings(fn, runs: int) -> list[float]:
    fn()  # warm-up: first calls pay for imports and caches
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def event(handler):
    """The handler, then Gradio's postprocess and JSON of everything it returns."""
    from bench.gradio_cost import to_browser

    return lambda: to_browser(tuple(v for v in handler()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the app runs one job per thread)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from core import embeddings
    from lessons import part01_what_is_llm as tab
    from lessons.inputs import Checked

    start = time.perf_counter()
    tab.explore_values(tab.DEFAULT_TEXT, "shipped/default", None, None)
    print(f"first explorer call (imports, checkpoint load, untrained twin, tiktoken): {time.perf_counter() - start:.2f} s")
    short = Checked.start(tab.DEFAULT_TEXT, "shipped/default")
    long = Checked.start(("Python is a high-level language. " * 10)[: embeddings.MAX_TEXT_CHARS], "shipped/default")
    cases = {
        f"explorer, {len(tab.DEFAULT_TEXT)} chars": lambda: tab.explore_view(short, "shipped/default", None, None),
        f"explorer, {len(long.good[0])} chars": lambda: tab.explore_view(long, "shipped/default", None, None),
        "vocabulary maps (PCA x 2, clustering)": lambda: tuple(tab.maps_values("shipped/default", None).values()),
        "counter, preset Llama-3-8B": lambda: tuple(tab.count_preset("llama-3-8b").values()),
        "counter, a shape from the sliders": lambda: tuple(tab.count_shape("llama", 22, 2048, 32, 4, 5632, 32000, 2048,
                                                                           False).values()),
    }
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.runs} runs each; times in ms (median / p90)")
    print(f"{'handler':<40} {'alone':>16} {'event':>16}  target < 100 ms")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, handler in cases.items():
            alone, full = timings(handler, args.runs), timings(event(handler), args.runs)
            med, p90 = statistics.median(full), statistics.quantiles(full, n=10)[-1]
            print(f"{name:<40} {statistics.median(alone) * 1e3:7.2f} / {statistics.quantiles(alone, n=10)[-1] * 1e3:6.2f} "
                  f"{med * 1e3:7.2f} / {p90 * 1e3:6.2f}  {'ok' if med < 0.1 else 'SLOW'}")


if __name__ == "__main__":
    main()

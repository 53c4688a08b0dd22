"""What tab 5's events cost the server, at default sizes (target < 30 ms for the quick labs).

    python bench/attention_handlers.py [--runs 30] [--threads 1]

For each handler (median / 90th percentile, ms): the handler alone; the event = handler + Gradio's
postprocess + orjson of the payload (bench/gradio_cost.py), what one control move costs the server;
and the same event with its figures built as plotly `go.Figure`s (plotly's validated object tree,
how the tab drew before lessons.plots.Chart), with the ratio. The baseline is the bare NumPy
computation (core.attention.attention_steps) in the same run.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ["PLAYGROUND_RUNS_DIR"] = tempfile.mkdtemp(prefix="bench-attention-")  # the bench's own "learner"


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

    return lambda: to_browser(tuple(handler()))


def as_plotly_event(handler):
    """The same event with every Chart turned into a validated go.Figure (the old way of drawing)."""
    import plotly.graph_objects as go

    from bench.gradio_cost import to_browser

    return lambda: to_browser(tuple(go.Figure(v.to_plotly_json()) if hasattr(v, "to_plotly_json") else v for v in handler()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the app runs one job per thread)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from core import attention, sessions
    from core.minigpt import checkpoint
    from core.minigpt.config import GPTConfig
    from core.minigpt.data import builtin_corpus
    from core.minigpt.model import MiniGPT
    from core.minigpt.tokenizer import CharTokenizer
    from lessons import part05_attention as tab

    # a MiniGPT of the default shape (the guide's ~0.8M parameters), in the bench learner's folder
    user_id = sessions.new_user_id()
    tokenizer = CharTokenizer.from_text(builtin_corpus())
    model = MiniGPT(GPTConfig(vocab_size=tokenizer.vocab_size))
    folder = str(checkpoint.save(sessions.new_run_dir(user_id, "minigpt", "bench"), model, tokenizer))

    step = dict(sentence=tab.DEFAULT_SENTENCE, unit="words", d_model=8, n_heads=1, scaled=True, causal=True, seed=0,
                step=8, head=1, query=None, source=tab.RANDOM, user_id=user_id)
    tokens = attention.split_tokens(tab.DEFAULT_SENTENCE)
    x, w = attention.random_inputs(tokens, 8, 0)
    cases = {
        "baseline: attention_steps (NumPy only)": lambda: [attention.attention_steps(x, **w)],
        "step-through, 1 head": lambda: tab.step_through(*step.values()),
        "step-through, 4 heads": lambda: tab.step_through(*{**step, "n_heads": 4}.values()),
        "step-through, MiniGPT layer 1 (16 chars)": lambda: tab.step_through(*{**step, "sentence": "Python is a high", "unit": "characters", "n_heads": 4, "source": folder}.values()),
        "saturation, d_k = 64": lambda: tab.saturation_view(64),
        f"MiniGPT maps, {model.config.n_layer}x{model.config.n_head}, {len(tab.DEFAULT_PROMPT)} chars": lambda: tab.model_view(folder, tab.DEFAULT_PROMPT, 1, 1, user_id),
        "MiniGPT maps, full context (64 chars)": lambda: tab.model_view(folder, (tab.DEFAULT_PROMPT * 2)[:64], 1, 1, user_id),
    }
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.runs} runs each; times in ms (median / p90)")
    print(f"{'handler':<44} {'alone':>16} {'event':>16} {'as go.Figure':>14} {'ratio':>6}  target < 30 ms")
    quick = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gr.Warning outside an event is a Python warning
        for name, handler in cases.items():
            alone = timings(handler, args.runs)
            if name.startswith("baseline"):
                print(f"{name:<44} {statistics.median(alone) * 1e3:7.2f} / {statistics.quantiles(alone, n=10)[-1] * 1e3:6.2f}")
                continue
            full = timings(event(handler), args.runs)
            old = statistics.median(timings(as_plotly_event(handler), args.runs))
            med, p90 = statistics.median(full), statistics.quantiles(full, n=10)[-1]
            if not name.startswith("MiniGPT maps"):
                quick.append(med)
            verdict = "ok" if med < 0.03 else "SLOW"
            print(f"{name:<44} {statistics.median(alone) * 1e3:7.2f} / {statistics.quantiles(alone, n=10)[-1] * 1e3:6.2f} "
                  f"{med * 1e3:7.2f} / {p90 * 1e3:6.2f} {old * 1e3:14.2f} {old / med:5.1f}×  {verdict}")
    print(f"\nquick-lab events (step-through, saturation): median {statistics.median(quick) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()

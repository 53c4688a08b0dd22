"""Tab 5 handler times at default sizes (target < 100 ms each, so the lab feels live).

    python bench/attention_handlers.py [--runs 30] [--threads 1]

For each handler: median and 90th percentile of the handler alone, and of the handler plus the
JSON encoding of its plotly figures (what Gradio does before sending them to the browser). The
baseline is the bare NumPy computation (core.attention.attention_steps) measured in the same run:
the ratio shows how much of a handler's time is drawing rather than attention.
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


def encoded(handler):
    """The handler, plus the JSON encoding Gradio applies to every figure it returns."""
    import plotly.graph_objects as go

    def run():
        for value in handler():
            if isinstance(value, go.Figure):
                value.to_json()

    return run


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
    print(f"{'handler':<44} {'alone':>16} {'+ JSON':>16} {'x baseline':>11}  target < 100 ms")
    baseline = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gr.Warning outside an event is a Python warning
        for name, handler in cases.items():
            alone = timings(handler, args.runs)
            full = timings(encoded(handler), args.runs)
            med, p90 = statistics.median(full), statistics.quantiles(full, n=10)[-1]
            baseline = baseline or statistics.median(alone)
            verdict = "ok" if med < 0.1 else "SLOW"
            print(f"{name:<44} {statistics.median(alone) * 1e3:7.2f} / {statistics.quantiles(alone, n=10)[-1] * 1e3:6.2f} "
                  f"{med * 1e3:7.2f} / {p90 * 1e3:6.2f} {med / baseline:10.0f}x  {verdict}")


if __name__ == "__main__":
    main()

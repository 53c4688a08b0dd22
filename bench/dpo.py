"""Tab 2's costs: a DPO run at the tab's defaults, and the quick labs' handler latency.

    python bench/dpo.py [--steps N] [--repeat 50]

1. DPO with trl's DPOTrainer from the shipped SFT adapter on the 70 built-in pairs, at the tab's defaults
   (core.finetune.dpo.DPOSettings), timed from the import of trl to the saved adapter, as the tab's worker
   runs it (target: under about 60 s on this CPU).
2. The DPO loss playground handler (core.alignment + the chart) and the phase views (pocket tokenizer and
   chat template, after a first call that loads them): median milliseconds per call.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def dpo_run(steps: int | None) -> None:
    start = time.perf_counter()
    from core import alignment, threads
    from core.finetune.dpo import SFT_ADAPTER, DPOSettings, train

    threads.set_torch_threads()
    settings = DPOSettings() if steps is None else DPOSettings(max_steps=steps)
    prefs = alignment.builtin_preferences()
    with tempfile.TemporaryDirectory() as out:
        for progress in train("pocket", SFT_ADAPTER, prefs.pairs, prefs.source, settings, out):
            pass
    total = time.perf_counter() - start
    print(f"DPO: {progress.step} steps of {settings.batch_size} pairs, loss {progress.losses[-1]:.3f}, reward margin "
          f"{progress.margins[-1]:+.2f}, preference accuracy {progress.accuracies[-1]:.0%}; {total:.1f} s in all "
          f"(training {progress.elapsed:.1f} s, {progress.elapsed / progress.step:.2f} s/step) -> "
          f"{'under' if total < 60 else 'OVER'} the 60 s target")


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def handlers(repeat: int) -> None:
    from lessons import part02_three_phases as tab

    print(f"playground handler: {median_ms(lambda: tab.playground(**tab.PLAYGROUND_DEFAULTS), repeat):.2f} ms median")
    t = time.perf_counter()
    tab.phase_views(tab.DEFAULT_TEXT, 0, 0)
    print(f"phase views, first call (loads the pocket tokenizer): {time.perf_counter() - t:.1f} s")
    print(f"phase views: {median_ms(lambda: tab.phase_views(tab.DEFAULT_TEXT, 5, 5), repeat):.1f} ms median")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="DPO steps (default: the tab's)")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    handlers(args.repeat)
    dpo_run(args.steps)


if __name__ == "__main__":
    main()

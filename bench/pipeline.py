"""Tab 11's pipeline at its default settings on the built-in corpus: wall time per step and in all.

    python bench/pipeline.py [--tokenizer char|bpe|both] [--threads 2] [--model small|tiny] [--steps N]

Runs core.pipeline exactly as the tab's job does (data -> tokenizer -> MiniGPT -> bits per character ->
zip), in this process, and prints the time of each step, the bits per character and the load average
(a shared machine can be several times slower: read the figure with the load beside it).
Target: the whole pipeline under 2 minutes on an idle 2-core CPU, for each tokenizer.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import pipeline, text_input, threads  # noqa: E402

TARGET_S = 120


def timed_run(data: pipeline.Data, settings: pipeline.Settings, out_dir: Path) -> dict:
    """Seconds spent in each stage (from one report to the next), and the final report."""
    stages, last, start = {}, None, time.perf_counter()
    mark = start
    for report in pipeline.run(data, settings, out_dir):
        if last is not None and report.stage != last:
            now = time.perf_counter()
            stages[last] = stages.get(last, 0.0) + now - mark
            mark = now
        last = report.stage
    stages["evaluate + export"] = stages.pop("evaluate", 0.0) + time.perf_counter() - mark
    return {"stages": stages, "total": time.perf_counter() - start, "report": report}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", choices=["char", "bpe", "both"], default="both")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model", choices=list(pipeline.MODEL_SIZES), default="small")
    parser.add_argument("--steps", type=int, default=pipeline.Settings().steps)
    args = parser.parse_args()
    threads.set_torch_threads(args.threads)
    t0 = time.perf_counter()
    data = pipeline.prepare_data(text_input.builtin_corpus())
    print(f"data: {data.stats['characters']:,} characters, {time.perf_counter() - t0:.2f} s")
    kinds = ["char", "bpe"] if args.tokenizer == "both" else [args.tokenizer]
    for kind in kinds:
        settings = replace(pipeline.Settings.of_size(args.model, tokenizer=kind), steps=args.steps)
        with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
            result = timed_run(data, settings, Path(tmp) / kind)
        e, stages = result["report"].evaluation, result["stages"]
        print(f"{kind}: " + ", ".join(f"{name} {s:.1f} s" for name, s in stages.items())
              + f" -> total {result['total']:.1f} s (target < {TARGET_S} s) · {e.bits_per_character:.3f} bits per character "
              f"· load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tab 8's multi-run jobs against one default tab-4 run, measured one after the other in one process.

    python bench/sweep_vs_default.py [--skip-overfit] [--default-steps N]

`--default-steps N` times only the first N steps of the default run and scales its CPU time to the whole
run (said so in the output): on a heavily shared machine the full run can take the better part of an hour.

The brief: the whole learning-rate sweep must take no longer than one default MiniGPT run of tab 4.
Prints wall-clock and CPU seconds (1 torch thread, as a job gets on a 2-core server with 2 slots) for
each, the ratio, and the sweep's and the overfitting runs' final losses (the story the curves tell).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("PLAYGROUND_TORCH_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(label: str, generator):
    wall, cpu = time.perf_counter(), time.process_time()
    last = None
    for last in generator:
        pass
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label}: {wall:.1f} s wall, {cpu:.1f} s CPU (load average {os.getloadavg()[0]:.1f})", flush=True)
    return last, wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-overfit", action="store_true")
    parser.add_argument("--default-steps", type=int, default=None, help="time only this many steps of the default run")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from core import sweeps
    from core.minigpt import data, train
    from lessons import part08_key_concepts as tab

    text = data.builtin_corpus()
    model_config, cfg = train.preset("default")
    part = min(args.default_steps or cfg.steps, cfg.steps)
    calls = iter(range(10**9))
    default, d_wall, d_cpu = timed(f"default tab-4 run ({part} of {cfg.steps} steps, "
                                   f"{default_params(model_config, text):,} parameters)",
                                   train.train(text, model_config, cfg, should_stop=lambda: next(calls) >= part - 1))
    print(f"  train loss {default.train_loss:.3f}, val loss {default.val_loss:.3f}")
    if part < cfg.steps:  # scaled to the whole run (evaluations and samples grow with it too: roughly)
        d_wall, d_cpu = d_wall * cfg.steps / part, d_cpu * cfg.steps / part
        print(f"  scaled to {cfg.steps} steps: {d_wall:.0f} s wall, {d_cpu:.0f} s CPU (an estimate, not a measurement)")
    sweep, s_wall, s_cpu = timed(f"learning-rate sweep ({len(tab.DEFAULT_RATES)} runs x {tab.DEFAULT_SWEEP_STEPS} steps)",
                                 sweeps.learning_rate_sweep(text, tab.DEFAULT_RATES, tab.DEFAULT_SWEEP_STEPS))
    print(f"  sweep / default run: {s_wall / d_wall:.2f} (wall), {s_cpu / d_cpu:.2f} (CPU)")
    for run, verdict in zip(sweep.runs, sweeps.verdicts(sweep)):
        print(f"  {run.label:10s} final train {run.final_loss:.3f} val {run.final_val_loss:.3f}  {verdict}")
    if args.skip_overfit:
        return
    over, o_wall, o_cpu = timed(f"overfitting runs (3 x {tab.DEFAULT_OVERFIT_STEPS} steps)",
                                sweeps.overfitting_runs(text, tab.DEFAULT_OVERFIT_STEPS))
    print(f"  overfitting / default run: {o_wall / d_wall:.2f} (wall), {o_cpu / d_cpu:.2f} (CPU)")
    for run, gap in zip(over.runs, sweeps.generalisation_gaps(over)):
        best = min(v for _, v in run.val_curve)
        print(f"  {run.label:32s} train {run.final_loss:.3f} val {run.final_val_loss:.3f} (best {best:.3f}) gap {gap:.3f}")
        print("    val curve", " ".join(f"{s}:{v:.2f}" for s, v in run.val_curve))


def default_params(model_config, text: str) -> int:
    from dataclasses import replace

    return replace(model_config, vocab_size=len(set(text))).num_params()


if __name__ == "__main__":
    main()

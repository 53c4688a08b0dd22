"""MiniGPT speedrun: wall-clock training time to reach validation loss <= 1.90 on Tiny Shakespeare.

    python bench/minigpt_speedrun.py [--threads 2] [--runs baseline speedrun] [--max-seconds 300]

Reads ../shared/data/tinyshakespeare.txt relative to the repository root (skipped when absent: the
file is reference data, not part of the project). Two recipes, measured in the same process:

- baseline: the straightforward GPT of the issue: 4 layers, 4 heads, 128 wide, context 64,
  batch 12, AdamW at 1e-3, float32, 2000 steps;
- speedrun: the "speedrun" preset of core.minigpt.train (the tab's preset of the same name): Muon
  for the blocks' matrices, bf16 autocast, batch 24, 350 steps.

For each: tokens/s, the achieved fraction of this machine's peak matmul FLOP/s (measured here with
a large square matmul in the same dtype), the loss-vs-time curve, and the training time at which
validation loss first reached the target. Training time excludes the validation passes (measurement,
not training); wall time including them is printed too.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.minigpt import train  # noqa: E402
from core.minigpt.config import GPTConfig  # noqa: E402

CORPUS = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
TARGET = 1.90
VAL_WINDOWS = 192  # validation windows per evaluation, the same count for every batch size


def peak_matmul_flops(dtype: torch.dtype, n: int = 1024, repeats: int = 5) -> float:
    """Best-of-`repeats` FLOP/s of an n x n @ n x n matmul: what this CPU can do at best, for this dtype."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b  # warm up (allocations, kernel selection)
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def training_flops_per_token(c: GPTConfig) -> float:
    """Forward + backward ≈ 6 x (weights touched per token) + attention scores and mixing (PaLM's estimate)."""
    weights = c.num_params() - c.vocab_size * c.n_embd - c.block_size * c.n_embd  # embedding lookups are not matmuls
    weights += c.vocab_size * c.n_embd  # ...but the output head is
    return 6 * weights + 12 * c.n_layer * c.block_size * c.n_embd


def recipes() -> dict[str, tuple[GPTConfig, train.TrainConfig]]:
    base_model = GPTConfig(block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0)
    base_train = train.TrainConfig(steps=2000, batch_size=12, learning_rate=1e-3, warmup_steps=100, bf16=False)
    return {"baseline": (base_model, base_train), "speedrun": train.preset("speedrun")}


def run(name: str, text: str, model_config: GPTConfig, cfg: train.TrainConfig, threads: int, max_seconds: float, peaks: dict):
    cfg = replace(cfg, threads=threads, eval_every=50, eval_batches=max(1, math.ceil(VAL_WINDOWS / cfg.batch_size)),
                  sample_every=20000, log_every=50, seed=1337)
    print(f"\n== {name}: {model_config.n_layer} layers x {model_config.n_head} heads x {model_config.n_embd}, "
          f"context {model_config.block_size}, batch {cfg.batch_size}, {cfg.optimizer}"
          f"{f' (Muon lr {cfg.muon_lr} for the blocks, AdamW lr {cfg.learning_rate} for the rest)' if cfg.optimizer == 'muon' else f' lr {cfg.learning_rate}'}, {cfg.steps} steps, "
          f"{'bf16 autocast' if cfg.bf16 else 'float32'}, {threads} thread(s)")
    tokens_per_step = cfg.batch_size * model_config.block_size
    curve, reached, last = [], None, None
    for p in train.train(text, model_config, cfg):
        last = p
        train_seconds = p.step * tokens_per_step / p.tokens_per_s if p.step else 0.0
        if p.val_curve and p.val_curve[-1][0] == p.step:
            curve.append((train_seconds, p.elapsed, p.step, p.val_loss))
            print(f"  {train_seconds:6.1f} s train ({p.elapsed:6.1f} s wall)  step {p.step:5d}  val loss {p.val_loss:.3f}"
                  f"  train loss {p.train_loss:.3f}  {p.tokens_per_s:8,.0f} tokens/s", flush=True)
            if p.val_loss <= TARGET and p.step > 0:
                reached = (train_seconds, p.elapsed, p.step)
                break
        if p.elapsed > max_seconds:
            print(f"  stopped at the {max_seconds:.0f} s limit")
            break
    flops = training_flops_per_token(replace(model_config, vocab_size=last.vocab_size)) * last.tokens_per_s
    peak = peaks[torch.bfloat16 if cfg.bf16 else torch.float32]
    print(f"  {last.tokens_per_s:,.0f} tokens/s = {flops / 1e9:.1f} GFLOP/s = {100 * flops / peak:.1f}% of the "
          f"{'bf16' if cfg.bf16 else 'fp32'} matmul peak ({peak / 1e9:.0f} GFLOP/s)")
    if reached:
        print(f"  reached val loss <= {TARGET} at step {reached[2]}: {reached[0]:.1f} s of training ({reached[1]:.1f} s wall)")
    else:
        print(f"  did not reach val loss <= {TARGET} (best {min(v for *_, v in curve):.3f})")
    return reached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", nargs="+", default=["baseline", "speedrun"], choices=list(recipes()))
    parser.add_argument("--corpus", type=Path, default=CORPUS, help=f"Tiny Shakespeare (default {CORPUS})")
    parser.add_argument("--max-seconds", type=float, default=300, help="give up on a run after this much wall time")
    args = parser.parse_args()
    if not args.corpus.is_file():
        print(f"skipped: {args.corpus} not found (reference data, kept outside the project)")
        return
    text = args.corpus.read_text(encoding="utf-8")
    torch.set_num_threads(args.threads)
    peaks = {dtype: peak_matmul_flops(dtype) for dtype in (torch.float32, torch.bfloat16)}
    print(f"Tiny Shakespeare: {len(text):,} characters; matmul peak on {args.threads} thread(s): "
          f"fp32 {peaks[torch.float32] / 1e9:.0f} GFLOP/s, bf16 {peaks[torch.bfloat16] / 1e9:.0f} GFLOP/s")
    results = {name: run(name, text, *recipes()[name], args.threads, args.max_seconds, peaks) for name in args.runs}
    if results.get("baseline") and results.get("speedrun"):
        print(f"\nspeed-up to val loss {TARGET}: {results['baseline'][0] / results['speedrun'][0]:.2f}x "
              f"({results['baseline'][0]:.1f} s -> {results['speedrun'][0]:.1f} s of training)")


if __name__ == "__main__":
    main()

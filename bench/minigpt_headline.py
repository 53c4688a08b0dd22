"""The guide's headline: the ~0.8M-parameter MiniGPT memorises a small corpus, loss ~ln(V) -> < 0.1.

    python bench/minigpt_headline.py [--threads 2] [--preset default] [--steps N]

Trains the "default" preset (the tab's default and the shipped checkpoint's recipe) on the built-in
corpus and prints the loss-vs-time curve, the initial loss against ln(V), and the training time at
which the training loss (averaged over the last 10 steps) first fell below 0.1. Target: < 60 s on an
idle 2-core CPU. Training time excludes the validation passes and samples; wall time is printed too.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.minigpt import data, train  # noqa: E402

TARGET = 0.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--preset", default="default", choices=list(train.PRESETS))
    parser.add_argument("--steps", type=int, default=None, help="override the preset's number of steps")
    args = parser.parse_args()
    model_config, cfg = train.preset(args.preset)
    if args.steps:
        cfg = cfg.with_steps(args.steps)
    cfg = replace(cfg, threads=args.threads, log_every=10, sample_every=cfg.steps)
    text = data.builtin_corpus()
    print(f"built-in corpus: {len(text):,} characters; preset {args.preset}: batch {cfg.batch_size}, lr {cfg.learning_rate}, "
          f"{cfg.steps} steps, {'bf16 autocast' if cfg.bf16 else 'float32'}, {args.threads} thread(s)")
    tokens_per_step = cfg.batch_size * model_config.block_size
    reached = None
    for p in train.train(text, model_config, cfg):
        seconds = p.step * tokens_per_step / p.tokens_per_s if p.step else 0.0
        if p.step == 0:
            print(f"{p.num_params:,} parameters; initial loss {p.train_loss:.3f} vs ln({p.vocab_size}) = {math.log(p.vocab_size):.3f}")
        if p.step % 100 == 0 or p.done:
            val = f"  val loss {p.val_loss:.3f}" if p.val_loss is not None else ""
            print(f"  {seconds:6.1f} s train ({p.elapsed:6.1f} s wall)  step {p.step:5d}  train loss {p.train_loss:.3f}{val}"
                  f"  {p.tokens_per_s:8,.0f} tokens/s", flush=True)
        if reached is None and p.step > 0 and p.train_loss < TARGET:
            reached = (seconds, p.elapsed, p.step)
            print(f"  -> train loss < {TARGET} at step {p.step}: {seconds:.1f} s of training ({p.elapsed:.1f} s wall)")
        if p.new_sample:
            print(f"sample: {p.new_sample[:200]!r}")
    if reached:
        print(f"headline: loss {math.log(p.vocab_size):.2f} (ln V) -> < {TARGET} in {reached[0]:.1f} s of training (target < 60 s)")
    else:
        print(f"headline NOT reached: final train loss {p.train_loss:.3f} after {seconds:.1f} s of training")


if __name__ == "__main__":
    main()

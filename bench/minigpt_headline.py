"""The guide's headline: the ~0.8M-parameter MiniGPT memorises a small corpus, loss ~ln(V) -> < 0.1.

    python bench/minigpt_headline.py [--threads 2] [--preset default] [--steps N] [--no-baseline]

Trains the "default" preset (the tab's default and the shipped checkpoint's recipe) on the built-in
corpus and prints the loss-vs-time curve, the initial loss against ln(V), and the training time at
which the training loss (the mean over the full-length steps since the previous report) first fell
below 0.1. Target: < 60 s on an idle 2-core CPU. Training time counts the steps only; the wall time,
with the validation passes, samples and checkpoints, is printed beside it.

Then, as a check that does not depend on the last few batches: the saved model's loss on 32 x 16
fixed random windows of the training text, and the floor no model can beat on such windows (the
first characters of a window cannot be known; see core.minigpt.data.window_loss_floor).

Baseline in the same run: the same recipe with AdamW in place of Muon (one change, same steps).
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.minigpt import checkpoint, data, train  # noqa: E402

TARGET = 0.1
BUDGET_S = 60.0


def run(name: str, text: str, threads: int, steps: int | None, out_dir: Path, **changes):
    """Train preset `name` (with `changes`), printing the curve; returns (time the target was reached or None, last Progress)."""
    model_config, cfg = train.preset(name)
    if steps:
        cfg = cfg.with_steps(steps)
    cfg = replace(cfg, threads=threads, log_every=10, **changes)
    print(f"\n== preset {name}: context {model_config.block_size}, batch {cfg.batch_size}, {cfg.optimizer}"
          f"{f' (Muon lr {cfg.muon_lr})' if cfg.optimizer == 'muon' else ''}, AdamW lr {cfg.learning_rate}, "
          f"short windows {cfg.short_window or 'off'}, {cfg.steps} steps, "
          f"{'bf16 autocast' if cfg.bf16 else 'float32'}, {threads} thread(s)")
    reached = None
    p = None
    for p in train.train(text, model_config, cfg, out_dir=out_dir):
        if p.step == 0:
            print(f"{p.num_params:,} parameters; initial loss {p.train_loss:.3f} vs ln({p.vocab_size}) = {math.log(p.vocab_size):.3f}")
        if p.step % 50 == 0 or p.done:
            val = f"  val loss {p.val_loss:.3f}" if p.val_loss is not None else ""
            print(f"  {p.train_time:6.1f} s train ({p.elapsed:6.1f} s wall)  step {p.step:5d}  epoch {p.epoch:3d}"
                  f"  train loss {p.train_loss:.3f}{val}  {p.tokens_per_s:8,.0f} tokens/s", flush=True)
        if reached is None and p.step > 0 and p.train_loss < TARGET:
            reached = p.train_time
            print(f"  -> train loss < {TARGET} at step {p.step}: {p.train_time:.1f} s of training ({p.elapsed:.1f} s wall)")
    return reached, p


def memorisation_check(run_dir: Path, text: str) -> tuple[float, float, int]:
    """(loss of the saved model on fixed windows of the training text, the floor for those windows, their length)."""
    loaded = checkpoint.load(run_dir)
    block = loaded.config.block_size
    ds = data.CharDataset(text, block, tokenizer=loaded.tokenizer)
    loss = train.estimate_loss(loaded.model, ds, "train", batches=16, batch_size=32)
    return loss, data.window_loss_floor(loaded.tokenizer.decode(ds.train.tolist()), block), block


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--preset", default="default", choices=list(train.PRESETS))
    parser.add_argument("--steps", type=int, default=None, help="override the preset's number of steps")
    parser.add_argument("--no-baseline", action="store_true", help="skip the AdamW baseline")
    args = parser.parse_args()
    text = data.builtin_corpus()
    print(f"built-in corpus: {len(text):,} characters")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / args.preset
        reached, last = run(args.preset, text, args.threads, args.steps, out)
        loss, floor, block = memorisation_check(out, text)
        print(f"saved model on 512 fixed training windows: loss {loss:.3f} (the floor for {block}-character windows "
              f"of this text: {floor:.3f})")
        baseline = None
        model_config, cfg = train.preset(args.preset)
        if not args.no_baseline and cfg.optimizer != "adamw":
            _, baseline = run(args.preset, text, args.threads, args.steps, Path(tmp) / "adamw", optimizer="adamw")
    if reached:
        print(f"\nheadline: loss {math.log(last.vocab_size):.2f} (ln V) -> < {TARGET} in {reached:.1f} s of training "
              f"(target < {BUDGET_S:.0f} s); {last.train_time:.1f} s for all {last.step} steps, {last.elapsed:.1f} s wall")
    else:
        print(f"\nheadline NOT reached: final train loss {last.train_loss:.3f} after {last.train_time:.1f} s of training")
    if baseline is not None:
        print(f"baseline, the same recipe with AdamW instead of Muon: train loss {baseline.train_loss:.3f} after "
              f"{baseline.step} steps ({baseline.train_time:.1f} s of training), against {last.train_loss:.3f} with Muon "
              f"({last.train_time:.1f} s: {baseline.train_time / last.step * 1000:.0f} vs {last.train_time / last.step * 1000:.0f} ms per step)")


if __name__ == "__main__":
    main()

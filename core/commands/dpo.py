"""Part 2 from the terminal: align the SFT model with DPO (trl's DPOTrainer) on preference pairs.

    python -m core dpo [--base pocket] [--adapter DIR] [--data FILE] [--steps N] [--beta B] --out DIR

The shipped adapter checkpoints/lora/pocket-dpo was made with:

    python -m core dpo --base pocket --adapter checkpoints/lora/pocket-answer-format --steps 30 --beta 0.1 --lr 3e-4 \\
        --out checkpoints/lora/pocket-dpo
"""
from __future__ import annotations

import sys
from pathlib import Path

from core.seeds import seed_argument

ORDER = 2


def register(subparsers) -> None:
    p = subparsers.add_parser("dpo", help="align an SFT adapter with DPO on preference pairs (trl DPOTrainer)")
    p.add_argument("--base", default="pocket", help="the base model: pocket, a model folder or a Hub id (default pocket)")
    p.add_argument("--adapter", default=None,
                   help="the SFT adapter to start from (default: the shipped pocket-answer-format for --base pocket; "
                        "'none' trains a fresh LoRA adapter against the base model)")
    p.add_argument("--data", default=None, help='JSONL of {"prompt", "chosen", "rejected"} (default: the built-in 70 pairs)')
    p.add_argument("--steps", type=int, default=24)
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=seed_argument, default=0)
    p.add_argument("--out", required=True, help="folder for the adapter (created)")
    p.set_defaults(func=run_dpo)


def _adapter(args) -> Path | None:
    from core.finetune.dpo import SFT_ADAPTER

    if args.adapter is None:
        return SFT_ADAPTER if args.base == "pocket" else None
    if args.adapter.strip().lower() == "none":
        return None
    path = Path(args.adapter)
    if not (path / "adapter_config.json").is_file():
        raise ValueError(f"{path} holds no adapter_config.json: give the folder of a LoRA run, or --adapter none.")
    return path


def run_dpo(args) -> int:
    from core import alignment
    from core.finetune.dpo import DPOSettings, train

    prefs = alignment.read_preferences(args.data) if args.data else alignment.builtin_preferences()
    for problem in prefs.problems:
        print(f"skipped {problem}", file=sys.stderr)
    settings = DPOSettings(beta=args.beta, learning_rate=args.lr, max_steps=args.steps, batch_size=args.batch_size,
                           seed=args.seed)
    settings.validate()
    adapter, out = _adapter(args), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"DPO of {args.base} + {adapter or 'a fresh LoRA adapter'} on {len(prefs.pairs)} pairs from {prefs.source} -> {out}")
    seen = 0
    for progress in train(args.base, adapter, prefs.pairs, prefs.source, settings, out):
        if progress.phase != "training":
            print(progress.message, flush=True)
        for i in range(seen, len(progress.steps)):  # every step's loss, margin and accuracy, once
            print(f"step {progress.steps[i]:>4}  loss {progress.losses[i]:.4f}  reward margin "
                  f"{progress.margins[i]:+.3f}  preference accuracy {progress.accuracies[i]:.0%}", flush=True)
        seen = len(progress.steps)
    print(f'try it: python -m core inference --adapter {out} --compare "What is a token?"')
    return 0

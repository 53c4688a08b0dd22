"""Part 7 from the terminal: the guide's finetune_lora.py and inference.py, plus the pocket model.

    python -m core finetune [--model pocket|ID|PATH] [--data FILE] [--steps N] [--out DIR] ...
    python -m core inference --adapter DIR "prompt" [--compare]
    python -m core pocket --out checkpoints/pocket/pocket-llama
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from core.seeds import seed_argument

ORDER = 7


def register(subparsers) -> None:
    p = subparsers.add_parser("finetune", help="LoRA fine-tune a chat model (trl SFTTrainer)")
    p.add_argument("--model", default=None,
                   help="pocket, a Hub id, a model folder or a .gguf file (default: chosen for this machine)")
    p.add_argument("--data", default=None, help="JSONL with 'messages' or 'instruction'/'output' (default: built-in set)")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--epochs", type=float, default=0.0, help="train for this many epochs instead of --steps")
    p.add_argument("--out", default=None, help="folder for the adapter (default: a new folder under checkpoints/runs/cli/lora/)")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=int, default=16)
    p.add_argument("--dropout", type=float, default=0.05)
    p.add_argument("--targets", default="all linear",
                   help="'attention only', 'all linear', or comma-separated module names (q_proj,v_proj)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--eval-fraction", type=float, default=0.1)
    p.add_argument("--four-bit", action="store_true", help="QLoRA: load the base in 4-bit (needs CUDA + bitsandbytes)")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--seed", type=seed_argument, default=0)
    p.add_argument("--export", default=None, metavar="FILE.py", help="also write the run as an `accelerate launch` script")
    p.set_defaults(func=run_finetune)

    p = subparsers.add_parser("inference", help="chat with a LoRA adapter (optionally next to its base model)")
    p.add_argument("prompt")
    p.add_argument("--adapter", required=True, help="a folder with adapter_config.json")
    p.add_argument("--compare", action="store_true", help="print the base model's answer too")
    p.add_argument("--max-new-tokens", type=int, default=80)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    p.add_argument("--seed", type=seed_argument, default=0)
    p.set_defaults(func=run_inference)

    p = subparsers.add_parser("pocket", help="build and pretrain the bundled pocket model (Llama, ~1M params)")
    p.add_argument("--out", default="checkpoints/pocket/pocket-llama")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--seed", type=seed_argument, default=0)
    p.set_defaults(func=run_pocket)


def _targets(text: str) -> list[str]:
    from core.finetune.lora import PRESETS

    return PRESETS.get(text.strip(), [t.strip() for t in text.split(",") if t.strip()])


def run_finetune(args) -> int:
    from core.finetune import data, export, models
    from core.sessions import runs_root
    from core.finetune.lora import LoraSettings
    from core.finetune.train import TrainSettings, train

    # the data first: a bad file is reported before anything heavy is loaded
    dataset = data.read_jsonl(args.data) if args.data else data.builtin()
    model = args.model or models.detect_environment().default_model
    for problem in dataset.problems:
        print(f"skipped {problem}", file=sys.stderr)
    settings = TrainSettings(
        lora=LoraSettings(args.rank, args.alpha, args.dropout, _targets(args.targets)),
        learning_rate=args.lr, max_steps=args.steps, epochs=args.epochs, batch_size=args.batch_size,
        grad_accum=args.grad_accum, max_length=args.max_length, eval_fraction=args.eval_fraction,
        gradient_checkpointing=args.gradient_checkpointing, four_bit=args.four_bit, seed=args.seed)
    out = Path(args.out or runs_root() / "cli" / "lora" / time.strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"fine-tuning {model} on {len(dataset.examples)} examples from {dataset.source} -> {out}")
    last = 0.0
    for progress in train(model, dataset, settings, out):
        now = time.perf_counter()
        if progress.phase != "training" or now - last > 2:
            print(progress.status(), flush=True)
            last = now
    if args.export:
        export.write_script(args.export, model, dataset.examples, settings, dataset.source)
        print(f"script written to {args.export}: run it with `accelerate launch {args.export}`")
    print(f'try it: python -m core inference --adapter {out} --compare "What is a token?"')
    return 0


def run_inference(args) -> int:
    from core.finetune import chat

    adapted = chat.load_adapted(args.adapter)
    kwargs = dict(max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=args.seed)
    if args.compare:
        with adapted.model.disable_adapter():
            print(f"--- base ({adapted.base_model})\n{chat.generate(adapted.model, adapted.tokenizer, args.prompt, **kwargs)}")
        print(f"--- base + adapter ({args.adapter})")
    print(chat.generate(adapted.model, adapted.tokenizer, args.prompt, **kwargs))
    return 0


def run_pocket(args) -> int:
    from core import threads
    from core.finetune import pocket

    threads.set_torch_threads()
    pocket.build_pocket(args.out, steps=args.steps, seed=args.seed)
    return 0

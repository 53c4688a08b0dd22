"""`python -m core train` and `python -m core generate`: the guide's train.py and generate.py.

    python -m core train                                   # the guide's model on the built-in corpus
    python -m core train --corpus my.txt --steps 500 --out runs/mine
    python -m core train --arch llama --n-kv-head 2          # Llama style: RoPE, RMSNorm, SwiGLU, GQA
    python -m core generate "Python is" 200                # from the shipped default checkpoint
    python -m core generate "The transformer" 300 --checkpoint runs/mine --temperature 0.8

The shipped checkpoint checkpoints/minigpt/default/ was made with:

    python -m core train --preset default --threads 2 --out checkpoints/minigpt/default
"""
from __future__ import annotations

import sys
import time
from dataclasses import fields

from core.seeds import seed_argument

ORDER = 4

DEFAULT_CHECKPOINT = "checkpoints/minigpt/default"

# command-line flag -> (field, which config) for the hyperparameters a learner may override
MODEL_FLAGS = ["n_layer", "n_head", "n_embd", "block_size", "dropout", "arch", "n_kv_head"]
TRAIN_FLAGS = ["steps", "batch_size", "learning_rate", "muon_lr", "short_window", "warmup_steps", "eval_every", "sample_every",
               "seed", "threads"]


def register(subparsers) -> None:
    from core.minigpt.config import ARCHS, GPTConfig

    p = subparsers.add_parser("train", help="train a MiniGPT (Part 4) and save it as a checkpoint folder")
    p.add_argument("--corpus", metavar="FILE", help="UTF-8 text file to train on (default: the built-in corpus)")
    p.add_argument("--preset", default="default", help="starting settings: default (the guide's model, Muon: under a minute), adamw (the same model, "
                   "classic AdamW: a few minutes) or speedrun (Tiny Shakespeare)")
    p.add_argument("--out", metavar="DIR", help="run folder to write (default: checkpoints/runs/cli/minigpt/<time>)")
    types = {f.name: f.type for f in fields(GPTConfig)}
    for name in MODEL_FLAGS[:5]:
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float if "float" in str(types[name]) else int)
    p.add_argument("--arch", choices=list(ARCHS), help="gpt2: GPT-2 style (position table, LayerNorm, GELU, biases; the "
                   "default); llama: Llama style (RoPE, RMSNorm, SwiGLU, no biases)")
    p.add_argument("--n-kv-head", dest="n_kv_head", type=int, help="key/value heads, Llama style only (grouped-query "
                   "attention: fewer than --n-head; default: one per head)")
    for name in TRAIN_FLAGS:
        kind = seed_argument if name == "seed" else float if name.endswith("_lr") or name == "learning_rate" else int
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind)
    p.add_argument("--optimizer", choices=["adamw", "muon"], help="muon: Muon for the blocks' matrices, AdamW for the rest")
    p.add_argument("--bf16", action="store_true", default=None, help="bfloat16 autocast (faster on CPUs with AVX-512 BF16)")
    p.set_defaults(func=run_train)

    g = subparsers.add_parser("generate", help="continue a prompt with a trained MiniGPT (Part 4)")
    g.add_argument("prompt", nargs="?", default="Python is", help='text to continue (default "Python is")')
    g.add_argument("tokens", nargs="?", type=int, default=200, help="number of tokens to generate: characters for a character model (default 200)")
    g.add_argument("--checkpoint", metavar="DIR", default=DEFAULT_CHECKPOINT, help=f"checkpoint folder (default {DEFAULT_CHECKPOINT})")
    g.add_argument("--temperature", type=float, default=0.8, help="0 = greedy; higher = more random (default 0.8)")
    g.add_argument("--top-k", type=int, default=0, help="sample only among the k most likely tokens (0 = off)")
    g.add_argument("--top-p", type=float, default=1.0, help="sample only from the smallest set with this much probability (1 = off)")
    g.add_argument("--seed", type=seed_argument, default=None, help="fix the randomness to get the same text again")
    g.add_argument("--no-cache", action="store_true", help="recompute the whole context every step (slower; same text)")
    g.set_defaults(func=run_generate)


def run_train(args) -> int:
    from dataclasses import replace
    from pathlib import Path

    from core import sessions, text_input
    from core.minigpt import train
    from core.minigpt.config import ARCHS

    model_config, train_config = train.preset(args.preset)
    if args.steps is not None:
        train_config = train_config.with_steps(args.steps)
    model_config = replace(model_config, **{k: getattr(args, k) for k in MODEL_FLAGS if getattr(args, k) is not None})
    train_config = replace(train_config, **{k: getattr(args, k) for k in TRAIN_FLAGS + ["bf16", "optimizer"] if getattr(args, k) is not None})
    if args.short_window is None:  # the preset's short windows; an explicit --short-window is checked as given
        train_config, note = train.fit_short_window(train_config, model_config.block_size)
        if note:
            print(f"note: {note}", file=sys.stderr)
    # the app's reader: the same file gives the same characters here and in tab 4
    text = text_input.read_file(args.corpus) if args.corpus else text_input.builtin_corpus()
    out = Path(args.out) if args.out else sessions.runs_root() / "cli" / "minigpt" / time.strftime("%Y%m%d-%H%M%S")
    print(f"training a {ARCHS[model_config.arch]} MiniGPT: {model_config.n_layer} layers x {model_config.n_head} heads"
          f"{f' ({model_config.kv_heads} key/value)' if model_config.kv_heads != model_config.n_head else ''} x {model_config.n_embd} wide, "
          f"context {model_config.block_size}, {train_config.steps} steps, {train_config.optimizer} -> {out}")
    gen = train.train(text, model_config, train_config, out_dir=out)
    try:
        for progress in gen:
            if progress.step == 0:
                print(f"{progress.num_params:,} parameters, vocabulary {progress.vocab_size} characters, "
                      f"initial loss ln({progress.vocab_size}) = {progress.initial_loss:.3f}")
            if progress.step % (train_config.log_every * 10) == 0 or progress.done:
                print(progress.status_line(), flush=True)
            if progress.new_sample:
                print(f"--- sample at step {progress.step} ---\n{progress.new_sample}\n---", flush=True)
    except KeyboardInterrupt:
        gen.close()  # saves the weights learned so far
        print("stopped; the run so far is saved", file=sys.stderr)
    print(f"saved to {out}  (try: python -m core generate \"{train_config.sample_prompt or 'The'}\" 200 --checkpoint {out})")
    return 0


def run_generate(args) -> int:
    from pathlib import Path

    from core import sessions
    from core.minigpt import checkpoint, sample

    sample.check_settings(args.tokens, args.temperature, args.top_k or None, args.top_p)
    folder = Path(args.checkpoint)
    if not folder.is_absolute() and not folder.exists():
        folder = sessions.PROJECT_ROOT / folder  # the default works from any working directory
    loaded = checkpoint.load(folder)
    ids, unknown = sample.prompt_ids(loaded.tokenizer, args.prompt, drop_unknown=True)
    if unknown:
        print(f"note: dropped characters this model never saw: {' '.join(map(repr, unknown))}", file=sys.stderr)
    prompt = loaded.tokenizer.decode(ids)
    print(prompt, end="", flush=True)
    new_ids = sample.generate_ids(loaded.model, ids, args.tokens, args.temperature, args.top_k or None,
                                  args.top_p, args.seed, use_cache=not args.no_cache)
    for piece in sample.text_pieces(loaded.tokenizer, new_ids):  # a BPE token may be half a character
        print(piece, end="", flush=True)
    print()
    return 0

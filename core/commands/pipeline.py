"""`python -m core pipeline FILE --out DIR`: tab 11's whole workflow from the terminal.

    python -m core pipeline my_notes.txt --out runs/notes                       # characters
    python -m core pipeline my_notes.txt --out runs/notes --tokenizer bpe --vocab-size 512 --steps 300

Prints each step, the validation bits per character, and writes DIR/<tokenizer>/ and DIR/<tokenizer>.zip.
"""
from __future__ import annotations

ORDER = 11


def register(subparsers) -> None:
    import argparse

    from core.pipeline import MODEL_SIZES, Settings

    d = Settings()
    p = subparsers.add_parser("pipeline", help="data -> tokenizer -> MiniGPT -> bits per character -> zip (Part 11)")
    p.add_argument("file", metavar="FILE", help="UTF-8 text file (the same reader as the app's upload)")
    p.add_argument("--out", metavar="DIR", required=True, help="folder for the run and its zip")
    p.add_argument("--tokenizer", choices=["char", "bpe"], default=d.tokenizer, help=f"default {d.tokenizer}")
    p.add_argument("--vocab-size", type=int, default=d.vocab_size, help=f"BPE vocabulary size (default {d.vocab_size})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"training steps (default {d.steps})")
    p.add_argument("--model", choices=list(MODEL_SIZES), default="small", help="model shape: " + "; ".join(
        f"{name}: {s['n_layer']} layers x {s['n_embd']} wide, context {s['block_size']}" for name, s in MODEL_SIZES.items()))
    for name in ("block_size", "n_layer", "n_head", "n_embd"):  # a shape of one's own (overrides --model)
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int, help=argparse.SUPPRESS)
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"windows per step (default {d.batch_size})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"seed of every random draw (default {d.seed})")
    p.set_defaults(func=run_pipeline)


def run_pipeline(args) -> int:
    from pathlib import Path

    from core import pipeline, text_input

    data = pipeline.prepare_data(text_input.read_file(args.file))
    s = data.stats
    print(f"data: {s['characters']:,} characters, {s['distinct_characters']} distinct, {s['lines']:,} lines; "
          f"train {s['train_characters']:,} / validation {s['validation_characters']:,}")
    shape = pipeline.MODEL_SIZES[args.model] | {k: getattr(args, k) for k in ("block_size", "n_layer", "n_head", "n_embd")
                                                 if getattr(args, k) is not None}
    settings = pipeline.Settings(**shape, tokenizer=args.tokenizer, vocab_size=args.vocab_size, steps=args.steps,
                                 batch_size=args.batch_size, seed=args.seed)
    report = None
    for report in pipeline.run(data, settings, Path(args.out) / settings.tokenizer):
        if report.stage == "pretrain" and report.progress is None:
            t = report.tokenizer
            print(f"tokenizer: {t['kind']}, vocabulary {t['vocab_size']}, {t['characters_per_token']:.3f} characters per token")
        elif report.progress is not None and report.stage == "pretrain" and (report.progress.step % 50 == 0 or report.progress.done):
            print(report.progress.status_line(), flush=True)
    e = report.evaluation
    print(f"validation: {e.loss_per_token:.4f} nats per token x {e.tokens_per_character:.4f} tokens per character / ln 2 "
          f"= {e.bits_per_character:.4f} bits per character")
    print(f"--- sample ---\n{e.samples[0]}\n---")
    print(f"wrote {report.zip_path}")
    return 0

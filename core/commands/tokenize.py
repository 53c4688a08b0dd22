"""`python -m core bpe` and `python -m core tiktoken`: Part 6, tokenization, from the terminal."""
from __future__ import annotations

import time
from pathlib import Path

ORDER = 6


def register(subparsers) -> None:
    p = subparsers.add_parser("bpe", help="train a byte-pair-encoding tokenizer, printing each merge")
    p.add_argument("file", nargs="?", help="UTF-8 text file to train on (default: the built-in corpus)")
    p.add_argument("--vocab-size", type=int, default=512, help="256 byte tokens + this many minus 256 merges")
    p.add_argument("--pattern", choices=["none", "gpt2", "gpt4"], default="none",
                   help="pre-split the text like GPT-2 or GPT-4 before merging (default: none)")
    p.add_argument("--special", action="append", default=[], metavar="TOKEN",
                   help="a special token that is never split, e.g. '<|endoftext|>' (repeatable)")
    p.add_argument("--save", metavar="PATH", help="write the tokenizer to this readable text file")
    p.add_argument("--quiet", action="store_true", help="print only the summary, not every merge")
    p.set_defaults(func=run_bpe)

    p = subparsers.add_parser("tiktoken", help="encode text with OpenAI's tiktoken encodings (offline)")
    p.add_argument("text", help="the text to encode")
    p.add_argument("--encoding", action="append", metavar="NAME",
                   help="cl100k_base, o200k_base, r50k_base or gpt2 (default: every available one)")
    p.set_defaults(func=run_tiktoken)


def run_bpe(args) -> int:
    from core import bpe, text_input
    from core.bpe.tokenizer import prepare

    path = Path(args.file) if args.file else text_input.BUILTIN_CORPUS
    pattern = None if args.pattern == "none" else args.pattern
    prepare("", args.vocab_size, pattern, args.special)  # bad options fail before the work starts
    # the app's reader: the same file gives the same bytes here and in tab 6
    text = text_input.read_file(path) if args.file else text_input.builtin_corpus()
    merges = args.vocab_size - 256
    print(f"training on {path} ({len(text):,} characters), {merges} merges, pre-split: {args.pattern}")
    start = time.perf_counter()
    trainer = bpe.Trainer(text, pattern, args.special)
    while trainer.vocab_size < args.vocab_size:
        step = trainer.step()
        if step is None:
            print("no pair left to merge: every chunk is a single token")
            break
        if not args.quiet:
            a, b = (repr(trainer.vocab[i].decode("utf-8", errors="backslashreplace")) for i in step.pair)
            new = repr(step.token.decode("utf-8", errors="backslashreplace"))
            print(f"merge {step.rank + 1:>5}/{merges}: {step.pair[0]:>5} {step.pair[1]:>5} -> {step.new_id:<5} "
                  f"{a} + {b} = {new}  ({step.count:,} times)")
    seconds = time.perf_counter() - start
    tokenizer = trainer.tokenizer()
    ids = tokenizer.encode(text)
    n_bytes = len(text.encode("utf-8", errors="surrogatepass"))
    print(f"{len(tokenizer.merges)} merges in {seconds:.2f} s; the text is {n_bytes:,} bytes -> {len(ids):,} tokens "
          f"({n_bytes / max(1, len(ids)):.2f} bytes per token)")
    if args.save:
        print(f"saved to {tokenizer.save(args.save)}")
    return 0


def run_tiktoken(args) -> int:
    from core import tiktoken_offline
    from core.token_compare import check_text

    check_text(args.text)  # the app's bound on one comparison
    status = {a.name: a for a in tiktoken_offline.availability()}
    names = args.encoding or [n for n, a in status.items() if a.available]
    print(f"{len(args.text):,} characters, {len(args.text.encode('utf-8', errors='surrogatepass')):,} bytes")
    for name in names:
        if name not in status:
            raise ValueError(f"Unknown encoding {name!r}; choose one of {', '.join(status)}.")
        if not status[name].available:
            print(f"{name}: not available: {status[name].detail}")
            continue
        encoding = tiktoken_offline.get_encoding(name)
        ids = encoding.encode(args.text, disallowed_special=())
        pieces = tiktoken_offline.token_pieces(encoding, ids)
        print(f"{name} ({status[name].models}): {len(ids)} tokens")
        print(f"  ids:    {ids}")
        print(f"  tokens: {pieces}")
    for name, a in status.items():
        if not a.available and name not in names:
            print(f"({name} not available: {a.detail})")
    return 0

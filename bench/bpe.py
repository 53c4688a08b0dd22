"""BPE training time and encoding speed on tinyshakespeare (1.1 MB), fast vs simple trainer.

    python bench/bpe.py [--file PATH] [--simple-chars N]

Reads ../shared/data/tinyshakespeare.txt (next to the clone) unless --file is given; skips when
absent. Targets: fast trainer < 2 s for vocabulary 512 and < 4 s for 1,024; encoding >= 1 MB/s.
The simple recount trainer is the baseline, timed in the same run (on a prefix if --simple-chars).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import bpe  # noqa: E402
from core.bpe import simple  # noqa: E402

DEFAULT_FILE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def timed(fn, *args):
    """(result, wall seconds, CPU seconds): on a shared machine the CPU time is the steadier figure."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--simple-chars", type=int, default=0,
                        help="train the simple baseline on only this many characters (0: the whole text)")
    parser.add_argument("--vocab", type=int, nargs="+", default=[512, 1024])
    args = parser.parse_args()
    if not args.file.is_file():
        print(f"skipped: {args.file} not found (put tinyshakespeare.txt in ../shared/data or pass --file)")
        return
    text = args.file.read_text(encoding="utf-8")
    n_bytes = len(text.encode("utf-8"))
    print(f"{args.file.name}: {n_bytes:,} bytes")
    print("fast trainer; 'encode' is a second pass over the text (words cached), 'first' the first pass")
    print(f"{'pre-split':<9} {'vocab':>5} {'train wall':>10} {'train CPU':>10} {'encode':>11} {'first':>11} {'bytes/token':>11}")
    fast_times = {}
    for pattern in (None, "gpt4"):
        for vocab in args.vocab:
            tok, train_s, train_cpu = timed(bpe.train, text, vocab, pattern)
            _, first_s, _ = timed(tok.encode, text)  # cold: every word is new to the cache
            ids, encode_s, _ = timed(tok.encode, text)  # warm: as when encoding more text of the same kind
            assert tok.decode(ids) == text
            fast_times[(pattern, vocab)] = (tok, train_s)
            print(f"{pattern or 'none':<9} {vocab:>5} {train_s:>9.2f}s {train_cpu:>9.2f}s {n_bytes / encode_s / 1e6:>7.2f} MB/s "
                  f"{n_bytes / first_s / 1e6:>7.2f} MB/s {n_bytes / len(ids):>11.2f}")
    # the baseline: the recount-everything trainer the lesson reads, on the same text (or a prefix)
    base_text = text[:args.simple_chars] if args.simple_chars else text
    vocab = args.vocab[0]
    slow, slow_s, _ = timed(simple.train, base_text, vocab, None)
    if args.simple_chars:
        fast_tok, fast_s, _ = timed(bpe.train, base_text, vocab, None)
        where = f"the first {len(base_text):,} characters"
    else:
        fast_tok, fast_s = fast_times[(None, vocab)]
        where = "the whole text"
    assert slow.merges == fast_tok.merges, "fast and simple trainers disagree"
    print(f"simple trainer, vocabulary {vocab} on {where}: {slow_s:.2f} s; fast: {fast_s:.2f} s "
          f"({slow_s / fast_s:.0f}x faster, identical merges)")


if __name__ == "__main__":
    main()

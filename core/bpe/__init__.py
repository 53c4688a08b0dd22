"""Byte-pair encoding from scratch (Part 6).

    from core import bpe
    tok = bpe.train(text, vocab_size=512, pattern="gpt4")   # pattern: None, "gpt2", "gpt4" or a regex
    tok.merges          # [((id_a, id_b), new_id), ...] in the order learned
    tok.decode(tok.encode("héllo 👋")) == "héllo 👋"
    tok.save("my.bpe"); bpe.load("my.bpe")

`simple.py` is the recount-everything version to read; `fast.py` gives identical merges with
incremental counts and has `Trainer` for stepping through training one merge at a time.
"""
from core.bpe.tokenizer import (ENDOFTEXT, GPT2_PATTERN, GPT4_PATTERN, MAX_DECODE_IDS, MAX_SPECIAL_CHARS, MAX_SPECIAL_TOKENS,
                                MAX_TRAIN_BYTES, MAX_TRAIN_CHARS, PATTERNS, Tokenizer, check_special_tokens, parse_ids)

load = Tokenizer.load
loads = Tokenizer.loads
_TRAINER_NAMES = ("MergeStep", "Trainer", "train")


def __getattr__(name: str):
    # The trainer is imported on first use, so `import core.bpe.tokenizer` (encode/decode only)
    # never loads it: the tokenizer and the trainer depend on core.bpe.pairs, not on each other.
    if name in _TRAINER_NAMES:
        from core.bpe import fast

        return getattr(fast, name)
    raise AttributeError(f"module 'core.bpe' has no attribute {name!r}")


__all__ = ["ENDOFTEXT", "GPT2_PATTERN", "GPT4_PATTERN", "MAX_DECODE_IDS", "MAX_SPECIAL_CHARS", "MAX_SPECIAL_TOKENS",
           "MAX_TRAIN_BYTES", "MAX_TRAIN_CHARS", "PATTERNS", "MergeStep", "Tokenizer", "Trainer", "check_special_tokens", "load", "loads",
           "parse_ids", "train"]

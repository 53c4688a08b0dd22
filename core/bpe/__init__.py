"""Byte-pair encoding from scratch (Part 6).

    from core import bpe
    tok = bpe.train(text, vocab_size=512, pattern="gpt4")   # pattern: None, "gpt2", "gpt4" or a regex
    tok.merges          # [((id_a, id_b), new_id), ...] in the order learned
    tok.decode(tok.encode("héllo 👋")) == "héllo 👋"
    tok.save("my.bpe"); bpe.load("my.bpe")

`simple.py` is the recount-everything version to read; `fast.py` gives identical merges with
incremental counts and has `Trainer` for stepping through training one merge at a time.
"""
from core.bpe.fast import MergeStep, Trainer, train
from core.bpe.tokenizer import ENDOFTEXT, GPT2_PATTERN, GPT4_PATTERN, PATTERNS, Tokenizer

load = Tokenizer.load
loads = Tokenizer.loads

__all__ = ["ENDOFTEXT", "GPT2_PATTERN", "GPT4_PATTERN", "PATTERNS", "MergeStep", "Tokenizer", "Trainer", "load", "loads", "train"]

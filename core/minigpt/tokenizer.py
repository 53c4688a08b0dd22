"""A character-level tokenizer: every distinct character of the corpus is one token.

Real LLMs use BPE (Part 6) so one token covers a few characters; characters keep the vocabulary
tiny (~60 ids) and every token readable, which is what a first GPT needs.
"""
from __future__ import annotations


class CharTokenizer:
    """Maps each character of a fixed vocabulary to an integer id (its index in sorted order)."""

    def __init__(self, chars: str):
        chars = "".join(sorted(set(chars)))
        if len(chars) < 2:
            raise ValueError(
                f"The text has {len(chars)} distinct character(s); a language model needs at least 2 "
                "to have anything to predict. Use a longer, more varied text."
            )
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """The vocabulary of a corpus: its distinct characters."""
        return cls("".join(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` that are not in the vocabulary, each once, in order of appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.stoi))

    def encode(self, text: str) -> list[int]:
        missing = self.unknown(text)
        if missing:
            shown = " ".join(repr(c) for c in missing[:10])
            raise ValueError(
                f"{len(missing)} character(s) are not in this model's vocabulary: {shown}. "
                f"It only knows the {self.vocab_size} characters it was trained on."
            )
        return [self.stoi[c] for c in text]

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"

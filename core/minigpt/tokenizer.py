"""A character-level tokenizer: every distinct character of the corpus is one token.

Real LLMs use BPE (Part 6) so one token covers a few characters; characters keep the vocabulary
tiny (~60 ids) and every token readable, which is what a first GPT needs. `BPETokenizer` gives
MiniGPT the project's own BPE instead (tab 11 compares the two); `from_dict` rebuilds either from
a checkpoint's config.json.
"""
from __future__ import annotations


class CharTokenizer:
    """Maps each character of a fixed vocabulary to an integer id (its index in sorted order)."""

    kind = "char"
    unit = "character"  # what one token is, for the labs' wording

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

    def to_dict(self) -> dict:
        return {"kind": self.kind, "vocabulary": self.chars}

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


class BPETokenizer:
    """MiniGPT's view of the project's own byte-level BPE (core.bpe, Part 6): one token covers a few characters.

    It has the CharTokenizer interface the trainer and sampler use (vocab_size, unknown, encode, decode).
    Byte-level BPE can spell any text from its 256 byte tokens, so no character is ever unknown.
    """

    kind = "bpe"
    unit = "token"  # a piece of one or more characters (or part of one)

    def __init__(self, bpe):
        self.bpe = bpe  # a core.bpe.Tokenizer
        self.stoi: dict[str, int] = {}  # no character-level vocabulary: nothing to drop from a prompt

    @classmethod
    def train(cls, text: str, vocab_size: int, pattern: str | None = "gpt4") -> "BPETokenizer":
        from core import bpe

        return cls(bpe.train(text, vocab_size=vocab_size, pattern=pattern))

    @property
    def vocab_size(self) -> int:
        return self.bpe.vocab_size

    def unknown(self, text: str) -> list[str]:
        return []

    def encode(self, text: str) -> list[int]:
        return self.bpe.encode(text)

    def decode(self, ids) -> str:
        return self.bpe.decode(list(ids))

    def to_dict(self) -> dict:
        """JSON-able form for a checkpoint's config.json: the split pattern and the merges, in order."""
        return {"kind": self.kind, "pattern": self.bpe.pattern, "merges": [[a, b] for (a, b), _ in self.bpe.merges]}

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size})"


def from_dict(info: dict):
    """The tokenizer a checkpoint's config.json describes ({"kind": "char"|"bpe", ...})."""
    kind = info.get("kind")
    if kind == "char":
        return CharTokenizer(info["vocabulary"])
    if kind == "bpe":
        from core.bpe.tokenizer import Tokenizer

        merges = [((int(a), int(b)), 256 + i) for i, (a, b) in enumerate(info["merges"])]
        return BPETokenizer(Tokenizer(merges, info.get("pattern")))
    raise ValueError(f"Unknown tokenizer kind {kind!r}: a MiniGPT checkpoint uses 'char' or 'bpe'.")

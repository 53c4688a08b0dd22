"""The training data: a corpus split into train/validation, served as random windows.

A language model learns from (input, target) pairs where the target is the input shifted by one
character: in the window "Python is", the model reading "Pytho" must predict "ython" — one
prediction per position, so one window of block_size + 1 characters gives block_size lessons.
"""
from __future__ import annotations

from pathlib import Path

import torch

from core.minigpt.tokenizer import CharTokenizer

BUILTIN_CORPUS = Path(__file__).resolve().parent.parent / "data" / "builtin_corpus.txt"


def builtin_corpus() -> str:
    """The playground's own corpus: plain prose about Python, neural networks and transformers."""
    return BUILTIN_CORPUS.read_text(encoding="utf-8")


def minimum_length(block_size: int) -> int:
    """Shortest corpus that gives one window for training and one for validation."""
    return 2 * (block_size + 1)


class CharDataset:
    """A corpus as token ids, split into a training part and a held-out validation part.

    The validation part is the END of the text (not random characters), so the model is judged on
    sentences it never saw, and is at least one window long so it can be measured at all.
    """

    def __init__(self, text: str, block_size: int, val_fraction: float = 0.1, tokenizer: CharTokenizer | None = None):
        if not text:
            raise ValueError("The corpus is empty: paste or upload some text, or use the built-in corpus.")
        needed = minimum_length(block_size)
        if len(text) < needed:
            raise ValueError(
                f"The corpus has {len(text)} characters; it needs at least {needed} for a context of {block_size} "
                f"(one window of {block_size + 1} characters to train on and one to validate on). "
                "Use a longer text or a smaller context."
            )
        self.tokenizer = tokenizer or CharTokenizer.from_text(text)  # raises for a single distinct character
        self.block_size = block_size
        data = torch.tensor(self.tokenizer.encode(text), dtype=torch.long)
        n_val = max(int(len(data) * val_fraction), block_size + 1)
        self.train = data[:-n_val]
        self.val = data[-n_val:]

    def batch(self, split: str, batch_size: int, generator: torch.Generator | None = None):
        """`batch_size` random windows: inputs x (B, T) and targets y = x shifted left by one."""
        data = self.train if split == "train" else self.val
        starts = torch.randint(len(data) - self.block_size, (batch_size,), generator=generator)
        offsets = torch.arange(self.block_size + 1)
        windows = data[starts[:, None] + offsets]  # (B, T + 1)
        return windows[:, :-1], windows[:, 1:]

"""The training data: a corpus split into train/validation, served as random windows.

A language model learns from (input, target) pairs where the target is the input shifted by one
character: in the window "Python is", the model reading "Pytho" must predict "ython" — one
prediction per position, so one window of block_size + 1 characters gives block_size lessons.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict

import torch

from core import text_input
from core.minigpt.tokenizer import CharTokenizer

# The corpus readers are core.text_input's (the one reader of a learner's text), under their old names.
BUILTIN_CORPUS = text_input.BUILTIN_CORPUS
builtin_corpus = text_input.builtin_corpus
read_text_file = text_input.read_file  # UTF-8 check, BOM and CRLF removed, bounded in bytes and characters
MAX_CORPUS_CHARS = text_input.MAX_CHARS


def minimum_length(block_size: int) -> int:
    """Shortest corpus that gives one window for training and one for validation."""
    return 2 * (block_size + 1)


def check_corpus(text: str, block_size: int) -> None:
    """Raise ValueError (saying what would work) for a text the model cannot be trained on."""
    if not text:
        raise ValueError("The corpus is empty: paste or upload some text, or use the built-in corpus.")
    text_input.check_length(text, "The corpus", text_input.MAX_CHARS)
    needed = minimum_length(block_size)
    if len(text) < needed:
        raise ValueError(
            f"The corpus has {len(text)} characters; it needs at least {needed} for a context of {block_size} "
            f"(one window of {block_size + 1} characters to train on and one to validate on). "
            "Use a longer text or a smaller context."
        )
    if len(set(text)) < 2:
        raise ValueError(
            "The corpus uses only one distinct character, so there is nothing to predict. Use a more varied text."
        )


class CharDataset:
    """A corpus as token ids, split into a training part and a held-out validation part.

    The validation part is the END of the text (not random characters), so the model is judged on
    sentences it never saw, and is at least one window long so it can be measured at all.
    """

    def __init__(self, text: str, block_size: int, val_fraction: float = 0.1, tokenizer: CharTokenizer | None = None):
        check_corpus(text, block_size)
        self.tokenizer = tokenizer or CharTokenizer.from_text(text)
        self.block_size = block_size
        data = torch.tensor(self.tokenizer.encode(text), dtype=torch.long)
        n_val = max(int(len(data) * val_fraction), block_size + 1)
        self.train = data[:-n_val]
        self.val = data[-n_val:]

    def batch(self, split: str, batch_size: int, generator: torch.Generator | None = None):
        """`batch_size` random windows: inputs x (B, T) and targets y = x shifted left by one.

        Without a generator, a fresh default-seeded one: never torch's global generator, which
        another learner's job may be drawing from at the same time."""
        data = self.train if split == "train" else self.val
        generator = generator if generator is not None else torch.Generator()
        starts = torch.randint(len(data) - self.block_size, (batch_size,), generator=generator)
        offsets = torch.arange(self.block_size + 1)
        windows = data[starts[:, None] + offsets]  # (B, T + 1)
        return windows[:, :-1], windows[:, 1:]


class EpochWindows:
    """Training windows of one length, served epoch by epoch instead of drawn at random.

    Each epoch cuts the training text into back-to-back windows starting at a random offset, then
    serves them in a shuffled order: every character is a target exactly once per epoch. Windows
    drawn at random (CharDataset.batch) leave some characters unseen for several epochs while others
    repeat, which matters when the goal is to learn every character of a small corpus. The random
    offset moves each character to a different position in its window from one epoch to the next.
    """

    def __init__(self, tokens: torch.Tensor, length: int, generator: torch.Generator | None = None):
        if len(tokens) < length + 1:
            raise ValueError(f"The training text ({len(tokens)} tokens) is shorter than one window of {length + 1}.")
        # a private generator either way: the global one is shared with every other job in the process
        self.tokens, self.length = tokens, length
        self.generator = generator if generator is not None else torch.Generator()
        self.epoch = 0
        self._queue = torch.empty(0, dtype=torch.long)

    def _new_epoch(self) -> torch.Tensor:
        self.epoch += 1
        # the last window must still have its target: start + length < len(tokens)
        offset = int(torch.randint(min(self.length, len(self.tokens) - self.length), (1,), generator=self.generator))
        starts = torch.arange(offset, len(self.tokens) - self.length, self.length)
        return starts[torch.randperm(len(starts), generator=self.generator)]

    def batch(self, batch_size: int):
        """The next `batch_size` windows of this epoch (continuing into the next): x (B, T), y (B, T)."""
        while len(self._queue) < batch_size:
            self._queue = torch.cat([self._queue, self._new_epoch()])
        starts, self._queue = self._queue[:batch_size], self._queue[batch_size:]
        windows = self.tokens[starts[:, None] + torch.arange(self.length + 1)]
        return windows[:, :-1], windows[:, 1:]


def window_loss_floor(text: str, block_size: int) -> float:
    """The lowest mean loss any model can reach on random windows of `text` (as CharDataset.batch draws them).

    Position k of a window predicts character k + 1 of it from the k + 1 characters before, and from
    nothing else. The best possible prediction is how often each character follows that context
    (in this text, at that position), and its loss is the conditional entropy. Early positions have
    short, ambiguous contexts ("th" -> e? a? i?) and keep a loss no training removes; once the context
    pins down where in the text we are, the floor is 0. So even a model that has memorised the text
    averages above 0, and longer windows dilute the hard first positions.
    """
    starts = range(len(text) - block_size)  # the window starts CharDataset.batch can draw
    total = 0.0
    for k in range(block_size):
        follows: dict[str, Counter] = defaultdict(Counter)
        for s in starts:
            follows[text[s:s + k + 1]][text[s + k + 1]] += 1
        entropy = 0.0
        for counts in follows.values():
            seen = sum(counts.values())
            entropy -= sum(n * math.log(n / seen) for n in counts.values())
        entropy /= len(starts)
        if entropy <= 0:  # a longer context only splits the same windows further: 0 from here on
            break
        total += entropy
    return total / block_size

"""Byte-pair encoding without the recount: the same merges as `core.bpe.simple`, much faster.

Why it is faster: a merge only changes the text where the merged pair occurs. So we keep
- the tokens as a doubly-linked list (merging two neighbours is O(1), nothing shifts),
- for every pair, the positions where it occurs (so a merge visits only those places),
- the count of every pair, updated at those places only,
- a heap of (count, pair) to find the most frequent pair without scanning all pairs.
With a pre-split pattern, identical chunks (the word " the" appears thousands of times) are stored
once with a weight, which shrinks the work again.

Ties are broken exactly as in the simple version: highest count, then smallest (id_a, id_b).
"""
from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field

from core.bpe.pairs import PairIndex
from core.bpe.tokenizer import Tokenizer, prepare

__all__ = ["MergeStep", "PairIndex", "Trainer", "train"]  # PairIndex: now in core.bpe.pairs, still importable here


@dataclass
class MergeStep:
    """What one merge did, for a learner to look at."""

    rank: int  # 0 for the first merge
    pair: tuple[int, int]
    new_id: int
    count: int  # how often the pair occurred just before the merge
    token: bytes  # the bytes of the new token
    length: int  # tokens in the whole text after the merge
    top_pairs: list = field(default_factory=list)  # [(pair, count)] just before the merge, if asked


class Trainer:
    """Step-by-step BPE training: `step()` performs one merge and says what it did."""

    def __init__(self, text: str, pattern: str | None = None, special_tokens=None):
        chunks, self.pattern, self.special_tokens = prepare(text, 256, pattern, special_tokens)
        counted = Counter(chunks)  # identical chunks are stored once, with their count as weight
        self.index = PairIndex(list(counted), list(counted.values()))
        self.n_bytes = self.index.length
        self.vocab = {i: bytes([i]) for i in range(256)}
        self.merges: list[tuple[tuple[int, int], int]] = []
        self.lengths = [self.index.length]  # tokens in the text after 0, 1, 2, ... merges
        self._heap = [(-c, a, b) for (a, b), c in self.index.counts.items()]
        heapq.heapify(self._heap)

    @property
    def vocab_size(self) -> int:
        return 256 + len(self.merges)

    def best_pair(self):
        """(pair, count) of the most frequent pair, smallest ids first on a tie; None if no pair is left."""
        heap, counts = self._heap, self.index.counts
        while heap:
            neg, a, b = heap[0]
            count = counts.get((a, b), 0)
            if count == -neg:
                return (a, b), count
            heapq.heappop(heap)  # stale: the count went down since this entry was pushed
            if count:
                heapq.heappush(heap, (-count, a, b))
        return None

    def top_pairs(self, k: int = 10) -> list[tuple[tuple[int, int], int]]:
        return heapq.nsmallest(k, self.index.counts.items(), key=lambda item: (-item[1], item[0]))

    def step(self, with_top: int = 0) -> MergeStep | None:
        """Perform the next merge; None when every chunk is a single token."""
        best = self.best_pair()
        if best is None:
            return None
        top = self.top_pairs(with_top) if with_top else []
        pair, count = best
        new_id = self.vocab_size
        for created in self.index.merge(pair, new_id):
            count_now = self.index.counts.get(created, 0)  # 0 if a later occurrence undid it
            if count_now:
                heapq.heappush(self._heap, (-count_now, *created))
        self.vocab[new_id] = self.vocab[pair[0]] + self.vocab[pair[1]]
        self.merges.append((pair, new_id))
        self.lengths.append(self.index.length)
        return MergeStep(len(self.merges) - 1, pair, new_id, count, self.vocab[new_id], self.index.length, top)

    def tokenizer(self) -> Tokenizer:
        """The tokenizer made of the merges so far."""
        return Tokenizer(self.merges, self.pattern, self.special_tokens)


def train(text: str, vocab_size: int, pattern: str | None = None, special_tokens=None) -> Tokenizer:
    """Learn `vocab_size - 256` merges from `text` (fewer if the text runs out of pairs)."""
    prepare("", vocab_size, pattern, special_tokens)  # check the arguments before the work
    trainer = Trainer(text, pattern, special_tokens)
    while trainer.vocab_size < vocab_size:
        if trainer.step() is None:
            break
    return trainer.tokenizer()

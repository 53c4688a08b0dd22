"""Byte-pair encoding the simple way: recount every pair after every merge.

This is the version to read. Start from the bytes of the text (256 possible values), count every
adjacent pair, replace the most frequent pair everywhere by a new token id, and repeat until the
vocabulary has the size you asked for. Each merge recounts the whole text, so training costs
(number of merges) x (length of the text): fine for a page of text, slow for a book.
`core.bpe.fast` gives the same merges without the recount.

Ties: when several pairs are equally frequent, the pair with the smallest ids wins (first by the
left id, then by the right id). Any fixed rule would do; this one is easy to reproduce.
"""
from __future__ import annotations

from core.bpe.tokenizer import Tokenizer, prepare, split_for_training


def get_stats(chunks: list[list[int]]) -> dict[tuple[int, int], int]:
    """How often each adjacent pair of ids occurs. Pairs never cross a chunk boundary."""
    counts: dict[tuple[int, int], int] = {}
    for ids in chunks:
        for pair in zip(ids, ids[1:]):
            counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of `pair` in `ids` by `new_id`, scanning left to right."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def most_frequent(counts: dict[tuple[int, int], int]) -> tuple[int, int]:
    """The most frequent pair; on a tie, the one with the smallest ids."""
    return max(counts, key=lambda pair: (counts[pair], -pair[0], -pair[1]))


def train(text: str, vocab_size: int, pattern: str | None = None, special_tokens=None) -> Tokenizer:
    """Learn `vocab_size - 256` merges from `text` (fewer if the text runs out of pairs)."""
    pieces, pattern, special_tokens = prepare(text, vocab_size, pattern, special_tokens)
    chunks = [list(piece) for piece in pieces]
    merges = []
    for new_id in range(256, vocab_size):
        counts = get_stats(chunks)
        if not counts:
            break  # every chunk is a single token: nothing left to merge
        pair = most_frequent(counts)
        chunks = [merge(ids, pair, new_id) for ids in chunks]
        merges.append((pair, new_id))
    return Tokenizer(merges, pattern, special_tokens)


def encode(tokenizer: Tokenizer, text: str) -> list[int]:
    """Encode by applying the merges in the order they were learned (no special tokens).

    Why this order: a merge only ever creates pairs that contain its new id, and those were learned
    later, so replaying the merges one by one reproduces what training did to the text.
    """
    out = []
    for piece in split_for_training(text, tokenizer.pattern, {}):
        ids = list(piece)
        for pair, new_id in tokenizer.merges:
            if len(ids) < 2:
                break
            ids = merge(ids, pair, new_id)
        out.extend(ids)
    return out

"""Tokens of a text in one linked list, with where each adjacent pair occurs: the shared index of BPE.

Both the trainer (`core.bpe.fast`, which also counts pairs) and the tokenizer's encoder for long
chunks (`core.bpe.tokenizer`, which replays known merges) walk this index; it lives on its own so the
tokenizer does not import the trainer. A merge only changes the text where the merged pair occurs,
so the index keeps, for every pair, the positions where it occurs, and tokens as a doubly-linked
list (merging two neighbours is O(1), nothing shifts).
"""
from __future__ import annotations

import numpy as np

DEAD = -1  # token value of a list node that was merged into its left neighbour


class PairIndex:
    """Tokens of many chunks in one linked list, with where each adjacent pair occurs.

    `chunks[i]` occurs `weights[i]` times in the text; a pair's count is the sum of the weights of
    its occurrences. Pairs never cross a chunk boundary. With `track_counts=False` (encoding) only
    the positions of pairs in `keep` (the known merges) are recorded.
    """

    def __init__(self, chunks: list[bytes], weights: list[int], track_counts: bool = True, keep=None):
        data = np.frombuffer(b"".join(chunks), dtype=np.uint8).astype(np.int64)
        lengths = np.array([len(c) for c in chunks], dtype=np.int64)
        ends = np.cumsum(lengths)
        n = len(data)
        nxt = np.arange(1, n + 1, dtype=np.int64)
        prv = np.arange(-1, n - 1, dtype=np.int64)
        if n:
            nxt[ends[lengths > 0] - 1] = -1  # last byte of a chunk has no right neighbour
            prv[(ends - lengths)[lengths > 0]] = -1  # first byte has no left neighbour
        weight = np.repeat(np.asarray(weights, dtype=np.int64), lengths)
        # every position that starts a pair, grouped by pair (code = left * 256 + right)
        starts = np.flatnonzero(nxt >= 0)
        codes = data[starts] * 256 + data[starts + 1]
        order = np.argsort(codes, kind="stable")
        unique, first = np.unique(codes[order], return_index=True)
        groups = np.split(starts[order], first[1:]) if len(unique) else []
        self.where = {(int(c) >> 8, int(c) & 255): g.tolist() for c, g in zip(unique, groups)}
        self.track_counts = track_counts
        self.keep = keep
        if track_counts:
            totals = np.bincount(codes, weights=weight[starts], minlength=65536).astype(np.int64)
            self.counts = {(c >> 8, c & 255): int(totals[c]) for c in np.flatnonzero(totals).tolist()}
        else:
            self.where = {p: v for p, v in self.where.items() if p in keep}
        self.tok, self.nxt, self.prv, self.weight = data.tolist(), nxt.tolist(), prv.tolist(), weight.tolist()
        self.first = (ends - lengths)[lengths > 0].tolist()  # where each non-empty chunk starts
        self.length = int(weight.sum())  # tokens in the whole text, counting repeats

    def merge(self, pair: tuple[int, int], new_id: int) -> set:
        """Replace `pair` by `new_id` everywhere; return the pairs whose count went up."""
        a, b = pair
        tok, nxt, prv, weight, where = self.tok, self.nxt, self.prv, self.weight, self.where
        track, keep = self.track_counts, self.keep
        counts = self.counts if track else None
        positions = where.pop(pair, [])
        if a == b:
            positions.sort()  # runs like 'aaa' merge left to right, as the simple version does
        created, removed = set(), 0
        for p in positions:
            q = nxt[p]
            if q < 0 or tok[p] != a or tok[q] != b:
                continue  # this occurrence was destroyed by an earlier merge at a neighbour
            w, o, r = weight[p], prv[p], nxt[q]
            if track:  # the merged pair and the pairs it had with its neighbours disappear
                for gone in (pair, (tok[o], a) if o >= 0 else None, (b, tok[r]) if r >= 0 else None):
                    if gone is not None:
                        remaining = counts[gone] - w
                        if remaining:
                            counts[gone] = remaining
                        else:
                            del counts[gone]  # keep only pairs that occur: top_pairs reads them all
            tok[p], tok[q], nxt[p] = new_id, DEAD, r
            removed += w
            # the merged token makes new pairs with its left neighbour (at o) and right one (at p)
            if r >= 0:
                prv[r] = p
                right = (new_id, tok[r])
                if track or right in keep:
                    where.setdefault(right, []).append(p)
                    if track:
                        counts[right] = counts.get(right, 0) + w
                        created.add(right)
            if o >= 0:
                left = (tok[o], new_id)
                if track or left in keep:
                    where.setdefault(left, []).append(o)
                    if track:
                        counts[left] = counts.get(left, 0) + w
                        created.add(left)
        self.length -= removed
        return created

    def apply(self, merges) -> list[int]:
        """Encoding: replay the merges in the order learned; return the final ids in text order."""
        for pair, new_id in merges:
            if pair in self.where:
                self.merge(pair, new_id)
        return self.ids()

    def ids(self) -> list[int]:
        out, tok, nxt = [], self.tok, self.nxt
        for p in self.first:
            while p >= 0:
                out.append(tok[p])
                p = nxt[p]
        return out

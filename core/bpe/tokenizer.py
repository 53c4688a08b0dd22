"""A trained byte-level BPE tokenizer: merges in, token ids out, and back.

Text becomes bytes (UTF-8), bytes become ids 0..255, and the learned merges glue ids together in
the order they were learned. Decoding concatenates each id's bytes and reads them as UTF-8, so any
text round-trips exactly. Lone surrogates (code points U+D800..U+DFFF, which Python strings allow
but UTF-8 forbids) are written with the 'surrogatepass' rule: they get their 3-byte form, so they
too come back unchanged.
"""
from __future__ import annotations

import json
import operator
from pathlib import Path

import numpy as np
import regex

from core.bpe.pairs import PairIndex
from core.files import atomic_write_text

# The pre-split patterns of OpenAI's GPT-2 (r50k_base) and GPT-4 (cl100k_base) tokenizers, as
# tiktoken defines them. They cut text into words, numbers, punctuation runs and spaces before BPE
# runs, so no token can glue a word to the punctuation after it ("dog." / "dog!" / "dog?").
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
GPT4_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
PATTERNS = {"gpt2": GPT2_PATTERN, "gpt4": GPT4_PATTERN}

ENDOFTEXT = "<|endoftext|>"
FORMAT = "core.bpe v1"
MAX_CACHE = 200_000  # encoded chunks remembered per tokenizer (words repeat a lot in real text)

# Bounds on what a learner can send (a text box's length is not enforced by the server). Every
# special token becomes one alternative of a regular expression that cuts the text, so thousands of
# them made one request take 85 s and 2.2 GB; real tokenizers have a handful ("<|endoftext|>", ...).
MAX_SPECIAL_TOKENS = 20
MAX_SPECIAL_CHARS = 50  # characters in one special token
# Training keeps an index of ~190 bytes per byte of text at its peak (measured: 2 MB of English, +384 MB
# RSS). 2 million characters is the most core.text_input ever hands over; the byte bound keeps text in
# 3- or 4-byte characters (Chinese, emoji) under ~800 MB too.
MAX_TRAIN_CHARS = 2_000_000
MAX_TRAIN_BYTES = 4_000_000
MAX_DECODE_IDS = 20_000  # ids in one decode request


def to_bytes(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogatepass")


def resolve_pattern(pattern: str | None) -> str | None:
    """None/'' (no pre-split), 'gpt2', 'gpt4', or a regular expression of your own."""
    if not pattern:
        return None
    pattern = PATTERNS.get(pattern, pattern)
    try:
        regex.compile(pattern)
    except regex.error as err:
        raise ValueError(f"The split pattern is not a valid regular expression ({err}); use 'gpt2', 'gpt4' or none.") from None
    return pattern


def check_special_tokens(special_tokens) -> list[str]:
    """Special tokens as a list without repeats (order kept). A string is a text box's content: tokens
    separated by whitespace. Too many or too long tokens are refused before any work."""
    if isinstance(special_tokens, str):
        if len(special_tokens) > MAX_SPECIAL_TOKENS * (MAX_SPECIAL_CHARS + 1):  # before splitting it
            raise ValueError(f"The special tokens are {len(special_tokens):,} characters long: give at most "
                             f"{MAX_SPECIAL_TOKENS} tokens of at most {MAX_SPECIAL_CHARS} characters, separated by spaces.")
        special_tokens = special_tokens.split()
    tokens = special_tokens if isinstance(special_tokens, list) else list(special_tokens or [])
    if len(tokens) > MAX_SPECIAL_TOKENS:
        raise ValueError(f"That is {len(tokens):,} special tokens; give at most {MAX_SPECIAL_TOKENS}, such as '{ENDOFTEXT}'.")
    if any(not isinstance(t, str) or not t for t in tokens):
        raise ValueError("Special tokens must be non-empty strings such as '<|endoftext|>'.")
    too_long = next((t for t in tokens if len(t) > MAX_SPECIAL_CHARS), None)
    if too_long is not None:
        raise ValueError(f"A special token has at most {MAX_SPECIAL_CHARS} characters; '{too_long[:20]}…' has {len(too_long):,}.")
    return list(dict.fromkeys(tokens))  # keep order, drop repeats


def special_splitter(special_tokens) -> regex.Pattern | None:
    """Cuts text at special tokens; longest first so '<|a|>' never hides '<|a|>x'."""
    if not special_tokens:
        return None
    alternatives = sorted(special_tokens, key=len, reverse=True)
    return regex.compile("(" + "|".join(regex.escape(t) for t in alternatives) + ")")


def split_for_training(text: str, pattern: str | None, special_tokens) -> list[bytes]:
    """The chunks BPE works inside: text between special tokens, then cut by the pattern."""
    splitter = special_splitter(special_tokens)
    parts = splitter.split(text)[::2] if splitter else [text]  # odd items are the special tokens
    compiled = regex.compile(pattern) if pattern else None
    chunks = []
    for part in parts:
        pieces = compiled.findall(part) if compiled else [part]
        chunks.extend(to_bytes(p) for p in pieces if p)
    return chunks


def prepare(text: str, vocab_size: int, pattern: str | None, special_tokens):
    """Check a training request; return (chunks, pattern, special tokens) for a trainer."""
    if not isinstance(text, str):
        raise ValueError("Training needs text (a str).")
    if len(text) > MAX_TRAIN_CHARS:
        raise ValueError(f"The training text has {len(text):,} characters; the limit is {MAX_TRAIN_CHARS:,}. "
                         "Use a shorter extract.")
    n_bytes = len(to_bytes(text))
    if n_bytes > MAX_TRAIN_BYTES:
        raise ValueError(f"The training text is {n_bytes:,} bytes of UTF-8; the limit is {MAX_TRAIN_BYTES:,} "
                         "(BPE works on bytes). Use a shorter extract.")
    if not isinstance(vocab_size, int) or vocab_size < 256:
        raise ValueError(f"The vocabulary size must be at least 256 (the byte values); got {vocab_size}.")
    pattern, special_tokens = resolve_pattern(pattern), check_special_tokens(special_tokens)
    return split_for_training(text, pattern, special_tokens), pattern, special_tokens


def parse_ids(text: str, max_ids: int = MAX_DECODE_IDS) -> list[int]:
    """'72 101, 256' -> [72, 101, 256]: token ids a learner typed, or a ValueError saying how to write them."""
    text = text or ""
    example = "write ids as whole numbers separated by spaces, e.g. '72 101 256'"
    if len(text) > max_ids * 8:  # an id has at most 7 digits, plus a separator; refuse before splitting
        raise ValueError(f"That is {len(text):,} characters of ids; decode at most {max_ids:,} ids at once.")
    parts = regex.split(r"[\s,]+", text.strip()) if text.strip() else []
    if not parts:
        raise ValueError(f"There are no ids to decode: {example}.")
    if len(parts) > max_ids:
        raise ValueError(f"That is {len(parts):,} ids; decode at most {max_ids:,} at once.")
    bad = next((p for p in parts if not regex.fullmatch(r"\d{1,7}", p)), None)
    if bad is not None:
        raise ValueError(f"'{bad[:20]}' is not a token id: {example}.")
    return [int(p) for p in parts]


class Tokenizer:
    """Byte-level BPE: `merges` is the ordered list of ((id_a, id_b), new_id)."""

    def __init__(self, merges, pattern: str | None = None, special_tokens=None):
        self.merges = [((int(a), int(b)), int(new)) for (a, b), new in merges]
        self.pattern = resolve_pattern(pattern)
        self.vocab = {i: bytes([i]) for i in range(256)}
        for (a, b), new in self.merges:
            if new != len(self.vocab) or a not in self.vocab or b not in self.vocab:
                raise ValueError(f"Merge ({a}, {b}) -> {new} does not follow the merges before it.")
            self.vocab[new] = self.vocab[a] + self.vocab[b]
        # special tokens take the ids after the last merge, in the order given
        self.special_tokens = {t: len(self.vocab) + i for i, t in enumerate(check_special_tokens(special_tokens))}
        self.special_ids = {i: t for t, i in self.special_tokens.items()}
        self.ranks = {pair: new for pair, new in self.merges}
        self._compiled = regex.compile(self.pattern) if self.pattern else None
        self._splitter = special_splitter(self.special_tokens)
        self._cache: dict[bytes, list[int]] = {}
        self._joined_bytes = None

    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + len(self.special_tokens)

    # encoding ------------------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Text to ids. A special token in the text becomes its own id and is never split."""
        if not self._splitter:
            return self.encode_ordinary(text)
        ids = []
        for i, part in enumerate(self._splitter.split(text)):
            ids.extend([self.special_tokens[part]] if i % 2 else self.encode_ordinary(part))
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Text to ids, treating special-token strings as plain text."""
        pieces = self._compiled.findall(text) if self._compiled else [text]
        ids = []
        for piece in pieces:
            ids.extend(self._encode_chunk(to_bytes(piece)))
        return ids

    def _encode_chunk(self, data: bytes) -> list[int]:
        if len(data) <= 64:
            return self._encode_piece(data)
        # A long chunk (no pre-split): cut it between two bytes that no token contains side by
        # side. No merge can ever cross such a cut, so the pieces encode independently, and
        # most pieces are short and repeat, so the cache answers them.
        arr = np.frombuffer(data, dtype=np.uint8)
        cuts = (np.flatnonzero(~self._joined()[arr[:-1], arr[1:]]) + 1).tolist()
        ids = []
        for start, end in zip([0] + cuts, cuts + [len(data)]):
            ids.extend(self._encode_piece(data[start:end]))
        return ids

    def _joined(self) -> np.ndarray:
        """joined[x, y] is True when bytes x, y stand side by side inside some token."""
        if self._joined_bytes is None:
            joined = np.zeros((256, 256), dtype=bool)
            for token in self.vocab.values():
                if len(token) > 1:
                    arr = np.frombuffer(token, dtype=np.uint8)
                    joined[arr[:-1], arr[1:]] = True
            self._joined_bytes = joined
        return self._joined_bytes

    def _encode_piece(self, data: bytes) -> list[int]:
        cached = self._cache.get(data)
        if cached is not None:
            return cached
        if len(data) > 256:
            # a long piece: the linked list, where each merge visits only its own places
            ids = PairIndex([data], [1], track_counts=False, keep=self.ranks).apply(self.merges)
        else:
            ids = self._merge_short(list(data))
        if len(data) <= 64:  # short pieces are words: they repeat, so remember them
            if len(self._cache) >= MAX_CACHE:
                self._cache.clear()
            self._cache[data] = ids
        return ids

    def _merge_short(self, ids: list[int]) -> list[int]:
        """Merge the earliest-learned pair present, leftmost first, until no known pair is left.

        Same result as replaying every merge in order: a merge only creates pairs learned later,
        so all occurrences of one merge happen before the next one (as in tiktoken's encoder).
        """
        ranks, never = self.ranks, 1 << 62  # ranks[pair] is the id the pair merges into
        pair_ranks = [ranks.get(pair, never) for pair in zip(ids, ids[1:])]
        while pair_ranks:
            new = min(pair_ranks)
            if new == never:
                break
            i = pair_ranks.index(new)
            ids[i:i + 2] = [new]
            del pair_ranks[i]
            if i > 0:
                pair_ranks[i - 1] = ranks.get((ids[i - 1], new), never)
            if i < len(ids) - 1:
                pair_ranks[i] = ranks.get((new, ids[i + 1]), never)
        return ids

    # decoding ------------------------------------------------------------------------------------
    def token_bytes(self, token_id: int) -> bytes:
        if token_id in self.vocab:
            return self.vocab[token_id]
        if token_id in self.special_ids:
            return to_bytes(self.special_ids[token_id])
        raise ValueError(f"Token id {token_id} is not in this vocabulary (ids 0..{self.vocab_size - 1}).")

    def decode_bytes(self, ids) -> bytes:
        return b"".join(self.token_bytes(self._token_id(i)) for i in ids)

    def _token_id(self, value) -> int:
        # a learner's id may be anything: say what an id is instead of Python's int() message. Any
        # whole-number type passes (int, NumPy, a 0-d torch tensor); 1.5 or '7' is not silently rounded/parsed.
        if not isinstance(value, bool):
            try:
                return operator.index(value)
            except TypeError:
                pass
        raise ValueError(f"{str(value)[:20]!r} is not a token id: ids are whole numbers from 0 to {self.vocab_size - 1}.")

    def decode(self, ids) -> str:
        """Ids to text. Bytes that are not valid UTF-8 (e.g. half a character) become U+FFFD."""
        data = self.decode_bytes(ids)
        try:
            return data.decode("utf-8", errors="surrogatepass")
        except UnicodeDecodeError:
            return data.decode("utf-8", errors="replace")

    def token_text(self, token_id: int) -> str:
        """A readable form of one token: its text, or escapes such as '\\xe2' for partial characters."""
        if token_id in self.special_ids:
            return self.special_ids[token_id]
        return self.token_bytes(token_id).decode("utf-8", errors="backslashreplace")

    # saving --------------------------------------------------------------------------------------
    def dumps(self) -> str:
        """A readable text form: header, pattern, special tokens, then one merge per line."""
        lines = [FORMAT, f"pattern {json.dumps(self.pattern)}"]
        lines += [f"special {json.dumps(t)}" for t in self.special_tokens]
        for (a, b), new in self.merges:
            lines.append(f"merge {a} {b}  # {new}: {self.token_text(new)!r}")
        return "\n".join(lines) + "\n"

    def save(self, path) -> Path:
        return atomic_write_text(path, self.dumps())

    @classmethod
    def loads(cls, text: str) -> "Tokenizer":
        lines = text.splitlines()
        if not lines or lines[0].strip() != FORMAT:
            raise ValueError(f"Not a tokenizer file: the first line should be '{FORMAT}'.")
        pattern, specials, merges = None, [], []
        for number, line in enumerate(lines[1:], start=2):
            kind, _, rest = line.strip().partition(" ")
            if not kind:
                continue
            try:
                if kind == "pattern":
                    pattern = json.loads(rest)
                elif kind == "special":
                    specials.append(json.loads(rest))
                elif kind == "merge":
                    a, b = (int(x) for x in rest.split("#", 1)[0].split())  # after '#': a comment
                    merges.append(((a, b), 256 + len(merges)))
                else:
                    raise ValueError(kind)
            except ValueError:
                raise ValueError(f"Line {number} of the tokenizer file is not understood: {line[:60]!r}") from None
        return cls(merges, pattern, specials)

    @classmethod
    def load(cls, path) -> "Tokenizer":
        return cls.loads(Path(path).read_text(encoding="utf-8"))

"""Inside a MiniGPT's token table: the vectors of a text's characters, their neighbours, a 2-D map of the
whole vocabulary, and what the model predicts next.

A character-level MiniGPT gives every character of its vocabulary one row of `wte` (V x d): the vector
the model starts from when it reads that character. Training moves the rows so that characters that
behave alike (the same next characters follow them) get similar vectors. An untrained model of the
same shape, drawn from a seeded private generator, shows what "before training" looks like.

    ex = load(path)                          # the checkpoint, its table, and an untrained twin's table
    ids = encode(ex, "Python is")            # one id per character
    neighbours(ex.trained, ids[0], k=10)     # [(id, cosine), ...] most similar first
    pca_2d(ex.trained)                       # (V, 2) coordinates and the share of variance they keep
    next_token(ex, ids, k=10)                # [(id, probability), ...] most likely first

Heavy libraries (torch) are imported inside the functions that run a model.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_TEXT_CHARS = 500  # the explorer reads a sentence or two; the model sees at most its context anyway
UNTRAINED_SEED = 1  # the untrained twin's seed: fixed, so every learner compares with the same model
CLASSES = ("vowel", "consonant", "capital", "digit", "space & punctuation")


@dataclass(frozen=True)
class Explorer:
    """One checkpoint, ready to explore. Read-only: shared by every learner who picks this checkpoint."""

    path: str
    chars: str  # the vocabulary: character of id i is chars[i]
    trained: np.ndarray  # (V, d) the checkpoint's token table, float64
    untrained: np.ndarray  # (V, d) the same table in a fresh model of the same shape (seed UNTRAINED_SEED)
    model: object  # the trained MiniGPT, eval mode
    block_size: int


def load(path) -> Explorer:
    """The checkpoint in `path` (a folder the registry listed), cached while its weights file is unchanged."""
    path = Path(path)
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise ValueError(f"{path.name} is not a finished MiniGPT checkpoint; pick another one from the list.")
    return _load(str(path.resolve()), weights.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int) -> Explorer:
    """Loading and building the twin take ~0.1-0.3 s: once per checkpoint, not once per keystroke.
    (mtime_ns is part of the key so that a checkpoint rewritten in place is read again.)"""
    from core.minigpt import checkpoint
    from core.minigpt.model import MiniGPT

    loaded = checkpoint.load(path)
    if loaded.tokenizer.kind != "char":  # the explorer's views (classes, letter cases) are per character
        raise ValueError("This is a BPE model: the explorer reads character models (one row per character). "
                         "Pick a character model; a BPE model's attention is in tab 5, its text in tab 4.")
    twin = MiniGPT(loaded.config, seed=UNTRAINED_SEED)
    table = lambda model: model.wte.weight.detach().double().numpy().copy()  # noqa: E731
    return Explorer(path=path, chars=loaded.tokenizer.chars, trained=table(loaded.model), untrained=table(twin),
                    model=loaded.model, block_size=loaded.config.block_size)


def encode(ex: Explorer, text: str) -> list[int]:
    """The text as this model's ids, one per character; refused (with what to do) when it cannot be read."""
    if not isinstance(text, str) or not text:
        raise ValueError("Type some text to explore (at least one character).")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"The text has {len(text):,} characters; explore at most {MAX_TEXT_CHARS} at once.")
    missing = list(dict.fromkeys(c for c in text if c not in ex.chars))
    if missing:
        shown = " ".join(repr(c) for c in missing[:10])
        raise ValueError(f"This model has no token for {shown}: it only knows the {len(ex.chars)} characters of "
                         f"its training text ({ex.chars.strip()[:40]}…). Remove or replace them.")
    return [ex.chars.index(c) for c in text]


def unit_rows(table: np.ndarray) -> np.ndarray:
    """Every row scaled to length 1, so a dot product is the cosine of the angle between two rows."""
    norms = np.linalg.norm(table, axis=1, keepdims=True)
    return table / np.where(norms == 0, 1.0, norms)


def neighbours(table: np.ndarray, index: int, k: int = 10) -> list[tuple[int, float]]:
    """The k rows most similar to row `index` by cosine (1 = same direction, 0 = unrelated), itself left out."""
    if not 0 <= index < len(table):
        raise ValueError(f"Token id {index} is outside this vocabulary (0..{len(table) - 1}).")
    unit = unit_rows(table)
    cosines = unit @ unit[index]
    order = [int(i) for i in np.argsort(-cosines, kind="stable") if i != index][:k]
    return [(i, float(cosines[i])) for i in order]


def pca_2d(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows projected on the two directions along which they vary most (principal components).

    Returns (V, 2) coordinates and the share of the total variance each direction keeps. Each
    direction's sign is fixed (its largest loading positive) so that the same table always gives the
    same picture, not a mirrored one."""
    centred = table - table.mean(axis=0)
    _, singular, directions = np.linalg.svd(centred, full_matrices=False)
    top = directions[:2]
    top = top * np.sign(top[np.arange(2), np.abs(top).argmax(axis=1)])[:, None]
    variance = singular ** 2
    return centred @ top.T, variance[:2] / variance.sum()


def char_class(c: str) -> str:
    """Which of CLASSES a character belongs to (the groups a trained table tends to sort into)."""
    if c.lower() in "aeiou" and c.islower():
        return "vowel"
    if c.islower():
        return "consonant"
    if c.isupper():
        return "capital"
    if c.isdigit():
        return "digit"
    return "space & punctuation"


def _case_pair_ranks(unit: np.ndarray, chars: str) -> list[int]:
    """For each letter present in both cases: where its other case comes in its neighbour list (1 = first)."""
    ranks = []
    for i, c in enumerate(chars):
        if c.islower() and c.upper() != c and c.upper() in chars:
            j = chars.index(c.upper())
            cosines = unit @ unit[i]
            ranks.append(int((cosines > cosines[j]).sum()))  # rows closer than the other case, itself included
    return ranks


def clustering(table: np.ndarray, chars: str) -> dict:
    """How much the table groups similar characters, as numbers to compare before and after training.

    same_class: share of characters whose nearest neighbour (cosine) is in the same class;
    chance: that share if neighbours were drawn at random; case_rank: median position of a letter's
    other case among its neighbours (1 = nearest), over case_pairs letters present in both cases;
    by_class: {class: (characters whose nearest neighbour is of the same class, characters of the class)}."""
    unit = unit_rows(table)
    cosines = unit @ unit.T
    np.fill_diagonal(cosines, -np.inf)
    labels = [char_class(c) for c in chars]
    nearest = cosines.argmax(axis=1)
    same = float(np.mean([labels[i] == labels[j] for i, j in enumerate(nearest)]))
    n = len(chars)
    sizes = [labels.count(name) for name in CLASSES]
    chance = sum(s * (s - 1) for s in sizes) / (n * (n - 1))
    ranks = _case_pair_ranks(unit, chars)
    by_class = {name: (sum(labels[j] == name for i, j in enumerate(nearest) if labels[i] == name), size)
                for name, size in zip(CLASSES, sizes)}
    return dict(same_class=same, chance=chance, case_rank=float(np.median(ranks)) if ranks else None,
                case_pairs=len(ranks), by_class=by_class)


def next_token(ex: Explorer, ids: list[int], k: int = 10) -> list[tuple[int, float]]:
    """The model's probability for every possible next character after `ids` (its last block_size of them),
    the k most likely first."""
    import torch

    window = ids[-ex.block_size:]
    with torch.no_grad():
        logits, _ = ex.model(torch.tensor([window]))
    probs = torch.softmax(logits[0, -1].double(), dim=-1)
    top = torch.topk(probs, min(k, probs.numel()))
    return [(int(i), float(p)) for p, i in zip(top.values, top.indices)]

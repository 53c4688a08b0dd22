"""Softmax, cross-entropy and the filters used in sampling, in float64 NumPy.

Importable from a notebook:

    >>> from core.probability import softmax, cross_entropy
    >>> softmax([2.0, 1.0, 0.1]).round(3)
    array([0.659, 0.242, 0.099])
    >>> round(cross_entropy([2.0, 1.0, 0.1], 0), 3)
    0.417

Every function matches PyTorch (checked in tests/core/test_probability.py): `softmax` is
`torch.softmax`, `cross_entropy` is `torch.nn.functional.cross_entropy` (mean over positions), the
filters are the top-k / top-p rules of Hugging Face's `generate`.
"""
from __future__ import annotations

import math
import re

import numpy as np

from core.seeds import check_seed

MIN_LOGITS, MAX_LOGITS = 2, 50
# Far beyond anything the lessons need, but small enough that differences between logits (and
# divisions by a small temperature) stay finite in float64.
MAX_ABS_LOGIT = 1e6
MAX_LABEL_CHARS = 24
# Bounds on a learner's text, checked before it is split (a text box's length is not enforced by the
# server): 32 characters is a generous number ('-1234.5678e-3', spaces, a comma).
MAX_NUMBER_CHARS = 32
MAX_POSITIONS = 16  # lines of the batch example


# --- reading a learner's input --------------------------------------------------------------

def parse_numbers(text: str, what: str = "logits", min_count: int = MIN_LOGITS, max_count: int = MAX_LOGITS) -> np.ndarray:
    """'2.0, 1.0, 0.1' -> array([2.0, 1.0, 0.1]); a ValueError that says how to fix anything else."""
    text = (text or "").strip()
    example = "for example 2.0, 1.0, 0.1"
    if not text:
        raise ValueError(f"The {what} box is empty: type {min_count} to {max_count} numbers separated by commas, {example}.")
    # A textbox's length is not enforced by the server: refuse a huge paste before splitting it.
    if len(text) > max_count * MAX_NUMBER_CHARS:
        raise ValueError(f"That is {len(text):,} characters; the lab takes {min_count} to {max_count} {what}, {example}.")
    parts = [p for p in re.split(r"[,;\s]+", text) if p]
    if len(parts) > max_count:
        raise ValueError(f"That is {len(parts)} {what}; the lab takes {min_count} to {max_count}.")
    values = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"'{part[:20]}' is not a number. The {what} are numbers such as 2.0, -1.5 or 0, "
                             "separated by commas.") from None
        if not math.isfinite(value):
            raise ValueError(f"'{part}' is not a finite number: the {what} must be ordinary numbers (no nan or inf).")
        if abs(value) > MAX_ABS_LOGIT:
            raise ValueError(f"{part} is too large: keep the {what} between -{MAX_ABS_LOGIT:,.0f} and {MAX_ABS_LOGIT:,.0f}.")
        values.append(value)
    if len(values) < min_count:
        raise ValueError(f"Only {len(values)} value: give at least {min_count} {what}, separated by commas.")
    return np.array(values, dtype=np.float64)


def parse_logits(text: str) -> np.ndarray:
    return parse_numbers(text, "logits")


def default_labels(n: int) -> list[str]:
    return [f"token {i + 1}" for i in range(n)]


def parse_labels(text: str, n: int) -> list[str]:
    """Optional vocabulary labels, one per logit; empty means 'token 1', 'token 2', …"""
    text = (text or "").strip()
    if not text:
        return default_labels(n)
    if len(text) > n * (MAX_LABEL_CHARS + 2):
        raise ValueError(f"The labels are too long: give {n} short words separated by commas.")
    labels = [label.strip() for label in text.split(",")]
    if len(labels) != n:
        raise ValueError(f"There are {n} logits but {len(labels)} labels: give one label per logit, or leave the labels empty.")
    if any(not label for label in labels):
        raise ValueError("A label is empty: write a word between every pair of commas.")
    if len(set(labels)) != n:
        raise ValueError("Two labels are the same: each token of the vocabulary needs its own label.")
    return [label[:MAX_LABEL_CHARS] for label in labels]


def parse_batch(text: str, max_positions: int = MAX_POSITIONS) -> tuple[np.ndarray, np.ndarray]:
    """One position per line, 'logits -> target index', e.g. '2.0, 1.0, 0.1 -> 0'."""
    if len(text or "") > max_positions * (MAX_LOGITS * MAX_NUMBER_CHARS + 8):  # refuse a huge paste before splitting
        raise ValueError(f"That is {len(text):,} characters; the batch example takes 1 to {max_positions} lines "
                         f"of at most {MAX_LOGITS} logits each.")
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    if not lines:
        raise ValueError("The batch is empty: write one position per line, like '2.0, 1.0, 0.1 -> 0'.")
    if len(lines) > max_positions:
        raise ValueError(f"That is {len(lines)} positions; the batch example takes 1 to {max_positions}.")
    rows, targets = [], []
    for number, line in enumerate(lines, start=1):
        logits_text, arrow, target_text = line.partition("->")
        if not arrow:
            raise ValueError(f"Line {number} has no '->': write the logits, then '->' and the index of the correct token.")
        try:
            rows.append(parse_logits(logits_text))
        except ValueError as err:
            raise ValueError(f"Line {number}: {err}") from None
        try:
            targets.append(int(target_text.strip()))
        except ValueError:
            raise ValueError(f"Line {number}: the target '{target_text.strip()[:20]}' is not a whole number "
                             "(0 is the first token).") from None
    if len({len(r) for r in rows}) != 1:
        raise ValueError("Every line needs the same number of logits: one logit per vocabulary token.")
    logits = np.stack(rows)
    targets = np.array(targets)
    check_targets(logits, targets)
    return logits, targets


# --- softmax and friends --------------------------------------------------------------------

def as_logits(logits) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim not in (1, 2) or z.shape[-1] < 1:
        raise ValueError(f"logits must be a 1-D vector or a 2-D batch (rows × vocabulary), got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits must be finite numbers (no nan or inf)")
    return z


def _check_temperature(temperature: float) -> float:
    temperature = float(temperature)
    if not temperature >= 0:  # also catches nan
        raise ValueError(f"temperature must be 0 or more, got {temperature}")
    return temperature


def as_scores(scores, axis: int = -1) -> np.ndarray:
    """Scores for a softmax over `axis`, any shape. −∞ is allowed: a masked entry (attention's causal
    mask, a filtered token) gets probability exactly 0. nan, +∞ and an all-−∞ row have no distribution."""
    z = np.asarray(scores, dtype=np.float64)
    if z.ndim < 1 or z.shape[axis] < 1:
        raise ValueError(f"softmax needs at least one score along axis {axis}, got shape {z.shape}")
    if np.isnan(z).any() or np.isposinf(z).any():
        raise ValueError("logits must be finite numbers (no nan or inf; -inf, a masked entry, is the one exception)")
    if not np.isfinite(z).any(axis=axis).all():
        raise ValueError("every row needs at least one finite logit: a row that is all -inf has no distribution")
    return z


def _greedy(z: np.ndarray, axis: int = -1) -> np.ndarray:
    # T -> 0 is the limit "all probability on the largest logit"; ties go to the first, like argmax
    one_hot = np.zeros_like(z)
    np.put_along_axis(one_hot, np.expand_dims(z.argmax(axis=axis), axis), 1.0, axis=axis)
    return one_hot


def softmax(logits, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """Probabilities from logits over `axis` (the last by default: row by row); temperature 0 -> one-hot argmax.

    Subtracting the largest logit first changes nothing mathematically (exp(-max) cancels) but keeps
    every exponent <= 0, so exp never overflows: the "max trick". Dividing by T after the shift
    means a small temperature cannot overflow either. A −∞ logit becomes exactly 0 (exp(−∞) = 0):
    this is also the softmax of attention's masked scores (core.attention).
    """
    z = as_scores(logits, axis)
    temperature = _check_temperature(temperature)
    if temperature == 0:
        return _greedy(z, axis)
    e = np.exp((z - z.max(axis=axis, keepdims=True)) / temperature)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(logits, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """log p, computed as shifted - log(sum exp(shifted)) so tiny probabilities keep their digits.

    Temperature 0 gives 0 for the argmax and -inf elsewhere (the log of a one-hot vector).
    """
    z = as_scores(logits, axis)
    temperature = _check_temperature(temperature)
    if temperature == 0:
        with np.errstate(divide="ignore"):
            return np.log(_greedy(z, axis))
    shifted = (z - z.max(axis=axis, keepdims=True)) / temperature
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def naive_softmax(logits) -> np.ndarray:
    """exp(z) / sum(exp(z)) exactly as written in a textbook: overflows to inf/inf = nan for z ≈ 1000.

    Only here to show why the max trick exists. NumPy's overflow warnings are silenced because the
    nan *is* the demonstration.
    """
    z = np.asarray(logits, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)


def entropy(probs, axis: int = -1) -> np.ndarray | float:
    """-sum p ln p over `axis` in nats (0 ln 0 counts as 0: masked and saturated entries): 0 when
    certain, ln V when uniform over V tokens. One number for one distribution, an array for rows."""
    p = np.asarray(probs, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    h = terms.sum(axis=axis)
    return float(h) if h.ndim == 0 else h


def entropy_curve(logits, temperatures) -> np.ndarray:
    """Entropy of softmax(logits / T) for each T: how temperature moves from greedy to uniform."""
    return np.array([entropy(softmax(logits, t)) for t in temperatures])


# --- cross-entropy --------------------------------------------------------------------------

def check_targets(logits: np.ndarray, targets: np.ndarray) -> None:
    vocab = logits.shape[-1]
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"need one target per position: logits {logits.shape}, targets {targets.shape}")
    if targets.size and (targets.min() < 0 or targets.max() >= vocab):
        raise ValueError(f"a target must be a token index from 0 to {vocab - 1} (the vocabulary has {vocab} tokens)")


def _logits_and_targets(logits, target) -> tuple[np.ndarray, np.ndarray]:
    z = as_logits(logits)
    t = np.asarray(target)
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"targets must be whole token indices, got {target!r}")
    check_targets(z, t)
    return np.atleast_2d(z), np.atleast_1d(t)


def cross_entropy(logits, target) -> float:
    """Mean of -log softmax(logits)[target] over positions, like torch.nn.functional.cross_entropy.

    logits: (V,) with an int target, or (N, V) with N int targets.
    """
    z, t = _logits_and_targets(logits, target)
    return float(-log_softmax(z)[np.arange(len(t)), t].mean())


def cross_entropy_per_position(logits, targets) -> np.ndarray:
    z, t = _logits_and_targets(logits, targets)
    return -log_softmax(z)[np.arange(len(t)), t]


def cross_entropy_gradient(logits, target) -> np.ndarray:
    """d loss / d logits = (softmax - one-hot) / N: up for the target, down for every other token."""
    z, t = _logits_and_targets(logits, target)
    grad = softmax(z)
    grad[np.arange(len(t)), t] -= 1.0
    grad /= len(t)
    return grad.reshape(np.shape(logits))


def perplexity(loss: float) -> float:
    """exp(loss): how many equally likely tokens the model is, in effect, choosing between."""
    return math.exp(loss)


def uniform_loss(vocab_size: int) -> float:
    """The loss of a model that spreads probability evenly: -ln(1/V) = ln V."""
    return math.log(vocab_size)


def probability_from_loss(loss: float) -> float:
    """The probability on the correct token that gives this loss: exp(-loss)."""
    return math.exp(-loss)


# --- filters applied after softmax during generation ----------------------------------------

def top_k_filter(probs, k: int) -> np.ndarray:
    """Keep the k most likely tokens (and any tied with the k-th), renormalise; others get 0."""
    p = np.asarray(probs, dtype=np.float64)
    k = int(k)
    if k < 1:
        raise ValueError("top-k needs k >= 1")
    if k >= p.shape[-1]:
        return p / p.sum(axis=-1, keepdims=True)
    kth = -np.sort(-p, axis=-1)[..., k - 1: k]
    kept = np.where(p >= kth, p, 0.0)
    return kept / kept.sum(axis=-1, keepdims=True)


def top_p_filter(probs, top_p: float) -> np.ndarray:
    """Nucleus sampling: keep the smallest set of most likely tokens whose total reaches top_p.

    A token is kept when the probability mass strictly above it (in sorted order) is below top_p,
    so the most likely token always survives. Renormalised over the kept tokens.
    """
    p = np.asarray(probs, dtype=np.float64)
    top_p = float(top_p)
    if not 0 < top_p <= 1:
        raise ValueError("top-p must be in (0, 1]")
    order = np.argsort(-p, axis=-1, kind="stable")
    sorted_p = np.take_along_axis(p, order, axis=-1)
    mass_before = np.cumsum(sorted_p, axis=-1) - sorted_p
    keep_sorted = mass_before < top_p
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    kept = np.where(keep, p, 0.0)
    return kept / kept.sum(axis=-1, keepdims=True)


# --- sampling -------------------------------------------------------------------------------

MAX_SAMPLES = 1_000_000


def sample_counts(probs, n: int, seed: int = 0) -> np.ndarray:
    """How often each token comes up in n draws from probs (a seeded generator: reproducible)."""
    p = np.asarray(probs, dtype=np.float64)
    n = int(n)
    if not 1 <= n <= MAX_SAMPLES:
        raise ValueError(f"the number of draws must be between 1 and {MAX_SAMPLES:,}")
    rng = np.random.default_rng(check_seed(seed))
    # multinomial counts n categorical draws at once; p is renormalised against rounding drift
    return rng.multinomial(n, p / p.sum())


# --- everything a lab shows at once (so the tab only draws) ---------------------------------

def stability_steps(logits) -> dict[str, np.ndarray]:
    """The naive formula and the max trick side by side, intermediate values included."""
    z = np.asarray(logits, dtype=np.float64)
    with np.errstate(over="ignore"):
        exp_naive = np.exp(z)
    shifted = z - z.max()
    exp_shifted = np.exp(shifted)
    return {"logits": z, "exp": exp_naive, "naive": naive_softmax(z), "shifted": shifted, "exp_shifted": exp_shifted,
            "stable": exp_shifted / exp_shifted.sum()}


def loss_curve(points: int = 200, smallest: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """p from `smallest` to 1 and -ln p: the curve every cross-entropy loss sits on."""
    p = np.geomspace(smallest, 1.0, points)
    return p, -np.log(p)


def sample_frequencies(probs, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(counts, counts / n) for n seeded draws: the histogram next to the probabilities."""
    counts = sample_counts(probs, n, seed)
    return counts, counts / int(n)


def logits_with_push(logits, index: int, amount: float) -> np.ndarray:
    """The logits with `amount` added to one of them: how the lab moves the distribution."""
    z = as_logits(logits).copy()
    z[index] += amount
    return z


def torch_cross_entropy(logits, targets) -> float:
    """PyTorch's own F.cross_entropy (float64), shown next to ours so learners see they agree."""
    import torch
    import torch.nn.functional as F

    return F.cross_entropy(torch.as_tensor(np.atleast_2d(logits), dtype=torch.float64),
                           torch.as_tensor(np.atleast_1d(targets))).item()

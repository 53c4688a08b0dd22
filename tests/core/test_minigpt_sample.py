"""Sampling: the filtered distribution against NumPy, seeded determinism, cache == no cache, cropping."""
import numpy as np
import pytest
import torch

from core.minigpt import sample
from core.minigpt.config import GPTConfig
from core.minigpt.model import MiniGPT
from core.minigpt.tokenizer import CharTokenizer

TEXT = "the quick brown fox jumps over the lazy dog. "


def model_and_tokenizer(block_size=8, dtype=torch.float64):
    tok = CharTokenizer.from_text(TEXT)
    torch.manual_seed(0)
    model = MiniGPT(GPTConfig(vocab_size=tok.vocab_size, block_size=block_size, n_layer=2, n_head=2, n_embd=16))
    with torch.no_grad():  # a spread-out distribution so that sampling really samples
        model.wte.weight.mul_(40)
    return model.to(dtype), tok


def numpy_probs(logits, temperature, top_k, top_p):
    z = logits.astype(np.float64) / temperature
    if top_k:
        z = np.where(z >= np.sort(z)[-top_k], z, -np.inf)
    p = np.exp(z - z.max())
    p /= p.sum()
    if top_p < 1:
        order = np.argsort(-p, kind="stable")
        keep, total = [], 0.0
        for i in order:  # add the most likely tokens until their mass reaches top_p
            keep.append(i)
            total += p[i]
            if total >= top_p:
                break
        mask = np.zeros_like(p)
        mask[keep] = 1
        p = p * mask / (p * mask).sum()
    return p


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, None, 1.0), (0.5, None, 1.0), (2.0, 3, 1.0),
                                                     (1.0, None, 0.6), (0.8, 5, 0.9), (1.0, 1, 1.0)])
def test_filtered_distribution_matches_numpy(temperature, top_k, top_p):
    logits = torch.tensor([2.0, -1.0, 0.5, 3.0, 0.0, 1.5, -2.0, 0.7])
    got = sample.next_token_probs(logits, temperature, top_k, top_p).numpy()
    np.testing.assert_allclose(got, numpy_probs(logits.numpy(), temperature, top_k or 0, top_p), atol=1e-12)


def test_temperature_zero_is_greedy():
    logits = torch.tensor([0.1, 2.0, 1.9])
    assert sample.next_token_probs(logits, 0.0).tolist() == [0.0, 1.0, 0.0]
    model, tok = model_and_tokenizer()
    ids = tok.encode("the ")
    greedy = list(sample.generate_ids(model, ids, 12, temperature=0, seed=1))
    again = list(sample.generate_ids(model, ids, 12, temperature=0, seed=99))
    assert greedy == again
    # greedy = argmax of the full forward at every step (block 8 > 4 + 3 tokens, so no cropping here)
    seq = list(ids)
    for token in greedy[:3]:
        assert token == int(model(torch.tensor([seq]))[0][0, -1].argmax())
        seq.append(token)


def test_same_seed_same_text_other_seed_other_text():
    model, tok = model_and_tokenizer()
    run = lambda seed: "".join(sample.generate(model, tok, "the ", 40, temperature=1.0, seed=seed))
    assert run(7) == run(7)
    assert run(7) != run(8)


@pytest.mark.parametrize("settings", [dict(temperature=1.0), dict(temperature=0.7, top_k=5), dict(temperature=1.2, top_p=0.8), dict(temperature=0)])
def test_kv_cache_path_gives_the_same_tokens_as_the_no_cache_path(settings):
    model, tok = model_and_tokenizer(block_size=8)
    ids = tok.encode("the quick brown")  # longer than the context: cropped, then shifted several times
    cached = list(sample.generate_ids(model, ids, 30, seed=3, use_cache=True, **settings))
    plain = list(sample.generate_ids(model, ids, 30, seed=3, use_cache=False, **settings))
    assert cached == plain and len(cached) == 30


def test_context_window_rule():
    assert sample.window_start(8, 0, 8) == 0  # fits
    assert sample.window_start(9, 0, 8) == 5  # overflows: keep the newest half (4 tokens)
    assert sample.window_start(12, 5, 8) == 5
    assert sample.window_start(14, 5, 8) == 10


def test_prompt_longer_than_context_keeps_its_end():
    model, tok = model_and_tokenizer(block_size=8)
    long_prompt = tok.encode("over the lazy dog. the quick")
    a = list(sample.generate_ids(model, long_prompt, 5, temperature=0, use_cache=False))
    b = list(sample.generate_ids(model, long_prompt[-8:], 5, temperature=0, use_cache=False))
    assert a == b


def test_unknown_characters_are_reported():
    model, tok = model_and_tokenizer()
    with pytest.raises(ValueError, match="'Z' '!'"):
        list(sample.generate(model, tok, "the Zebra!", 5))
    ids, unknown = sample.prompt_ids(tok, "the Zebra!", drop_unknown=True)
    assert unknown == ["Z", "!"] and tok.decode(ids) == "the ebra"


@pytest.mark.parametrize("kwargs,message", [
    (dict(max_new_tokens=0), "between 1 and"), (dict(temperature=-1), "Temperature"),
    (dict(top_k=-2), "top-k"), (dict(top_p=0.0), "top-p"), (dict(top_p=1.5), "top-p"),
])
def test_bad_settings_give_clear_messages(kwargs, message):
    model, tok = model_and_tokenizer()
    args = dict(max_new_tokens=5) | kwargs
    with pytest.raises(ValueError, match=message):
        list(sample.generate_ids(model, tok.encode("the"), **args))
    with pytest.raises(ValueError, match="empty"):
        list(sample.generate_ids(model, [], 5))


# ---------- the torch rule (sample.py) and the NumPy one (core/probability.py) agree ----------

from hypothesis import assume, given, settings as hyp_settings, strategies as st  # noqa: E402

from core import probability as P  # noqa: E402

# Half-integer logits in [-10, 10]: ties are exact and distinct logits stay distinct after exp for
# every temperature drawn (no underflow to 0, no two probabilities rounding together).
LOGITS = st.lists(st.integers(-20, 20).map(lambda i: i / 2), min_size=1, max_size=12)
TEMPERATURES = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.05, 5.0))
TOP_K = st.one_of(st.none(), st.integers(1, 15))  # None = off; k >= V keeps everything
TOP_P = st.one_of(st.just(1.0), st.floats(1e-9, 1.0), st.sampled_from([1e-12, 0.5, 0.999999]))


def numpy_rule(logits, temperature, top_k, top_p):
    probs = P.softmax(logits, temperature)
    if top_k:
        probs = P.top_k_filter(probs, top_k)
    return probs if top_p >= 1 else P.top_p_filter(probs, top_p)


def at_the_nucleus_edge(probs, top_p):
    """True when some token's 'mass before it' is within rounding of top_p: there the two sums may round
    either way, and keeping or dropping that token are both right."""
    order = np.argsort(-probs, kind="stable")
    before = np.cumsum(probs[order]) - probs[order]
    return top_p < 1 and bool(np.any(np.abs(before - top_p) < 1e-9))


@hyp_settings(max_examples=300, deadline=None)
@given(LOGITS, TEMPERATURES, TOP_K, TOP_P)
def test_sampling_rule_agrees_with_core_probability(logits, temperature, top_k, top_p):
    expected = numpy_rule(logits, temperature, top_k, top_p)
    if temperature > 0:
        after_k = P.top_k_filter(P.softmax(logits, temperature), top_k) if top_k else P.softmax(logits, temperature)
        assume(not at_the_nucleus_edge(after_k, top_p))
    got = sample.next_token_probs(torch.tensor(logits, dtype=torch.float64), temperature, top_k, top_p).numpy()
    assert ((got > 0) == (expected > 0)).all(), (got, expected)  # the same tokens survive, ties included
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-300)
    assert got.sum() == pytest.approx(1.0, abs=1e-12)


def test_ties_at_the_edge_keep_the_same_tokens_in_both():
    flat = [1.0, 1.0, 1.0, 1.0, 0.0]
    for top_k, top_p in [(2, 1.0), (None, 0.5), (3, 0.4), (None, 1e-12)]:
        got = sample.next_token_probs(torch.tensor(flat), 1.0, top_k, top_p).numpy()
        expected = numpy_rule(flat, 1.0, top_k, top_p)
        assert ((got > 0) == (expected > 0)).all() and np.allclose(got, expected, rtol=1e-12)
    # top-k keeps every token tied with the k-th; top-p keeps the first of the tied ones it needs
    assert (sample.next_token_probs(torch.tensor(flat), 1.0, 2, 1.0).numpy() > 0).tolist() == [True] * 4 + [False]
    assert (sample.next_token_probs(torch.tensor(flat), 1.0, None, 0.3).numpy() > 0).tolist() == [True, True] + [False] * 3

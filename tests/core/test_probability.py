"""core.probability against PyTorch in float64 on random inputs (hypothesis), plus input checks."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core import probability as P

finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)
vectors = st.integers(2, 50).flatmap(lambda v: arrays(np.float64, v, elements=finite))
batches = st.tuples(st.integers(1, 8), st.integers(2, 20)).flatmap(lambda s: arrays(np.float64, s, elements=finite))
# logits on a grid of quarters: distinct logits give clearly distinct probabilities
distinct_vectors = st.lists(st.integers(-80, 80), min_size=2, max_size=50, unique=True).map(lambda v: np.array(v) / 4.0)
temperatures = st.floats(0.05, 5.0)
FAST = settings(max_examples=60, deadline=None)


def t64(x):
    return torch.tensor(np.asarray(x), dtype=torch.float64)


@FAST
@given(vectors, temperatures)
def test_softmax_and_log_softmax_match_torch(z, temperature):
    scaled = t64(z) / temperature
    np.testing.assert_allclose(P.softmax(z, temperature), torch.softmax(scaled, -1).numpy(), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(P.log_softmax(z, temperature), torch.log_softmax(scaled, -1).numpy(), rtol=1e-12, atol=1e-12)


@FAST
@given(batches)
def test_softmax_of_a_batch_is_row_by_row(z):
    p = P.softmax(z)
    np.testing.assert_allclose(p, torch.softmax(t64(z), -1).numpy(), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)


def test_notebook_api_accepts_lists_and_returns_numpy():
    p = P.softmax([2.0, 1.0, 0.1])
    assert isinstance(p, np.ndarray) and p.dtype == np.float64
    # the lesson's table (2.0, 1.0, 0.1) at T = 0.5, 1, 2
    for temperature in (0.5, 1.0, 2.0):
        np.testing.assert_allclose(P.softmax([[2.0, 1.0, 0.1]], temperature)[0],
                                   torch.softmax(t64([2.0, 1.0, 0.1]) / temperature, -1).numpy(), rtol=1e-12)


def test_temperature_zero_is_one_hot_on_argmax():
    z = [[0.5, 3.0, 3.0, -1.0], [2.0, 0.0, 1.0, 1.9]]
    expected = F.one_hot(t64(z).argmax(-1), 4).double().numpy()  # ties: first index, like torch.argmax
    np.testing.assert_array_equal(P.softmax(z, 0), expected)
    assert np.array_equal(P.log_softmax(z, 0) == 0, expected == 1)
    assert np.all(np.isneginf(P.log_softmax(z, 0)[expected == 0]))
    assert P.entropy(P.softmax(z[0], 0)) == 0.0


def test_softmax_refuses_a_negative_temperature_and_nan():
    with pytest.raises(ValueError, match="temperature"):
        P.softmax([1.0, 2.0], -1)
    with pytest.raises(ValueError, match="finite"):
        P.softmax([1.0, float("nan")])


def test_one_softmax_for_any_axis_and_masked_scores():
    """The softmax attention uses (masked −∞ scores, 3-D and 4-D stacks, any axis) is this one, and equals torch."""
    from core import attention

    assert attention.softmax is P.softmax and attention.entropy is P.entropy
    rng = np.random.default_rng(0)
    scores = np.where(np.tril(np.ones((5, 5), dtype=bool)), rng.standard_normal((2, 3, 5, 5)) * 4, -np.inf)
    for axis in (-1, 0, 2):
        masked = scores if axis == -1 else rng.standard_normal((2, 3, 5, 5))
        expected = torch.softmax(t64(masked), dim=axis).numpy()
        np.testing.assert_allclose(P.softmax(masked, axis=axis), expected, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(P.log_softmax(masked, 0.7, axis=axis), torch.log_softmax(t64(masked) / 0.7, dim=axis).numpy(),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(P.entropy(P.softmax(masked, axis=axis), axis=axis),
                                   torch.special.entr(t64(expected)).sum(axis).numpy(), rtol=1e-12, atol=1e-15)
    assert np.all(P.softmax(scores)[np.isneginf(scores)] == 0)  # a masked score gets exactly 0
    np.testing.assert_array_equal(P.softmax([[1.0, 5.0], [7.0, 2.0]], 0, axis=0), [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="all -inf"):
        P.softmax([[0.0, 1.0], [-np.inf, -np.inf]])
    with pytest.raises(ValueError, match="finite"):
        P.softmax([1.0, np.inf])
    with pytest.raises(ValueError, match="finite"):
        P.cross_entropy([1.0, -np.inf], 0)  # the loss keeps its strict check: -inf at the target is an infinite loss


def test_max_trick_where_the_naive_formula_overflows():
    z = [1000.0, 1001.0, 1002.0]
    assert np.all(np.isnan(P.naive_softmax(z)))
    np.testing.assert_allclose(P.softmax(z), torch.softmax(t64(z), -1).numpy(), rtol=1e-12)
    # for small logits the naive formula is right: it is the same function
    np.testing.assert_allclose(P.naive_softmax([2.0, 1.0, 0.1]), P.softmax([2.0, 1.0, 0.1]), rtol=1e-12)


@FAST
@given(vectors, temperatures)
def test_entropy_matches_torch_categorical(z, temperature):
    p = P.softmax(z, temperature)
    expected = torch.distributions.Categorical(logits=t64(z) / temperature).entropy().item()
    assert P.entropy(p) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert 0 <= P.entropy(p) <= math.log(len(z)) + 1e-12


def test_entropy_curve_runs_from_greedy_to_uniform():
    z = [2.0, 1.0, 0.1]
    curve = P.entropy_curve(z, [0.0, 1.0, 1000.0])
    assert curve[0] == 0 and curve[2] == pytest.approx(math.log(3), rel=1e-5)
    assert curve[1] == pytest.approx(torch.distributions.Categorical(logits=t64(z)).entropy().item(), rel=1e-12)


@FAST
@given(batches, st.data())
def test_cross_entropy_and_its_gradient_match_autograd(z, data):
    n, v = z.shape
    targets = np.array(data.draw(st.lists(st.integers(0, v - 1), min_size=n, max_size=n)))
    logits = t64(z).requires_grad_()
    loss = F.cross_entropy(logits, torch.tensor(targets))
    loss.backward()
    assert P.cross_entropy(z, targets) == pytest.approx(loss.item(), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(P.cross_entropy_gradient(z, targets), logits.grad.numpy(), rtol=1e-10, atol=1e-15)
    per_position = F.cross_entropy(t64(z), torch.tensor(targets), reduction="none").numpy()
    np.testing.assert_allclose(P.cross_entropy_per_position(z, targets), per_position, rtol=1e-12, atol=1e-12)


@FAST
@given(vectors, st.data())
def test_cross_entropy_of_one_position(z, data):
    target = data.draw(st.integers(0, len(z) - 1))
    logits = t64(z).requires_grad_()
    loss = F.cross_entropy(logits[None], torch.tensor([target]))
    loss.backward()
    assert isinstance(P.cross_entropy(z, target), float)
    assert P.cross_entropy(z, target) == pytest.approx(loss.item(), rel=1e-12, abs=1e-12)
    grad = P.cross_entropy_gradient(z, target)
    assert grad.shape == z.shape
    np.testing.assert_allclose(grad, logits.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_cross_entropy_rejects_targets_outside_the_vocabulary():
    with pytest.raises(ValueError, match="0 to 2"):
        P.cross_entropy([1.0, 2.0, 3.0], 3)
    with pytest.raises(ValueError, match="one target per position"):
        P.cross_entropy([[1.0, 2.0]], [0, 1])
    with pytest.raises(ValueError, match="whole"):
        P.cross_entropy([1.0, 2.0], 0.5)


def test_loss_numbers_of_the_lesson():
    assert P.uniform_loss(65) == pytest.approx(-torch.log(torch.tensor(1 / 65, dtype=torch.float64)).item())
    uniform = np.zeros(65)
    assert P.cross_entropy(uniform, 7) == pytest.approx(P.uniform_loss(65), rel=1e-12)
    assert P.probability_from_loss(0.09) == pytest.approx(torch.exp(torch.tensor(-0.09, dtype=torch.float64)).item())
    assert P.perplexity(P.uniform_loss(65)) == pytest.approx(65.0)


def _hf_filtered(probs, warper):
    scores = torch.log(t64(probs))[None]
    return torch.softmax(warper(None, scores), -1)[0].numpy()


@FAST
@given(vectors, st.data())
def test_top_k_matches_hugging_face(z, data):
    from transformers.generation.logits_process import TopKLogitsWarper

    k = data.draw(st.integers(1, len(z)))
    probs = P.softmax(z)
    np.testing.assert_allclose(P.top_k_filter(probs, k), _hf_filtered(probs, TopKLogitsWarper(k)), rtol=1e-10, atol=1e-300)


@FAST
@given(distinct_vectors, st.floats(0.01, 1.0))
def test_top_p_matches_hugging_face(z, top_p):
    from transformers.generation.logits_process import TopPLogitsWarper

    probs = P.softmax(z)
    # away from an exact boundary, where summation order decides a token either way
    sorted_probs = np.sort(probs)[::-1]
    assume(np.all(np.abs(np.cumsum(sorted_probs) - sorted_probs - top_p) > 1e-9))
    expected = _hf_filtered(probs, TopPLogitsWarper(top_p))
    np.testing.assert_allclose(P.top_p_filter(probs, top_p), expected, rtol=1e-10, atol=1e-300)


def test_filters_keep_at_least_the_top_token():
    probs = P.softmax([5.0, 1.0, 0.0])
    np.testing.assert_array_equal(P.top_p_filter(probs, 0.01) > 0, [True, False, False])
    np.testing.assert_allclose(P.top_k_filter(probs, 10), probs)


def test_sampling_is_reproducible_and_follows_the_probabilities():
    probs = P.softmax([2.0, 1.0, 0.1, -1.0])
    counts = P.sample_counts(probs, 200_000, seed=3)
    assert counts.sum() == 200_000
    np.testing.assert_array_equal(counts, P.sample_counts(probs, 200_000, seed=3))
    assert not np.array_equal(counts, P.sample_counts(probs, 200_000, seed=4))
    # binomial standard error per token; 5 sigma cannot fail by chance in practice
    sigma = np.sqrt(probs * (1 - probs) / 200_000)
    assert np.all(np.abs(counts / 200_000 - probs) < 5 * sigma)
    # greedy: every draw is the argmax
    assert P.sample_counts(P.softmax([1.0, 3.0], 0), 50).tolist() == [0, 50]


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("   ", "empty"),
    ("1, two, 3", "'two' is not a number"),
    ("1, nan", "not a finite number"),
    ("inf, 1", "not a finite number"),
    ("3", "at least 2"),
    (", ".join(["1"] * 51), "51 logits"),
    ("1," * 10 ** 6, "characters"),
    ("1e9, 0", "too large"),
])
def test_parse_logits_explains_bad_input(text, message):
    with pytest.raises(ValueError, match=message):
        P.parse_logits(text)


def test_parse_logits_and_labels():
    np.testing.assert_array_equal(P.parse_logits(" 2.0, 1 ;-0.5  3e-1"), [2.0, 1.0, -0.5, 0.3])
    assert P.parse_labels("", 3) == ["token 1", "token 2", "token 3"]
    assert P.parse_labels(" mat, sofa ,moon", 3) == ["mat", "sofa", "moon"]
    for text, message in [("a, b", "3 logits but 2 labels"), ("a, a, b", "same"), ("a, , b", "empty")]:
        with pytest.raises(ValueError, match=message):
            P.parse_labels(text, 3)


def test_parsers_refuse_oversized_input_before_splitting():
    import time

    start = time.perf_counter()
    with pytest.raises(ValueError, match="10,000,000 characters; the lab takes 2 to 50 logits"):
        P.parse_logits("1," * 5_000_000)
    with pytest.raises(ValueError, match="characters; the batch example takes 1 to 16 lines of at most 50 logits"):
        P.parse_batch("1, 2 -> 0\n" * 1_000_000)
    with pytest.raises(ValueError, match="labels are too long"):
        P.parse_labels("a," * 5_000_000, 3)
    assert time.perf_counter() - start < 0.5
    with pytest.raises(ValueError, match="17 positions; the batch example takes 1 to 16"):
        P.parse_batch("1, 2 -> 0\n" * (P.MAX_POSITIONS + 1))
    assert P.parse_batch("1, 2 -> 0\n" * P.MAX_POSITIONS)[0].shape == (16, 2)
    assert len(P.parse_logits(", ".join(["-1234.5678"] * P.MAX_LOGITS))) == 50  # the longest ordinary input passes
    assert len(P.parse_labels(",".join(f"{'w' * 22}{i:02d}" for i in range(P.MAX_LOGITS)), P.MAX_LOGITS)) == 50
    with pytest.raises(ValueError, match="between 1 and 1,000,000"):
        P.sample_counts([0.5, 0.5], P.MAX_SAMPLES + 1)


def test_parse_batch():
    logits, targets = P.parse_batch("2, 1, 0.1 -> 0\n\n0, 3, 1 -> 1\n")
    np.testing.assert_array_equal(logits, [[2, 1, 0.1], [0, 3, 1]])
    np.testing.assert_array_equal(targets, [0, 1])
    for text, message in [("2, 1 -> 5", "0 to 1"), ("2, 1", "no '->'"), ("2, 1 -> 0\n1, 2, 3 -> 0", "same number"),
                          ("2, 1 -> x", "whole number"), ("a, 1 -> 0", "Line 1"), ("", "empty")]:
        with pytest.raises(ValueError, match=message):
            P.parse_batch(text)


def test_lab_helpers():
    steps = P.stability_steps([1000.0, 1001.0, 1002.0])
    assert np.all(np.isinf(steps["exp"])) and np.all(np.isnan(steps["naive"]))
    np.testing.assert_array_equal(steps["shifted"], [-2.0, -1.0, 0.0])
    np.testing.assert_allclose(steps["stable"], torch.softmax(t64([1000.0, 1001.0, 1002.0]), -1).numpy(), rtol=1e-12)
    p, loss = P.loss_curve(50)
    assert p[0] == pytest.approx(1e-3) and p[-1] == 1.0
    np.testing.assert_allclose(loss, -torch.log(t64(p)).numpy(), rtol=1e-12)
    counts, freqs = P.sample_frequencies([0.5, 0.5], 10, seed=1)
    np.testing.assert_array_equal(freqs, counts / 10)
    np.testing.assert_array_equal(P.logits_with_push([1.0, 2.0], 1, -0.5), [1.0, 1.5])
    z, targets = np.array([[2.0, 1.0, 0.1], [0.0, 1.0, 5.0]]), np.array([2, 0])
    assert P.torch_cross_entropy(z, targets) == pytest.approx(P.cross_entropy(z, targets), rel=1e-12)

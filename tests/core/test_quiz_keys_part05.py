"""Part 5's keys against independent computations: NumPy's random scores, torch's softmax, SDPA and MultiheadAttention."""
import math

import numpy as np
import torch
import torch.nn.functional as F

from core.quizzes import part05, quiz_for


def key(index: int) -> str:
    question = quiz_for("part05").questions[index]
    return question.choices[question.answer]


def test_scores_spread_like_the_square_root_of_d_k():
    rng = np.random.default_rng(1)
    d = part05.HEAD_WIDTH
    scores = np.einsum("nd,nd->n", rng.standard_normal((200_000, d)), rng.standard_normal((200_000, d)))
    assert abs(scores.std() - math.sqrt(d)) < 0.05 * math.sqrt(d)
    assert key(0).startswith(f"about {math.sqrt(d):g} (√{d})")
    assert F.softmax(torch.tensor([8.0, 0.0], dtype=torch.float64), 0)[0].item() > 0.9996  # nearly one-hot


def test_the_mask_is_minus_infinity_not_zero():
    scores = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    masked = F.softmax(scores.masked_fill(torch.tensor([False, False, True]), float("-inf")), 0)
    zeroed = F.softmax(scores.masked_fill(torch.tensor([False, False, True]), 0.0), 0)
    assert masked[2].item() == 0.0 and zeroed[2].item() > 0
    assert key(1).startswith("Sets it to −∞")


def test_a_causal_map_adds_up_to_its_number_of_tokens():
    T = part05.MAP_TOKENS
    q, k = torch.randn(T, 16, dtype=torch.float64), torch.randn(T, 16, dtype=torch.float64)
    weights = F.scaled_dot_product_attention(q, k, torch.eye(T, dtype=torch.float64), is_causal=True)  # V = I: the weights
    assert math.isclose(weights.sum().item(), T) and math.isclose(part05.map_total(), T)
    assert key(2) == f"{T}: each row sums to 1"


def test_swapping_two_inputs_swaps_the_same_two_outputs():
    torch.manual_seed(0)
    attn = torch.nn.MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64)
    x = torch.randn(1, 6, 8, dtype=torch.float64)
    swap = [0, 4, 2, 3, 1, 5]
    out, _ = attn(x, x, x, need_weights=False)
    swapped, _ = attn(x[:, swap], x[:, swap], x[:, swap], need_weights=False)
    torch.testing.assert_close(swapped, out[:, swap])
    assert not torch.allclose(swapped, out)
    assert key(3).startswith("The same two output rows swap")


def test_heads_split_the_width_for_no_extra_weights():
    counts = [sum(p.numel() for p in torch.nn.MultiheadAttention(part05.WIDTH, h, bias=False).parameters())
              for h in (1, part05.HEADS)]
    assert counts == [part05.projection_weights()] * 2
    assert f"the same {counts[0]:,} weights" in key(4)

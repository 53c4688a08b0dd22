"""Part 5's check: attention. Numbers come from core.attention or are computed here, never typed."""
from __future__ import annotations

import math

from core import attention
from core.quiz import Question, Quiz

HEAD_WIDTH = 64  # d_k of the scaling question
MAP_TOKENS = 10  # the causal map whose weights are summed
WIDTH, HEADS = 128, 4  # the multi-head question's d and h


def _scaling() -> Question:
    spread = math.sqrt(HEAD_WIDTH)  # a sum of d_k unit-variance products has variance d_k
    return Question(
        prompt=(f"The entries of q and k have mean 0 and variance 1, and d_k = {HEAD_WIDTH}. How widely do the raw scores "
                "q·k spread (their standard deviation), and so why divide them by √d_k?"),
        choices=(f"about {HEAD_WIDTH}: the scores would overflow exp",
                 f"about {spread:g} (√{HEAD_WIDTH}): softmax of scores that far apart is nearly one-hot",
                 "about 1: dividing only makes the numbers smaller",
                 f"about {1 / spread:g} (1/√{HEAD_WIDTH}): the scores would all be 0"),
        answer=1,
        explanation=(f"q·k adds up d_k = {HEAD_WIDTH} products, each of variance 1: variance {HEAD_WIDTH}, spread "
                     f"√{HEAD_WIDTH} = {spread:g}. Softmax of (8, 0) gives the first 0.9997, its gradient is almost 0 "
                     "and learning stalls. Divided by √d_k the spread is 1 again, whatever d_k."))


def _mask() -> Question:
    return Question(
        prompt="What does the causal mask do to the score of a later token, before the softmax?",
        choices=("Sets it to 0, so that token's weight is exactly 0",
                 "Sets its weight to −∞ after the softmax",
                 "Sets it to −∞, so that token's weight is exactly 0",
                 "Divides it by √d_k"),
        answer=2,
        explanation=("exp(−∞) = 0, so a future token gets no weight and the row's weight is shared among the tokens up to "
                     "the query: the map is lower-triangular. A score of 0 would not do it: exp(0) = 1, a weight like any other."))


def map_total(n_tokens: int = MAP_TOKENS) -> float:
    """All the weights of one causal attention map over n_tokens, added up (core's attention on random inputs)."""
    tokens = [str(i) for i in range(n_tokens)]
    x, w = attention.random_inputs(tokens, d_model=8, seed=0)
    return float(attention.attention_steps(x, **w)["weights"].sum())


def _row_sums() -> Question:
    total = round(map_total())
    cells = int(attention.causal_mask(MAP_TOKENS).sum())  # the cells on and below the diagonal
    return Question(
        prompt=f"A causal attention map covers {MAP_TOKENS} tokens. What do all of its weights add up to?",
        choices=("1: the whole map is one distribution", f"{cells}: one per cell on or below the diagonal",
                 f"{MAP_TOKENS ** 2}: one per cell", f"{total}: each row sums to 1"),
        answer=3,
        explanation=(f"Each row is one query's softmax, a probability distribution over the keys it may see: it sums to 1. "
                     f"{MAP_TOKENS} rows give {total}, however the weight is spread. That is why a head with nothing useful "
                     "to read parks its weight somewhere, often on the first token."))


def _order() -> Question:
    return Question(
        prompt=("No mask and no position embeddings: you swap two words of the input. What happens to the attention "
                "output?"),
        choices=("Every output row changes",
                 "The same two output rows swap; nothing else changes",
                 "Nothing changes at all",
                 "The two swapped words' outputs become 0"),
        answer=1,
        explanation=("Each output is a weighted sum over all tokens, and a sum does not care about order: attention alone "
                     "cannot see where a word stands. That is why a model adds position vectors to the embeddings "
                     "(GPT-2, MiniGPT) or rotates queries and keys by their positions (RoPE)."))


def projection_weights(width: int = WIDTH) -> int:
    """W_q, W_k, W_v and W_o, each d × d: 4·d² numbers, whatever the number of heads."""
    return 4 * width * width


def _heads() -> Question:
    n = projection_weights()
    return Question(
        prompt=f"Split d = {WIDTH} into {HEADS} heads of d_k = {WIDTH // HEADS}. What does that give, compared with one head?",
        choices=(f"{HEADS} attention patterns instead of 1, with the same {n:,} weights",
                 f"{HEADS} attention patterns, with {HEADS}× the weights ({HEADS * n:,})",
                 "1 attention pattern, computed in a quarter of the time",
                 f"{HEADS} attention patterns, each over a quarter of the tokens"),
        answer=0,
        explanation=(f"Every head sees every token, with its own T × T map on its own {WIDTH // HEADS} columns of Q, K and V: "
                     "one can copy the previous character while another looks for the start of the word. The heads only "
                     f"split the columns, so W_q, W_k, W_v and W_o still hold 4·{WIDTH}² = {n:,} numbers."))


QUIZ = Quiz("attention", (_scaling(), _mask(), _row_sums(), _order(), _heads()))

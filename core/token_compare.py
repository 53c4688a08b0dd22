"""The same text cut three ways: characters, your BPE, OpenAI's tiktoken encodings.

Why a token count matters: a model reads a fixed number of tokens at once (its context length)
and APIs charge per token, so a tokenizer that needs more tokens for the same text fits less of it
in the context and costs more.
"""
from __future__ import annotations

from dataclasses import dataclass

from core import text_input, tiktoken_offline
from core.bpe import Tokenizer

BUILTIN_CORPUS = text_input.BUILTIN_CORPUS  # the one path of the built-in corpus
# One comparison is read token by token on a page: 20,000 characters is already several thousand
# coloured tokens per tokenizer (the tab's compare box has the same bound).
MAX_COMPARE_CHARS = 20_000

# Texts where tokenizers differ, and what to look for in each.
EXAMPLES = {
    "Numbers": ("Order 12345 costs $1,299.99 — that is 3.14159 times 413 or 2026-11-25.",
                "GPT-4's tokenizers cut digits into groups of at most three; GPT-2's merged whatever digit runs "
                "were frequent, so 1299 and 12345 split unpredictably. A small BPE has seen few numbers."),
    "Whitespace & code": ("def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n    if a > b:\n        return a + b\n    return b + a\n\n\nprint(add(2, 3))\n",
                          "Indentation is runs of spaces: cl100k and o200k have tokens for long space runs, "
                          "GPT-2 spends one token per space or two."),
    "Non-English": ("Der Kühlschrank ist leer. Le café est très bon. 東京は日本の首都です。Москва — столица России.",
                    "Tokenizers trained mostly on English split other languages into more, shorter pieces: "
                    "the same meaning costs more tokens. o200k was trained on more languages than cl100k."),
    "Emoji": ("I love it 😍🎉👍🏽! The flag 🇫🇷 and the family 👨‍👩‍👧 are several code points each.",
              "An emoji is 4 bytes of UTF-8 (some are several code points joined): a byte-level BPE that has "
              "not learned them needs 4 or more tokens for one emoji."),
    "English prose": ("The quick brown fox jumps over the lazy dog. Tokenizers love common English words.",
                      "Common English words are single tokens in every large vocabulary, usually with their "
                      "leading space."),
}


@dataclass
class TokenView:
    name: str
    ids: list[int]
    pieces: list[str]  # readable text of each token
    characters: int  # of the text that was cut
    n_bytes: int

    @property
    def tokens(self) -> int:
        return len(self.ids)

    @property
    def chars_per_token(self) -> float:
        return self.characters / self.tokens if self.tokens else 0.0

    @property
    def bytes_per_token(self) -> float:
        return self.n_bytes / self.tokens if self.tokens else 0.0


def check_text(text: str, max_chars: int = MAX_COMPARE_CHARS) -> str:
    """The text to cut, refused before any work when it is not text or too long to compare."""
    if not isinstance(text, str):
        raise ValueError("Type or pick some text to compare.")
    if len(text) > max_chars:
        raise ValueError(f"The text has {len(text):,} characters; compare at most {max_chars:,} at once.")
    return text


def _size(text: str) -> tuple[int, int]:
    return len(text), len(text.encode("utf-8", errors="surrogatepass"))


def by_characters(text: str) -> TokenView:
    """One token per Unicode code point (what a character-level model such as MiniGPT reads)."""
    check_text(text)
    return TokenView("characters", [ord(c) for c in text], list(text), *_size(text))


def by_bpe(text: str, tokenizer: Tokenizer, name: str = "your BPE") -> TokenView:
    ids = tokenizer.encode(check_text(text))
    return TokenView(name, ids, [tokenizer.token_text(i) for i in ids], *_size(text))


def by_tiktoken(text: str, encoding_name: str) -> TokenView:
    """An official encoding; special-token strings in the text count as plain text."""
    check_text(text)
    encoding = tiktoken_offline.get_encoding(encoding_name)
    ids = encoding.encode(text, disallowed_special=())
    return TokenView(encoding_name, ids, tiktoken_offline.token_pieces(encoding, ids), *_size(text))


def usage(tokens: int, context_length: int, price_per_million: float) -> tuple[float, float]:
    """(share of the context window the text fills, cost in dollars of sending it 1,000 times)."""
    if context_length <= 0 or price_per_million < 0:
        raise ValueError("The context length must be positive and the price not negative.")
    return tokens / context_length, tokens * 1000 * price_per_million / 1_000_000

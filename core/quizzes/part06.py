"""Part 6's check: byte-level BPE and tiktoken. Numbers come from core.bpe and tiktoken, never typed."""
from __future__ import annotations

from core import tiktoken_offline
from core.bpe import Tokenizer, Trainer
from core.quiz import Question, Quiz

EMOJI = "😍"
MERGE_TEXT = "the cat and the hat sat on the mat"  # the merge question's training text
HELLO = ("Hello", " Hello", "hello")
ENGLISH, CHINESE = "The weather is nice today.", "今天天气很好。"  # the same sentence
GPT4, GPT4O, GPT2 = "cl100k_base", "o200k_base", "r50k_base"


def _no_unknown() -> Question:
    ids = Tokenizer([]).encode(EMOJI)  # the 256 bytes, no merge learned
    return Question(
        prompt=f"A byte-level BPE tokenizer trained only on English text meets “{EMOJI}”, which it never saw. What happens?",
        choices=("It becomes one <unk> (unknown) token",
                 f"It becomes its {len(ids)} UTF-8 bytes, each a token of the 256-byte base vocabulary",
                 "Encoding fails: the character is not in the vocabulary", "The character is dropped"),
        answer=1,
        explanation=(f"Every text is UTF-8 bytes first, and all 256 byte values are in the vocabulary before any merge: "
                     f"{EMOJI} is bytes {ids}, so with no merge for it, it is those {len(ids)} tokens. Nothing is ever "
                     "unknown, and decoding them gives the emoji back."))


def first_merge(text: str = MERGE_TEXT):
    """The first merge on `text` (no pre-split): its step and the text's length in bytes."""
    trainer = Trainer(text)
    return trainer.step(), trainer.n_bytes


def _one_merge() -> Question:
    step, n_bytes = first_merge()
    pair = step.token.decode()
    return Question(
        prompt=(f"Training on “{MERGE_TEXT}” ({n_bytes} bytes, vocabulary 256), the first merge joins the most frequent "
                f"pair, '{pair}', which occurs {step.count} times. After that merge?"),
        choices=(f"vocabulary {step.new_id + 1}, text {n_bytes - 1} tokens",
                 f"vocabulary {step.new_id + 2}, text {n_bytes - 2 * step.count} tokens",
                 f"vocabulary {step.new_id + 1}, text {step.length} tokens",
                 f"vocabulary 256, text {n_bytes - step.count} tokens (the pair replaces a byte)"),
        answer=2,
        explanation=(f"A merge adds exactly one token ('{pair}' = id {step.new_id}), so the vocabulary grows by one. "
                     f"Each of the {step.count} occurrences of the pair becomes one token instead of two, so the text "
                     f"gets {step.count} tokens shorter: {n_bytes} → {step.length}."))


def hello_ids() -> dict[str, list[int]]:
    encoding = tiktoken_offline.get_encoding(GPT4)
    return {text: encoding.encode(text) for text in HELLO}


def _leading_space() -> Question:
    ids = hello_ids()
    return Question(
        prompt=(f"In {GPT4} (GPT-4), “Hello” is token {ids['Hello'][0]} and “ Hello” (with a space in front) is token "
                f"{ids[' Hello'][0]}. Why two different tokens?"),
        choices=("The pre-split keeps the space before a word with the word, so ' Hello' was learned as a token of its own",
                 "The space is a special token that tiktoken hides in the id",
                 "tiktoken gives the first word of a text a different id",
                 "One of them is a typo in the vocabulary"),
        answer=0,
        explanation=("GPT's pre-split pattern matches ` ?\\p{L}+`: a word with the space before it. In running text most "
                     "words come after a space, so BPE learned ' Hello' as one token; 'Hello' at the start of a text is "
                     f"another byte string, so another token (and 'hello' is a third, {ids['hello'][0]}). That is why "
                     "tokens usually start with a space."))


def sentence_tokens() -> dict[str, dict[str, int]]:
    """Tokens of the English and the Chinese sentence in GPT-4's and GPT-4o's encodings."""
    return {name: {text: len(tiktoken_offline.get_encoding(name).encode(text)) for text in (ENGLISH, CHINESE)}
            for name in (GPT4, GPT4O)}


def _non_english() -> Question:
    counts = sentence_tokens()
    n, english = counts[GPT4][CHINESE], counts[GPT4][ENGLISH]
    n_bytes = len(CHINESE.encode())
    return Question(
        prompt=(f"In {GPT4}, “{ENGLISH}” takes {english} tokens. How many does the same sentence in Chinese, "
                f"“{CHINESE}” ({len(CHINESE)} characters), take?"),
        choices=("2: Chinese packs more meaning into each token", f"{len(CHINESE)}: one per character",
                 f"{n_bytes}: one per byte", f"{n}: more tokens than characters"),
        answer=3,
        explanation=(f"{n} tokens for {len(CHINESE)} characters ({n_bytes} bytes of UTF-8): {GPT4} was trained mostly on "
                     "English, so it merged few Chinese byte sequences and some characters stay split into byte-level "
                     f"pieces. {GPT4O}, trained on more languages, needs {counts[GPT4O][CHINESE]}. At a price per token "
                     "the same message costs more, and fills more of the context."))


def vocab_sizes() -> dict[str, int]:
    return {name: tiktoken_offline.get_encoding(name).n_vocab for name in (GPT2, GPT4, GPT4O)}


def _vocab_size() -> Question:
    sizes = vocab_sizes()
    return Question(
        prompt=f"GPT-2's vocabulary ({GPT2}) has {sizes[GPT2]:,} tokens. How many does GPT-4's {GPT4} have?",
        choices=(f"{sizes[GPT2] // 2:,}", f"{sizes[GPT4]:,}", f"{sizes[GPT4O]:,}", "about 1,000,000"),
        answer=1,
        explanation=(f"{GPT4} has {sizes[GPT4]:,} ids, {GPT4O} (GPT-4o) {sizes[GPT4O]:,}; GPT-2's {sizes[GPT2]:,} are "
                     "256 bytes + 50,000 merges + <|endoftext|>. A bigger vocabulary makes texts shorter (more text "
                     "per context), but every token needs a row in the embedding and in the output layer."))


# the tiktoken questions are built when a learner reaches them: loading the encodings takes ~1 s, not at start-up
QUIZ = Quiz("BPE tokenization", (_no_unknown(), _one_merge(), _leading_space, _non_english, _vocab_size))

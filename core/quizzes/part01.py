"""Part 1's check: what an LLM is, tokens, embeddings, parameters. Counts come from core.architecture."""
from __future__ import annotations

from core import architecture
from core.quiz import Question, Quiz


def gpt2_small_total() -> int:
    return architecture.breakdown(architecture.preset("gpt2"))["total"]


def _gpt2_size() -> Question:
    total = gpt2_small_total()
    millions = total / 1e6
    return Question(
        prompt="About how many parameters does GPT-2 small have (12 layers, width 768, a 50,257-token vocabulary)?",
        choices=(f"about {millions:.0f} million", f"about {millions * 10:,.0f} million", f"about {millions / 10:.0f} million",
                 "about 1.5 billion"),
        answer=0,
        explanation=(f"Exactly {total:,}: 12 blocks of about 12·d² = 7.1 million each, plus the 50,257 × 768 token table "
                     "(38.6 million) and 1,024 × 768 positions; the head reuses the token table (tied)."))


QUIZ = Quiz("what an LLM is", (
    Question("What does a language model compute at each position?",
             ("A probability for every token of its vocabulary to come next", "The meaning of the sentence",
              "The single correct next word, with certainty", "A summary of the text so far"), 0,
             "Its output is a distribution over the whole vocabulary; generation samples (or picks) one token, "
             "appends it and asks again."),
    Question("What is a token's embedding?",
             ("A learned row of numbers in the token table, looked up by the token's id", "The token's spelling",
              "Its frequency in the training text", "A fixed random code that training never changes"), 0,
             "The token table has one row of d numbers per token; training moves the rows so tokens used alike end up "
             "close together (tab 1's map and neighbours show it)."),
    _gpt2_size(),
    Question("How do Llama-family models (TinyLlama, the pocket model) know where a token sits in the text?",
             ("RoPE: queries and keys are rotated by an angle that grows with the position",
              "A learned position table added to the embeddings", "They do not need positions",
              "The tokenizer adds a position number to each token"), 0,
             "GPT-2 adds a learned position row; Llama-style models add nothing to the embedding and rotate each "
             "query and key instead, so attention scores depend on how far apart two tokens are."),
    Question("What does a 'tied' LM head mean?",
             ("The output layer reuses the token embedding table", "The head is frozen during training",
              "Every head of attention shares one query", "The model has no output layer"), 0,
             "Scoring the next token with the same V × d table that embeds the input saves V·d parameters: 38.6 "
             "million for GPT-2 small."),
))

"""Part 4's check: a GPT trained from scratch. The counts come from core (the built-in corpus, GPTConfig)."""
from __future__ import annotations

import math

from core import text_input
from core.minigpt.config import GPTConfig
from core.quiz import Question, Quiz


def builtin_vocabulary() -> int:
    """Distinct characters of the built-in corpus: the V of the tab's default run."""
    return len(set(text_input.learner_text(text_input.BUILTIN)))


def block_parameters(n_embd: int, n_layer: int = 4) -> int:
    """The parameters inside the transformer blocks (the tables and the final norm left out): what one more
    layer adds, times the layers."""
    def total(layers: int) -> int:
        return GPTConfig(vocab_size=66, block_size=192, n_layer=layers, n_head=4, n_embd=n_embd).num_params()

    return (total(2) - total(1)) * n_layer


def _first_loss() -> Question:
    vocab = builtin_vocabulary()
    return Question(
        prompt=f"The built-in corpus has {vocab} distinct characters. Near what loss does an untrained MiniGPT start?",
        choices=(f"about {math.log(vocab):.2f} nats (ln {vocab})", "about 0", f"about {vocab}",
                 f"about {math.log2(vocab):.2f} (log2 {vocab})"),
        answer=0,
        explanation=(f"Before training the model spreads its guesses almost evenly: p ≈ 1/{vocab} for the right "
                     f"character, so the cross-entropy is −ln(1/{vocab}) = ln {vocab} = {math.log(vocab):.2f} nats. "
                     f"log2 {vocab} = {math.log2(vocab):.2f} is the same guess counted in bits, not nats."))


def _width_doubled() -> Question:
    ratio = block_parameters(256) / block_parameters(128)
    return Question(
        prompt="Doubling the embedding width from 128 to 256 (same 4 layers) multiplies the blocks' parameters by about…",
        choices=("4 (each block holds about 12·d² weights)", "2 (one more row per unit of width)", "8", "16"),
        answer=0,
        explanation=(f"Every matrix in a block is d × d or d × 4d, so its size grows with d²: the blocks go from "
                     f"{block_parameters(128):,} to {block_parameters(256):,} parameters, ×{ratio:.2f} (biases and "
                     "norms grow only with d, so a little under 4)."))


QUIZ = Quiz("a GPT from scratch", (
    _first_loss(),
    Question("The training loss falls below 0.1 while the validation loss climbs. What is happening?",
             ("The model memorises its training text (overfitting)", "The learning rate is too small",
              "The model is still untrained", "The validation text has a different vocabulary"), 0,
             "A loss near 0 on the training text means it can recite it; text it has not seen gets worse. More data, "
             "dropout, weight decay or stopping earlier keep what generalises."),
    Question("Why does one training window of 192 characters give 192 predictions, not one?",
             ("The causal mask lets every position predict its next character from only what comes before it",
              "The window is repeated 192 times", "Each character is its own batch",
              "Only the last position is trained; the rest are ignored"), 0,
             "Position t sees characters 1…t and is scored on character t+1; the mask hides the future, so all 192 "
             "targets are learned in one forward pass."),
    _width_doubled(),
    Question("What does the KV cache keep between generation steps, and why does it make generation faster?",
             ("The keys and values of the tokens already seen, so each step computes only the newest token",
              "The final text, so it is not generated twice", "The gradients of the last step",
              "The top-k candidates of each step"), 0,
             "Without it each new token reruns attention over the whole context. With it, the past keys and values "
             "are read back and only the new token's are computed; the text is identical, only faster."),
))

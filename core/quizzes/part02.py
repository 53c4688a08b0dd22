"""Part 2's check: the three phases of training. The DPO number comes from core.alignment."""
from __future__ import annotations

from core import alignment
from core.quiz import Question, Quiz


def start_loss() -> float:
    """A DPO run's first loss: the policy is the reference, so h = 0 (any log-probabilities, any β)."""
    return float(alignment.dpo_loss(-20.0, -30.0, -20.0, -30.0, 0.1).loss)


def _dpo_start() -> Question:
    loss = start_loss()
    return Question(
        prompt="A DPO run starts from the SFT model, which is also its frozen reference. What is its loss at step 1?",
        choices=(f"about {loss:.3f} (ln 2)", "0", "about 2.303 (ln 10)", "It depends on β"), answer=0,
        explanation=(f"Policy = reference makes every log-ratio 0, so h = 0 and the loss is −log σ(0) = ln 2 = {loss:.4f}, "
                     "whatever β is; training then pushes the chosen answers' log-ratio above the rejected ones'."))


QUIZ = Quiz("the three phases", (
    Question("In which order are today's chat models trained?",
             ("Pre-training → supervised fine-tuning (SFT) → alignment (e.g. DPO or RLHF)",
              "SFT → pre-training → alignment", "Alignment → pre-training → SFT", "Pre-training → alignment → SFT"), 0,
             "Pre-training on raw text gives knowledge and fluency; SFT on question → answer examples teaches the "
             "assistant's format; alignment on preferences makes the better of two answers more likely."),
    Question("Who writes the labels for pre-training?",
             ("Nobody: each token's label is simply the next token of the text", "Paid annotators, one per sentence",
              "The model itself, from its own guesses", "A reward model"), 0,
             "Self-supervision: a text of n tokens gives n − 1 next-token lessons for free, which is why pre-training "
             "can use trillions of tokens."),
    Question("In SFT, which tokens does the loss usually count?",
             ("The assistant's answer only; the prompt and chat markers are read but not graded",
              "Every token, the prompt included", "Only the last token", "Only the chat markers"), 0,
             "Masking the prompt (labels −100) spends the learning on the behaviour you want: answering. Tab 2's SFT "
             "view greys out what is not graded."),
    _dpo_start(),
    Question("In DPO, what does a larger β do?",
             ("Keeps the policy closer to the reference model", "Lets the policy drift further from the reference",
              "Makes training use more data", "Turns DPO into SFT"), 0,
             "β scales the log-ratios: the loss is satisfied by a smaller move away from the reference, so a large β "
             "keeps the policy near it and a small β lets it go further for the same preference."),
))

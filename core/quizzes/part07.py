"""Part 7's check: LoRA fine-tuning. Counts come from core (architecture presets, the LoRA formula)."""
from __future__ import annotations

from core import architecture
from core.quiz import Question, Quiz


def lora_numbers(in_features: int, out_features: int, rank: int) -> int:
    """What one adapted layer trains: A is r × in, B is out × r."""
    return rank * (in_features + out_features)


def _one_layer() -> Question:
    d = architecture.preset("tinyllama-1.1b")["hidden_size"]
    trained, frozen = lora_numbers(d, d, 8), d * d
    return Question(
        prompt=f"TinyLlama's query projection is a {d:,} × {d:,} matrix. How many numbers does a rank-8 LoRA adapter "
               "train for it?",
        choices=(f"{trained:,} (A: 8 × {d:,}, B: {d:,} × 8)", f"{frozen:,} (the whole matrix)", f"{8 * 8:,}",
                 f"{trained * d // 2:,}"),
        answer=0,
        explanation=(f"The update is B·A with A of 8 × {d:,} and B of {d:,} × 8: 8 · ({d:,} + {d:,}) = {trained:,} "
                     f"numbers, against {frozen:,} frozen in W ({100 * trained / frozen:.2f}%)."))


def _share_grows_as_models_shrink() -> Question:
    big, small = 100 * lora_numbers(2048, 2048, 8) / 2048**2, 100 * lora_numbers(64, 64, 8) / 64**2
    return Question(
        prompt="At the same rank 8, why does LoRA train a larger share of a small model than of a big one?",
        choices=("A layer's share is r·(1/in + 1/out): it grows as the layers get narrower",
                 "Small models need more adapters per layer", "Big models freeze their adapters",
                 "It does not: the share is the same at any size"),
        answer=0,
        explanation=(f"Per layer, r·(in + out) / (in · out) = r·(1/in + 1/out): {big:.2f}% of a 2,048 × 2,048 layer "
                     f"but {small:.0f}% of a 64 × 64 one: the pocket model's large share and a 7B model's small one are "
                     "the same formula."))


QUIZ = Quiz("LoRA fine-tuning", (
    Question("A fresh LoRA adapter (before its first step) changes the model's answers how?",
             ("Not at all: B starts at zero, so W + (α/r)·B·A = W", "A little, at random",
              "It halves every weight", "It makes the answers follow the training data's form"), 0,
             "A is random but B is zero, so the update B·A is zero: training starts exactly from the base model, "
             "and only what the adapter learns moves it."),
    _one_layer(),
    Question("Why is the loss computed on the answer tokens only, not on the question and the chat template?",
             ("So the model learns to answer, not to predict the questions", "To make the tokenizer faster",
              "Because the template has no tokens", "So the adapter stays smaller"), 0,
             "The question and the template are context: the model reads them, but scoring them would also teach it to "
             "write questions. Tab 7's preview colours the tokens that are scored."),
    _share_grows_as_models_shrink(),
    Question("What does QLoRA change compared with LoRA?",
             ("The frozen base is stored in 4-bit; the adapters still train in 16/32-bit",
              "The adapters are trained in 4-bit", "It trains every weight in 4-bit", "It uses rank 4"), 0,
             "The base weights only need to be read, so 4-bit storage (NF4) cuts their memory about 4× against 16-bit; "
             "gradients flow through them into small adapters kept at full precision."),
))

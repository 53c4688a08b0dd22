"""Part 11's check: the end-to-end workflow."""
from __future__ import annotations

import math

from core.quiz import Question, Quiz

GUIDE_VOCAB = 65


def _untrained_bits() -> Question:
    bits = math.log2(GUIDE_VOCAB)
    return Question(
        prompt=f"A text has {GUIDE_VOCAB} distinct characters. How many bits per character does an untrained "
               "character-level model score on it?",
        choices=(f"about {bits:.2f} (log2 {GUIDE_VOCAB})", f"about {math.log(GUIDE_VOCAB):.2f} (ln {GUIDE_VOCAB})",
                 "0", f"{GUIDE_VOCAB}"),
        answer=0,
        explanation=(f"It gives each character p = 1/{GUIDE_VOCAB}: −log2(1/{GUIDE_VOCAB}) = {bits:.2f} bits. "
                     f"ln {GUIDE_VOCAB} = {math.log(GUIDE_VOCAB):.2f} is the same uncertainty in nats (1 bit = ln 2 nats)."))


QUIZ = Quiz("the workflow", (
    Question("Why does step 1 keep the end of your text apart as a validation set, never trained on?",
             ("To measure how well the model does on text it has not seen", "To make training faster",
              "Because the end of a text is less important", "To test the tokenizer only"), 0,
             "A loss on training text rewards memorising. Text the model never saw tells you whether it learned "
             "something general; a validation loss rising while the training loss falls is over-fitting."),
    Question("Why does step 4 compare a character model and a BPE model in bits per character, not loss per token?",
             ("A BPE token holds several characters, so losses per token are not comparable",
              "Bits are more precise than nats", "BPE models have no loss per token", "It makes the numbers smaller"), 0,
             "A loss per BPE token covers several characters at once. Dividing the total by the number of characters "
             "(and by ln 2 for bits) puts both models on the one unit they share."),
    _untrained_bits(),
    Question("In which order does the workflow run?",
             ("data → tokenizer → pre-train → evaluate → fine-tune → export",
              "tokenizer → data → fine-tune → pre-train → evaluate → export",
              "pre-train → data → tokenizer → evaluate → export → fine-tune",
              "data → pre-train → tokenizer → evaluate → fine-tune → export"), 0,
             "The tokenizer is learned from the data; the model is trained on its tokens; evaluation comes before "
             "fine-tuning so you know what the base model can do; the export holds everything needed to rerun it."),
    Question("What does fine-tuning (step 5) do to a pre-trained base model?",
             ("Goes on training its weights, at a small learning rate, on examples of the wanted behaviour",
              "Trains a new model from scratch", "Changes only the tokenizer", "Adds more layers and freezes the old ones"), 0,
             "The same weights keep learning from fewer, chosen examples (question → answer pairs); LoRA (tab 7) trains "
             "small added matrices instead of all of them, with the loss on the answers only."),
))

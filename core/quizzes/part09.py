"""Part 9's check: which library does what, and what the examples show."""
from __future__ import annotations

from core.quiz import Question, Quiz

# the torch example of tab 9: one linear neuron, squared error
W, X, Y = (0.5, -1.0), (2.0, 3.0), 1.0


def torch_example_gradient() -> list[float]:
    """d/dw of (w·x − y)² = 2(w·x − y)·x, for the torch example's numbers."""
    error = sum(w * x for w, x in zip(W, X)) - Y
    return [2 * error * x for x in X]


def _gradient() -> Question:
    right = torch_example_gradient()
    wrong = [[-g for g in right], [g / 2 for g in right], list(X)]
    show = (lambda g: "[" + ", ".join(f"{v:g}" for v in g) + "]")
    return Question(
        prompt=(f"Tab 9's torch example: w = [{W[0]:g}, {W[1]:g}], x = [{X[0]:g}, {X[1]:g}], y = {Y:g}, "
                "loss = (w·x − y)². What does `loss.backward()` put in `w.grad`?"),
        choices=tuple(show(g) for g in (right, *wrong)), answer=0,
        explanation=(f"By the chain rule ∂loss/∂w = 2(w·x − y)·x; here w·x − y = {sum(w * x for w, x in zip(W, X)) - Y:g}, "
                     f"so the gradient is {show(right)}. autograd records the operations and applies that rule backwards."))


QUIZ = Quiz("the libraries", (
    Question("Which library turns text into GPT-4's token ids, with the very vocabulary OpenAI uses?",
             ("tiktoken", "tokenizers", "datasets", "peft"), 0,
             "tiktoken ships OpenAI's encodings (cl100k_base for GPT-4, o200k_base for GPT-4o); Hugging Face's "
             "tokenizers trains and runs tokenizers of your own."),
    _gradient(),
    Question("Which library wraps a loaded model with LoRA adapters and freezes the rest?",
             ("peft", "trl", "accelerate", "transformers"), 0,
             "peft's get_peft_model adds the low-rank A and B matrices to the target modules and marks only them "
             "trainable; trl's SFTTrainer can call it for you when given a LoraConfig."),
    Question("trl's SFTConfig on chat (messages) data: what does it train on by default?",
             ("Every token, the user's questions included", "Only the assistant's answers", "Only the last answer",
              "Only the system prompt"), 0,
             "assistant_only_loss defaults to False: set it to True (and use a chat template with generation markers) "
             "to compute the loss on the assistant's tokens only, as Parts 7 and 11 teach."),
    Question("What does `accelerate launch train.py` do on a machine with no GPU and no config file?",
             ("Runs the script once, as one process on the CPU", "Refuses to start", "Starts one process per CPU core",
              "Downloads a GPU driver"), 0,
             "With no GPU it launches one process; with N GPUs, N processes (data parallel). The same script scales "
             "from a laptop to a cluster, which is accelerate's point."),
))

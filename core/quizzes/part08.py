"""Part 8's check: warmup, gradient accumulation, the learning rate, weight decay, tokens per step.
Numbers come from core (core.accumulation, the lab's shipped sweep), never typed."""
from __future__ import annotations

from core import accumulation, sweeps
from core.quiz import Question, Quiz

MICRO, K = 8, 4  # the accumulation question: K micro-batches of MICRO sequences
BATCH, CONTEXT, ACCUM, GPUS = 16, 192, 4, 8  # the tokens-per-step question


def _warmup() -> Question:
    return Question(
        prompt="Why does a training run start with a warmup, the learning rate rising from near 0 over the first steps?",
        choices=("Adam's running averages start from few gradients and random weights give large, badly aimed ones: "
                 "full-size first steps can throw the model far off",
                 "Each step is faster to compute at a small learning rate",
                 "The model must see all the data once before it may learn from it",
                 "Without it the cosine decay could not end at its floor"),
        answer=0,
        explanation=("Adam divides by a running average of squared gradients that, at first, rests on a handful of "
                     "samples; untrained weights give large gradients pointing in poor directions. Small early steps "
                     "let both settle; after a few hundred steps (here a tenth of a run) the rate is at its peak."))


def _accumulation() -> Question:
    return Question(
        prompt=(f"You accumulate {K} micro-batches of {MICRO} sequences instead of one batch of {K * MICRO}. Why is "
                f"each micro-batch's loss divided by {K} before backward()?"),
        choices=(f"A batch's loss is a mean and backward() adds into .grad: without ÷{K} the gradient is {K}× the "
                 f"big batch's", "It saves memory: a smaller loss needs fewer activations",
                 f"Each micro-batch has {K}× fewer tokens, so its loss is {K}× larger",
                 "Only so that the printed loss looks like the big batch's; the gradient is the same either way"),
        answer=0,
        explanation=(f"The big batch's gradient is the mean over its {K * MICRO} sequences = (1/{K}) × the sum of "
                     f"the {K} micro-batches' mean-loss gradients. backward() sums into .grad, so dividing each loss "
                     f"by {K} builds exactly that; forgetting it multiplies the step by {K}, as if the learning rate "
                     f"were {K}× larger. Lab 2 checks it on a MiniGPT: the two gradients agree to float32 rounding."))


def sweep_figures() -> str:
    """The shipped example sweep's final training losses, as Lab 3 shows them ('' when none is shipped)."""
    series = sweeps.shipped_series("sweep")
    if series is None:
        return ""
    losses = ", ".join(f"{r.label} → {r.final_loss:.2f}" for r in series.runs if r.final_loss is not None)
    return f" In Lab 3's example sweep ({series.steps} steps): {losses}."


def _too_large() -> Question:
    return Question(
        prompt="What does a learning rate that is too large do to the training-loss curve?",
        choices=("It drops fast at first, then bounces and stalls high, or spikes up to NaN",
                 "It falls more slowly but steadily to the same loss",
                 "Nothing: Adam adapts each step, so the rate does not matter",
                 "It reaches a lower loss, only with more noise"),
        answer=0,
        explanation=("Steps too long overshoot the valley they should settle in: the loss stops improving well above "
                     "what a smaller rate reaches, and a rate far too large makes it blow up (NaN). A rate too low "
                     "is the opposite: smooth but slow." + sweep_figures()))


def _weight_decay() -> Question:
    return Question(
        prompt="What does weight decay (as in AdamW) do?",
        choices=("Shrinks the weights a little towards 0 at every step, so they grow only where the data needs them",
                 "Lowers the learning rate as training goes on",
                 "Randomly zeroes some activations during training",
                 "Rescales the gradient when its norm is above a limit"),
        answer=0,
        explanation=("Each step AdamW also subtracts η·λ·w from every decayed weight, usually the weight matrices but "
                     "not biases or LayerNorm gains. The other answers are other knobs: the schedule lowers the "
                     "rate, dropout zeroes activations, clipping caps the gradient's norm (usually at 1.0)."))


def _tokens_per_step() -> Question:
    t = accumulation.tokens_per_step(BATCH, CONTEXT, ACCUM, GPUS)
    one_gpu = accumulation.tokens_per_step(BATCH, CONTEXT, ACCUM, 1)
    no_accum = accumulation.tokens_per_step(BATCH, CONTEXT, 1, GPUS)
    return Question(
        prompt=(f"Micro-batch {BATCH} sequences, context {CONTEXT} tokens, {ACCUM} accumulation steps, {GPUS} GPUs "
                "(data parallel). How many tokens does one optimizer step learn from?"),
        choices=(f"{t['tokens']:,}", f"{one_gpu['tokens']:,}", f"{no_accum['tokens']:,}", f"{t['micro_batch_tokens']:,}"),
        answer=0,
        explanation=(f"{BATCH} × {ACCUM} × {GPUS} = {t['sequences']:,} sequences per step, × {CONTEXT} tokens = "
                     f"{t['tokens']:,}. Each GPU holds only {t['micro_batch_tokens']:,} tokens at a time. At a fixed "
                     "budget of tokens, a batch twice as large means half as many optimizer steps."))


QUIZ = Quiz("hyperparameters", (_warmup(), _accumulation(), _too_large(), _weight_decay(), _tokens_per_step()))

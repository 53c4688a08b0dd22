"""Part 3's check: softmax, cross-entropy, gradient descent. Numbers come from core, never typed."""
from __future__ import annotations

from core import optimizers as O
from core import probability as P
from core.quiz import Question, Quiz

GUIDE_VOCAB = 65  # the guide's Tiny Shakespeare characters
VALLEY_LR, VALLEY_STEPS = 0.05, 40


def _untrained_loss() -> Question:
    start = P.uniform_loss(GUIDE_VOCAB)
    return Question(
        prompt=f"An untrained model predicts the next of {GUIDE_VOCAB} characters. What loss does it start at?",
        choices=(f"about {start:.2f} (ln {GUIDE_VOCAB})", f"about {1 / GUIDE_VOCAB:.3f} (1/{GUIDE_VOCAB})", "0", f"{GUIDE_VOCAB}"),
        answer=0,
        explanation=(f"Untrained, it spreads probability evenly: p = 1/{GUIDE_VOCAB} on the right character, and the loss "
                     f"is −ln(1/{GUIDE_VOCAB}) = ln {GUIDE_VOCAB} = {start:.3f} nats."))


def _max_trick() -> Question:
    return Question(
        prompt="Softmax subtracts the largest logit from every logit before taking exp. What does that do to the probabilities?",
        choices=("Nothing: they are exactly the same", "The largest one becomes 0", "They no longer sum to 1",
                 "They get closer to uniform"),
        answer=0,
        explanation=("exp(z − m) = exp(z)·exp(−m): the common factor exp(−m) cancels between numerator and sum. It only "
                     "keeps every exponent ≤ 0, so exp never overflows (1000, 1001, 1002 gives nan without it)."))


def _gradient() -> Question:
    return Question(
        prompt="For cross-entropy on softmax, what is the gradient of the loss with respect to the correct token's logit?",
        choices=("p − 1 (negative: the step raises that logit)", "p (positive: the step lowers it)", "−ln p", "1 − p"),
        answer=0,
        explanation=("The gradient with respect to all logits is softmax − one-hot: p − 1 on the correct token, p on "
                     "the others. Gradient descent subtracts it, so the correct logit goes up by η·(1 − p)."))


def _temperature() -> Question:
    return Question(
        prompt="What happens to the probabilities as the temperature goes towards 0?",
        choices=("All the probability goes to the top token (greedy)", "They become uniform", "They all become 0",
                 "Nothing: temperature only changes sampling speed"),
        answer=0,
        explanation=("Dividing the logits by a small T multiplies their gaps: the top token's lead grows without limit, "
                     "so its probability tends to 1 and the entropy to 0. A large T does the opposite (towards uniform)."))


def valley_losses() -> dict[str, float]:
    """Each optimizer's loss after VALLEY_STEPS steps at VALLEY_LR on the elongated valley (the lab's numbers)."""
    surface = O.SURFACES["valley"]
    return {name: float(O.run_descent(surface, name, VALLEY_LR, VALLEY_STEPS).losses[-1]) for name in O.OPTIMIZERS}


def _optimizers() -> Question:
    losses = valley_losses()
    names = tuple(O.OPTIMIZERS)
    best = min(losses, key=losses.get)
    figures = ", ".join(f"{name} {loss:.2f}" for name, loss in losses.items())
    return Question(
        prompt=(f"On the elongated valley with learning rate {VALLEY_LR:g}, which optimizer has the lowest loss after "
                f"{VALLEY_STEPS} steps?"),
        choices=names, answer=names.index(best),
        explanation=(f"The lab gives {figures}. Along the valley's flat direction the gradient is tiny, so plain SGD "
                     "crawls; momentum adds up those small steps that all point the same way."))


QUIZ = Quiz("softmax, cross-entropy, gradient descent",
            (_untrained_loss(), _max_trick(), _gradient(), _temperature(), _optimizers()))

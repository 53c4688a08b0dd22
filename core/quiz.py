"""End-of-tab checks and predict-then-run moments: the grading, with no UI.

A `Question`'s answer key stays on the server: the browser gets the prompt and the choices only, and the
learner's pick comes back to `grade`. Questions whose answer is a number the app computes (ln V, a parameter
count) build their choices from core, so the key and the lab cannot disagree (tests check each key).

`compare_guess` is the verdict of a prediction: the learner commits a number before a lab shows it, then
sees how far off it was and the one-line reason.
"""
from __future__ import annotations

import math
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    prompt: str
    choices: tuple[str, ...]
    answer: int  # index into choices; never sent to the browser
    explanation: str  # shown after any answer, right or wrong: the reason is the lesson

    def __post_init__(self):
        if not 2 <= len(self.choices) <= 6 or len(set(self.choices)) != len(self.choices):
            raise ValueError(f"{self.prompt!r}: 2 to 6 distinct choices")
        if not 0 <= self.answer < len(self.choices):
            raise ValueError(f"{self.prompt!r}: answer index out of range")

    def shown_choices(self) -> tuple[str, ...]:
        """The choices in the order a learner sees them: shuffled, so the right one is not always first (the
        quizzes are written with it first), and the same order every time (seeded by the prompt, a private
        generator), so a reload or a classmate sees the same question."""
        order = list(self.choices)
        random.Random(zlib.crc32(self.prompt.encode("utf-8"))).shuffle(order)
        return tuple(order)


class Questions(Sequence):
    """A check's questions, each built when first asked for: a question given as a function (its numbers need
    a slow computation, such as tiktoken's tables) costs nothing while the app starts; the tab shows the first
    question at start-up and the others when a learner gets there. Built once (two learners arriving at the
    same moment may both build it: the same question)."""

    def __init__(self, items):
        self._items = list(items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        item = self._items[index]
        if not isinstance(item, Question):
            item = self._items[index] = item()
        return item


@dataclass(frozen=True)
class Quiz:
    title: str
    questions: Sequence[Question]  # Questions or functions that build one (Quiz wraps them in Questions)

    def __post_init__(self):
        object.__setattr__(self, "questions", Questions(self.questions))
        if not 3 <= len(self.questions) <= 5:
            raise ValueError(f"{self.title}: an end-of-tab check has 3 to 5 questions")


@dataclass(frozen=True)
class Verdict:
    correct: bool
    message: str  # Markdown: right/wrong, the right answer, the explanation


def grade(question: Question, choice: str | None) -> Verdict:
    """The learner's pick judged on the server. A pick that is not one of the choices (a tampered request)
    is refused, not graded."""
    if choice is None or choice == "":
        raise ValueError("Pick an answer first.")
    if choice not in question.choices:
        raise ValueError("That answer is not one of this question's choices.")
    right = question.choices[question.answer]
    if question.choices.index(choice) == question.answer:
        return Verdict(True, f"✓ **Right.** {question.explanation}")
    return Verdict(False, f"✗ **Not quite**: the answer is **{right}**. {question.explanation}")


def score_line(results: dict[int, bool], total: int) -> str:
    """"2 of 5 answered, 2 right" while going; a closing line once every question is answered."""
    right = sum(results.values())
    if len(results) < total:
        return f"{len(results)} of {total} answered, {right} right."
    closing = "all right — well done." if right == total else "read the explanations, then try again with Start over."
    return f"**{right} of {total} right**: {closing}"


# ---------- predictions ----------

def parse_guess(guess) -> float:
    """A committed guess as a number; the learner's message when there is none."""
    if guess is None or (isinstance(guess, str) and not guess.strip()):
        raise ValueError("Type your guess first: the point is to commit to a number before you see it.")
    try:
        value = float(str(guess).strip())
    except (TypeError, ValueError):
        raise ValueError(f"Your guess must be a number, not {str(guess)[:40]!r}.") from None
    if not math.isfinite(value):
        raise ValueError("Your guess must be a finite number.")
    return value


def closeness(guess: float, actual: float) -> str:
    """How far off, in words a learner reads at a glance (relative for magnitudes, absolute near zero)."""
    error = abs(guess - actual)
    scale = max(abs(actual), 1e-12)
    if error <= 0.1 * scale or error < 1e-9:
        return "spot on (within 10 %)"
    if abs(actual) > 0 and guess > 0 and actual > 0:
        ratio = max(guess / actual, actual / guess)
        if ratio <= 2:
            return f"close: {'high' if guess > actual else 'low'} by {100 * error / scale:.0f} %"
        shown = f"{ratio:.3g}" if ratio < 1000 else f"{ratio:,.0f}"  # never 5.21e+03×
        return f"off by {shown}× ({'too high' if guess > actual else 'too low'})"
    return f"off by {error:.4g} ({'too high' if guess > actual else 'too low'})"


def compare_guess(guess, actual: float, reason: str, *, unit: str = "", digits: int = 5) -> str:
    """Markdown: your guess, the real value, how far off, and why it is what it is."""
    value = parse_guess(guess)
    unit = f" {unit}" if unit else ""
    return (f"**Your guess:** {value:.{digits}g}{unit} · **the lab:** {actual:.{digits}g}{unit} · "
            f"{closeness(value, actual)}.\n\n*Why:* {reason}")


def require_pick(guess) -> None:
    """A guess among options was picked, else ValueError: a reveal checks this before its work."""
    if not guess or not str(guess).strip():
        raise ValueError("Pick your guess first: the point is to commit before you see it.")


def compare_choice(guess: str | None, actual: str, reason: str) -> str:
    """Markdown for a guess among options (which token, which optimizer)."""
    require_pick(guess)
    verdict = "✓ **Right.**" if guess == actual else f"**Your guess:** {guess} · **the lab:** {actual}."
    return f"{verdict}\n\n*Why:* {reason}"

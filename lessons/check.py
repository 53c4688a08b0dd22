"""Predict, then run; and the end-of-tab check. The grading is core.quiz; this module only lays it out.

A **prediction** sits in a lab: the learner types (or picks) a guess, presses "Lock in my guess", and the
lab's own handler computes the real value, shows the result and says how far off the guess was and why:

    guess = prediction("At T = 0.1, what probability will the top token get?", unit="")
    guess.reveal(named_event(predict_cold, inputs={"guess": guess.guess, ...},
                             outputs={"feedback": guess.feedback, "temperature": temperature}))

The reveal handler is a module-level function of the tab (tests call it), decorated with `@shows_errors`;
`core.quiz.compare_guess` refuses an empty guess with a message, so nothing is revealed without one.

The **end-of-tab check** (`end_of_tab_check("part03")`, last in a tab's build) asks core/quizzes/<part>.py's
3-5 questions one at a time. The answer key never leaves the server; progress lives in a gr.State, so
nothing is stored beyond this browser tab.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import gradio as gr

from core import quiz as Q
from core.quizzes import quiz_for
from lessons.common import learner_error, markdown, named_event, shows_errors

LOCK_IN = "Lock in my guess"


@dataclass
class Prediction:
    guess: gr.components.Component  # gr.Textbox for a number, or gr.Dropdown for a guess among options
    button: gr.Button
    feedback: gr.Markdown
    numeric: bool = True  # a number typed (else an option picked)

    def reveal(self, event: dict, **kwargs) -> None:
        """Wire the button: `event` is `named_event(reveal_handler, ...)`. A first step with no outputs refuses a
        missing guess (one message, no "Error" badge on the feedback or the lab), then the reveal runs."""
        kwargs.setdefault("api_name", False)
        kwargs.setdefault("show_progress", "hidden")
        self.button.click(require_number if self.numeric else require_pick, inputs=self.guess, outputs=None, **kwargs).success(**event, **kwargs)


def require_number(guess) -> None:
    """A number typed, else the learner's message (core.quiz.parse_guess's wording)."""
    try:
        Q.parse_guess(guess)
    except ValueError as err:
        raise learner_error(err) from None


def require_pick(guess) -> None:
    try:
        Q.require_pick(guess)
    except ValueError as err:
        raise learner_error(err) from None


def prediction(question: str, *, choices: list | None = None, unit: str = "", elem_id: str | None = None) -> Prediction:
    """A predict-then-run box: the question, the guess, the button, and where the verdict appears."""
    ids = (lambda part: f"{elem_id}-{part}" if elem_id else None)
    with gr.Group(elem_classes=["predict"]):
        markdown(f"**Predict first:** {question}", elem_classes=["predict-question"])
        with gr.Row(equal_height=True):
            label = "Your guess" + (f" ({unit})" if unit else "")
            if choices is not None:
                guess = gr.Dropdown(choices, value=None, label=label, elem_id=ids("guess"), min_width=160, scale=2)
            else:
                # a Textbox, not a gr.Number: an empty Number is sent as 0, which would reveal the answer to
                # a learner who never guessed (core.quiz.parse_guess reads the text)
                guess = gr.Textbox(label=label, placeholder="type a number", max_length=40, elem_id=ids("guess"),
                                   min_width=160, scale=2)
            button = gr.Button(LOCK_IN, variant="secondary", elem_id=ids("button"), min_width=140, scale=1)
        feedback = markdown("", elem_id=ids("feedback"), elem_classes=["predict-feedback"])
    return Prediction(guess, button, feedback, numeric=choices is None)


# ---------- the end-of-tab check ----------

@dataclass(frozen=True)
class Progress:
    """Where a learner is in one tab's check: the question shown and what they answered so far."""

    index: int = 0
    results: dict = field(default_factory=dict)  # question index -> answered right
    checked: bool = False  # the shown question has been answered


def question_markdown(part: str, index: int) -> str:
    quiz = quiz_for(part)
    return f"**Question {index + 1} of {len(quiz.questions)}.** {quiz.questions[index].prompt}"


@shows_errors
def check_answer(part: str, progress: Progress, choice: str | None) -> dict:
    """Grade the shown question (on the server), explain it, and let the learner go on."""
    quiz = quiz_for(part)
    verdict = Q.grade(quiz.questions[progress.index], choice)
    results = dict(progress.results)
    results.setdefault(progress.index, verdict.correct)  # the first answer counts, as in a real check
    progress = replace(progress, results=results, checked=True)
    last = progress.index == len(quiz.questions) - 1
    return {"feedback": verdict.message, "score": Q.score_line(results, len(quiz.questions)), "progress": progress,
            "choice": gr.Radio(interactive=False), "check": gr.Button(interactive=False),
            "next": gr.Button("Start over" if last else "Next question", interactive=True)}


def next_question(part: str, progress: Progress) -> dict:
    """The next question, or the first again (with a fresh score) after the last."""
    quiz = quiz_for(part)
    restart = progress.index == len(quiz.questions) - 1
    progress = Progress() if restart else Progress(index=progress.index + 1, results=progress.results)
    question = quiz.questions[progress.index]
    return {"prompt": question_markdown(part, progress.index), "progress": progress, "feedback": "",
            "choice": gr.Radio(choices=list(question.shown_choices()), value=None, interactive=True),
            "check": gr.Button(interactive=True), "next": gr.Button("Next question", interactive=False),
            "score": Q.score_line(progress.results, len(quiz.questions))}


def end_of_tab_check(part: str) -> None:
    """The tab's closing check, collapsed until the learner wants it. The first question is drawn at build
    time (the same for everyone), so opening it costs no event."""
    quiz = quiz_for(part)
    n = len(quiz.questions)
    with gr.Accordion(f"Check yourself · {quiz.title} · {n} questions, answers explained", open=False,
                      elem_id=f"{part}-check"):
        prompt = markdown(question_markdown(part, 0), elem_id=f"{part}-check-prompt")
        choice = gr.Radio(list(quiz.questions[0].shown_choices()), value=None, label="Your answer", elem_id=f"{part}-check-choice")
        with gr.Row():
            check = gr.Button("Check my answer", variant="primary", size="sm", elem_id=f"{part}-check-button")
            following = gr.Button("Next question", size="sm", interactive=False, elem_id=f"{part}-check-next")
        feedback = markdown("", elem_id=f"{part}-check-feedback")
        score = markdown(Q.score_line({}, n), elem_id=f"{part}-check-score")
    progress = gr.State(Progress())
    outputs = {"feedback": feedback, "score": score, "progress": progress, "choice": choice, "check": check,
               "next": following, "prompt": prompt}
    quiet = dict(api_name=False, show_progress="hidden")
    check.click(**named_event(functools.partial(check_answer, part), inputs={"progress": progress, "choice": choice},
                              outputs=outputs), **quiet)
    following.click(**named_event(functools.partial(next_question, part), inputs={"progress": progress},
                                  outputs=outputs), **quiet)

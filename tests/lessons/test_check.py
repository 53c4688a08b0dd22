"""lessons.check: the end-of-tab check asks, grades on the server, explains and starts over; predictions
refuse to reveal without a guess."""
import gradio as gr
import pytest

from core.quizzes import quiz_for
from lessons import check
from lessons import part03_core_math as tab3
from lessons.inputs import Checked

PART = "part03"


def test_a_whole_check_then_start_over():
    quiz = quiz_for(PART)
    progress = check.Progress()
    for index, question in enumerate(quiz.questions):
        wrong = next(c for i, c in enumerate(question.choices) if i != question.answer)
        pick = wrong if index == 0 else question.choices[question.answer]
        out = check.check_answer(PART, progress, pick)
        assert question.explanation in out["feedback"] and out["next"].interactive
        progress = out["progress"]
        # a second answer to the same question does not change its score
        assert check.check_answer(PART, progress, question.choices[question.answer])["progress"].results == progress.results
        if index < len(quiz.questions) - 1:
            following = check.next_question(PART, progress)
            assert f"Question {index + 2} of" in following["prompt"]
            assert following["choice"].value is None
            progress = following["progress"]
    n = len(quiz.questions)
    assert f"{n - 1} of {n} right" in out["score"] and out["next"].value == "Start over"
    again = check.next_question(PART, progress)
    assert again["progress"] == check.Progress() and "Question 1 of" in again["prompt"]


def test_no_pick_is_a_message_not_a_grade():
    with pytest.raises(gr.Error, match="Pick an answer"):
        check.check_answer(PART, check.Progress(), None)


def test_the_answer_key_is_not_in_the_page():
    """The browser gets prompts and choices; the explanations (which give the answer away) stay on the server."""
    with gr.Blocks() as demo:
        check.end_of_tab_check(PART)
    config = str(demo.get_config_file())
    first = quiz_for(PART).questions[0]
    assert first.prompt in config and first.explanation not in config and '"answer"' not in config


def test_the_softmax_prediction_needs_a_guess_and_compares_with_the_lab():
    state = Checked.start(tab3.SOFTMAX_LOGITS, tab3.SOFTMAX_LABELS)
    with pytest.raises(gr.Error, match="Type your guess first"):
        tab3.predict_cold(None, state)
    import numpy as np
    z = np.array([float(x) for x in tab3.SOFTMAX_LOGITS.split(",")]) / 0.1
    top = float(np.exp(z.max() - z.max()) / np.exp(z - z.max()).sum())  # float64, written out
    out = tab3.predict_cold(0.5, state)
    assert out["temperature"] == 0.1
    assert f"**the lab:** {top:.5g}" in out["feedback"] and "multiplies every gap" in out["feedback"]


@pytest.mark.parametrize("guess", [None, "", " ", "half", "nan"])
def test_the_first_step_refuses_a_missing_or_unreadable_number(guess):
    with pytest.raises(gr.Error):
        check.require_number(guess)


def test_the_first_step_takes_a_typed_number_and_any_pick():
    check.require_number(" 0.25 ")
    check.require_pick("mat")
    with pytest.raises(gr.Error, match="Pick your guess first"):
        check.require_pick(None)

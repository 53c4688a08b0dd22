"""core.quiz grades on the server and never trusts the browser; every tab's check is well formed."""
import math
from pathlib import Path

import pytest

from core import quiz as Q
from core.quizzes import quiz_for

PARTS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "core" / "quizzes").glob("part*.py"))
QUESTION = Q.Question("2 + 2?", ("4", "5", "22"), 0, "Addition.")


def test_grade_right_and_wrong_always_explains():
    right, wrong = Q.grade(QUESTION, "4"), Q.grade(QUESTION, "22")
    assert right.correct and "Right" in right.message and "Addition." in right.message
    assert not wrong.correct and "**4**" in wrong.message and "Addition." in wrong.message


@pytest.mark.parametrize("choice", [None, "", "6", "4 "])
def test_grade_refuses_what_is_not_a_choice(choice):
    with pytest.raises(ValueError):
        Q.grade(QUESTION, choice)


def test_malformed_questions_are_refused():
    with pytest.raises(ValueError):
        Q.Question("?", ("a", "a"), 0, "")
    with pytest.raises(ValueError):
        Q.Question("?", ("a", "b"), 2, "")
    with pytest.raises(ValueError):
        Q.Quiz("too short", (QUESTION, QUESTION))


def test_score_line():
    assert Q.score_line({}, 4) == "0 of 4 answered, 0 right."
    assert Q.score_line({0: True, 1: False}, 4) == "2 of 4 answered, 1 right."
    assert "4 of 4 right" in Q.score_line({i: True for i in range(4)}, 4)
    assert "2 of 3 right" in Q.score_line({0: True, 1: False, 2: True}, 3)


@pytest.mark.parametrize("guess", [None, "", "  ", "abc", float("nan"), float("inf")])
def test_a_guess_must_be_a_finite_number(guess):
    with pytest.raises(ValueError):
        Q.compare_guess(guess, 1.0, "because")


@pytest.mark.parametrize("guess, actual, words", [
    (4.2, 4.174, "spot on"), ("4.2 ", 4.174, "spot on"), (3.0, 4.174, "low by 28 %"), (5.0, 4.174, "high by 20 %"),
    (0.01, 1.0, "off by 100× (too low)"), (3, 15620, "off by 5,207× (too low)"), (-1.0, 0.5, "off by 1.5 (too low)"), (0.0, 0.0, "spot on")])
def test_closeness_words(guess, actual, words):
    assert words in Q.closeness(Q.parse_guess(guess), actual)


def test_compare_guess_shows_both_numbers_and_the_reason():
    text = Q.compare_guess("3", math.log(65), "uniform over 65", unit="nats")
    assert "3 nats" in text and f"{math.log(65):.5g} nats" in text and "uniform over 65" in text


def test_compare_choice():
    assert "Right" in Q.compare_choice("a", "a", "r")
    assert "**the lab:** b" in Q.compare_choice("a", "b", "r")
    with pytest.raises(ValueError):
        Q.compare_choice(None, "b", "r")


@pytest.mark.parametrize("part", PARTS)
def test_every_check_is_well_formed(part):
    quiz = quiz_for(part)
    assert 3 <= len(quiz.questions) <= 5
    for question in quiz.questions:
        assert question.explanation.strip() and question.prompt.strip()
        assert Q.grade(question, question.choices[question.answer]).correct


@pytest.mark.parametrize("part", PARTS)
def test_the_right_answer_moves_around_and_the_order_is_stable(part):
    questions = quiz_for(part).questions
    places = [q.shown_choices().index(q.choices[q.answer]) for q in questions]
    assert len(set(places)) > 1, f"{part}: the right answer is always choice {places[0] + 1}"
    for q in questions:
        assert sorted(q.shown_choices()) == sorted(q.choices) and q.shown_choices() == q.shown_choices()

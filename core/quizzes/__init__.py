"""The end-of-tab checks, one module per part (`core/quizzes/partNN.py` defines `QUIZ`)."""
from __future__ import annotations

import importlib

from core.quiz import Quiz


def quiz_for(part: str) -> Quiz:
    """The check of one part, e.g. quiz_for("part03")."""
    return importlib.import_module(f"core.quizzes.{part}").QUIZ

"""Tab: Key concepts and hyperparameters (Part 8)."""
from lessons.common import LessonContext, lab_coming, lesson_text


def build(ctx: LessonContext) -> None:
    lesson_text("part08_key_concepts")
    lab_coming("This tab will hold interactive hyperparameter explorers: learning-rate schedules, batch size and gradient accumulation, and what each knob does to a loss curve.")

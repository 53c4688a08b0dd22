"""Tab: The three phases of training (Part 2)."""
from lessons.common import LessonContext, lab_coming, lesson_text


def build(ctx: LessonContext) -> None:
    lesson_text("part02_three_phases")
    lab_coming("This tab will hold a side-by-side of the same prompt through a pre-trained, an instruction-tuned and a preference-aligned model, with the data each phase trains on.")

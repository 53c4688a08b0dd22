"""Tab: The end-to-end workflow (Part 11)."""
from lessons.common import LessonContext, lab_coming, lesson_text


def build(ctx: LessonContext) -> None:
    lesson_text("part11_workflow")
    lab_coming("This tab will hold the whole pipeline in one place: data, tokenizer, model, training, evaluation and generation on a MiniGPT checkpoint.")

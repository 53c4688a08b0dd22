"""Tab: Core math: softmax, cross-entropy, gradient descent (Part 3)."""
from lessons.common import LessonContext, lab_coming, lesson_text


def build(ctx: LessonContext) -> None:
    lesson_text("part03_core_math")
    lab_coming("This tab will hold three live labs: softmax with temperature, top-k and top-p; cross-entropy with its gradient and perplexity; gradient descent on loss surfaces with SGD, momentum and Adam.")

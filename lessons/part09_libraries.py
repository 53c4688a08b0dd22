"""Tab: The Python libraries for LLM training (Part 9)."""
from lessons.common import LessonContext, lab_coming, lesson_text


def build(ctx: LessonContext) -> None:
    lesson_text("part09_libraries")
    lab_coming("This tab will hold a live check of which libraries are installed here and short runnable snippets for each.")

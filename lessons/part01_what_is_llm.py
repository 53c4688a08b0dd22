"""Tab: What is an LLM (Part 1)."""
from lessons.common import LessonContext, lab_coming, lesson_text


def build(ctx: LessonContext) -> None:
    lesson_text("part01_what_is_llm")
    lab_coming("This tab will hold a token and embedding explorer on a MiniGPT checkpoint: type text, see its tokens, their ids and embedding vectors, and the model's next-token probabilities.")

"""Tab: BPE tokenization and tiktoken (Part 6)."""
from lessons.common import LessonContext, lab_coming, lesson_text


def build(ctx: LessonContext) -> None:
    lesson_text("part06_tokenization")
    lab_coming("This tab will hold a byte-pair-encoding trainer you can step merge by merge, an encoder that colours tokens, and a side-by-side with OpenAI's tiktoken encodings.")

"""Tab: MiniGPT: a GPT built and trained from scratch (Part 4)."""
from lessons.common import LessonContext, lab_coming, lesson_text


def build(ctx: LessonContext) -> None:
    lesson_text("part04_minigpt")
    lab_coming("This tab will hold the MiniGPT lab: pick a corpus and hyperparameters, train a ~0.8M-parameter GPT on the CPU with a live loss chart, then generate text from it.")

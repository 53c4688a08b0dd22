"""Tab: Cost and compute (Part 10)."""
from lessons.common import LessonContext, lab_coming, lesson_text


def build(ctx: LessonContext) -> None:
    lesson_text("part10_compute")
    lab_coming("This tab will hold calculators for training FLOPs (about 6 x parameters x tokens), memory for full fine-tuning versus LoRA versus QLoRA, and time and cost on common GPUs.")

"""Tab: LoRA fine-tuning with Hugging Face (Part 7)."""
from lessons.common import LessonContext, lab_coming, lesson_text


def build(ctx: LessonContext) -> None:
    lesson_text("part07_lora")
    lab_coming("This tab will hold LoRA fine-tuning of a real chat model (a bundled pocket model offline, SmolLM2 on a CPU, TinyLlama on a GPU) with a live loss curve and a base-versus-adapter chat.")

"""Tab: Attention, step by step (Part 5)."""
from lessons.common import LessonContext, lab_coming, lesson_text


def build(ctx: LessonContext) -> None:
    lesson_text("part05_attention")
    lab_coming("This tab will hold a step-through of self-attention on your own sentence (Q, K, V, scores, scaling, causal mask, softmax, output) and the attention maps of a trained MiniGPT.")

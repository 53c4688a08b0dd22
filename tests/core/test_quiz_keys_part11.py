"""Part 11's computable key: the untrained model's bits per character, from NumPy's uniform distribution."""
import numpy as np

from core.quizzes import quiz_for


def test_untrained_bits_per_character():
    question = quiz_for("part11").questions[2]
    p = np.full(65, 1 / 65)
    bits = -np.log2(p[0])
    assert f"{bits:.2f}" in question.choices[question.answer]
    assert np.isclose(-(p * np.log2(p)).sum(), bits)  # the entropy of the uniform guess: the same number

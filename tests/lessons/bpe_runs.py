"""A tiny BPE (and character) MiniGPT made the way tab 11 makes them, in a learner's workflow folder, for
the tests of the tabs that read MiniGPT checkpoints (1, 4, 5). Seconds: a 1-layer model, a few steps;
made once per test session (`shared_run`) and only read by the tests."""
import functools

from core import pipeline, sessions, text_input

# multi-byte characters on purpose: a BPE token may then be half of one ('é' is two bytes, '👋' four)
TEXT = text_input.builtin_corpus()[:4000] + "\nA café crème, a naïve 👋 wave.\n" * 20


def workflow_run(user_id: str, tokenizer: str = "bpe", steps: int = 12, vocab_size: int = 300):
    """core.pipeline.run (as tab 11's job runs it) into the learner's folder; returns the run folder."""
    data = pipeline.prepare_data(TEXT)
    folder = pipeline.learner_folder(user_id)
    pipeline.save_data(folder, data)
    settings = pipeline.Settings.of_size("tiny", tokenizer=tokenizer, vocab_size=vocab_size, steps=steps)
    *_, last = pipeline.run(data, settings, folder / tokenizer)
    assert last.stage == "done"
    return folder / tokenizer


@functools.lru_cache(maxsize=1)
def _learner() -> str:
    return sessions.new_user_id()


@functools.lru_cache(maxsize=2)
def shared_run(tokenizer: str = "bpe"):
    """(user id, run folder): one learner of the test session with a workflow run of this tokenizer."""
    return _learner(), workflow_run(_learner(), tokenizer)

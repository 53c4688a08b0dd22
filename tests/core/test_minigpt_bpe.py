"""MiniGPT on BPE tokens: trains, saves (merges as JSON, weights as safetensors), reloads, generates exactly."""
import json

import pytest

from core import bpe
from core.__main__ import main
from core.minigpt import checkpoint, sample, train
from core.minigpt.config import GPTConfig
from core.minigpt.tokenizer import BPETokenizer, CharTokenizer, from_dict
from core.sessions import CHECKPOINTS_DIR

TEXT = ("The cat sat on the mat. The dog sat on the log. A cat and a dog met on the mat; "
        "café crème, naïve 👋 friends. ") * 12


@pytest.fixture(scope="module")
def bpe_run(tmp_path_factory):
    tok = BPETokenizer.train(TEXT, vocab_size=300)
    out = tmp_path_factory.mktemp("bpe") / "run"
    model_config = GPTConfig(block_size=16, n_layer=1, n_head=2, n_embd=32, dropout=0.0)
    cfg = train.TrainConfig(steps=30, batch_size=8, eval_every=15, sample_every=30, sample_tokens=20,
                            sample_prompt="The cat", warmup_steps=2, threads=1)
    *_, last = train.train(TEXT, model_config, cfg, out_dir=out, tokenizer=tok)
    return tok, out, last


def test_bpe_tokenizer_is_the_projects_bpe(bpe_run):
    tok, _, _ = bpe_run
    reference = bpe.train(TEXT, vocab_size=300, pattern="gpt4")
    assert tok.bpe.merges == reference.merges and tok.vocab_size == 300
    assert tok.encode(TEXT) == reference.encode(TEXT) and tok.decode(tok.encode(TEXT)) == TEXT
    assert tok.unknown("any text ✓") == []


def test_checkpoint_stores_the_merges_as_json_and_reloads(bpe_run):
    tok, out, last = bpe_run
    assert last.done and last.vocab_size == 300
    info = json.loads((out / "config.json").read_text())
    assert info["tokenizer"]["kind"] == "bpe" and info["vocabulary"] is None
    assert [tuple(m) for m in info["tokenizer"]["merges"]] == [pair for pair, _ in tok.bpe.merges]
    assert not list(out.glob("*.pkl")) and not list(out.glob("*.pt"))
    loaded = checkpoint.load(out)
    assert isinstance(loaded.tokenizer, BPETokenizer) and loaded.config.vocab_size == 300
    assert loaded.tokenizer.encode(TEXT) == tok.encode(TEXT)


def test_reloaded_model_generates_the_same_tokens_and_text_decodes_exactly(bpe_run):
    tok, out, _ = bpe_run
    loaded = checkpoint.load(out)
    # the trained weights as the trainer left them, loaded a second way (straight from the safetensors)
    from safetensors.torch import load_file

    from core.minigpt.model import MiniGPT

    twin = MiniGPT(loaded.config)
    twin.load_state_dict(load_file(str(out / "model.safetensors")))
    prompt = tok.encode("The cat")
    ids = list(sample.generate_ids(loaded.model, prompt, 40, temperature=0.8, seed=3))
    assert ids == list(sample.generate_ids(twin, prompt, 40, temperature=0.8, seed=3))
    text = loaded.tokenizer.decode(prompt + ids)
    assert text == bpe.train(TEXT, vocab_size=300, pattern="gpt4").decode(prompt + ids)
    assert text.startswith("The cat")
    # streamed pieces join to the same text, never splitting a multi-byte character
    pieces = list(sample.text_pieces(loaded.tokenizer, ids))
    assert "".join(pieces) == text[len("The cat"):]


def test_generate_command_reads_a_bpe_checkpoint(bpe_run, capsys):
    _, out, _ = bpe_run
    assert main(["generate", "The cat", "25", "--checkpoint", str(out), "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("The cat")
    loaded = checkpoint.load(out)
    ids = list(sample.generate_ids(loaded.model, loaded.tokenizer.encode("The cat"), 25, temperature=0.8, seed=1))
    assert first.rstrip("\n") == loaded.tokenizer.decode(loaded.tokenizer.encode("The cat") + ids)


def test_character_checkpoints_keep_their_form_and_load():
    loaded = checkpoint.load(CHECKPOINTS_DIR / "minigpt" / "default")
    assert isinstance(loaded.tokenizer, CharTokenizer) and loaded.tokenizer.kind == "char"
    info = json.loads((CHECKPOINTS_DIR / "minigpt" / "default" / "config.json").read_text())
    assert "tokenizer" not in info and from_dict(loaded.tokenizer.to_dict()).chars == loaded.tokenizer.chars


def test_unknown_tokenizer_kind_is_refused():
    with pytest.raises(ValueError, match="Unknown tokenizer kind"):
        from_dict({"kind": "words"})

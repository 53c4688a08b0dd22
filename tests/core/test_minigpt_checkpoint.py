"""Checkpoints: safetensors + JSON, written marker-last, loaded without pickle, identical outputs."""
import json

import pytest
import torch

from core import registry
from core.minigpt import checkpoint
from core.minigpt.config import GPTConfig
from core.minigpt.model import MiniGPT
from core.minigpt.tokenizer import CharTokenizer


def test_round_trip_gives_identical_outputs(tmp_path):
    tok = CharTokenizer.from_text("the cat sat on the mat.")
    torch.manual_seed(0)
    model = MiniGPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=2, n_head=2, n_embd=16, bias=False))
    checkpoint.save(tmp_path / "run", model, tok, meta={"steps": 3})
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json", "model.safetensors"]
    loaded = checkpoint.load(tmp_path / "run")
    assert not loaded.model.training
    assert loaded.config == model.config and loaded.tokenizer.chars == tok.chars and loaded.meta == {"steps": 3}
    assert loaded.model.lm_head.weight is loaded.model.wte.weight  # still tied after loading
    idx = torch.tensor([tok.encode("the mat")])
    model.eval()
    assert torch.equal(model(idx)[0], loaded.model(idx)[0])


def test_config_json_is_the_registry_marker_and_written_last(tmp_path, monkeypatch):
    tok = CharTokenizer.from_text("abc")
    model = MiniGPT(GPTConfig(vocab_size=3, block_size=8, n_layer=1, n_head=1, n_embd=16))
    order = []
    import core.files as files

    real = files.atomic_write

    def spy(path, write):
        order.append(path.name)
        return real(path, write)

    monkeypatch.setattr(files, "atomic_write", spy)
    checkpoint.save(tmp_path / "r", model, tok)
    assert order[-1] == registry.MARKER_FILES["minigpt"] == "config.json"


def test_bad_folders_give_clear_messages(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a MiniGPT checkpoint"):
        checkpoint.load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"format": "other"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="not a MiniGPT checkpoint"):
        checkpoint.load(tmp_path)

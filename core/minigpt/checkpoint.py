"""Save and load a trained MiniGPT: weights as safetensors, shape + vocabulary + notes as JSON.

A checkpoint is a folder:

    model.safetensors   the weights (plain tensors; loading them can never run code, unlike pickle)
    config.json         {"format", "model": GPTConfig, "vocabulary": "...", "meta": {...}}

config.json is written LAST and atomically: the app lists a folder as a checkpoint once that file
exists (core.registry), so a half-written run is never offered to a learner.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from core import files
from core.minigpt.config import GPTConfig
from core.minigpt.tokenizer import CharTokenizer

FORMAT = "minigpt-1"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


@dataclass
class Loaded:
    """A checkpoint ready to use: the model (in eval mode), its tokenizer, shape and notes."""

    model: "object"
    tokenizer: CharTokenizer
    config: GPTConfig
    meta: dict = field(default_factory=dict)
    path: Path | None = None


def save(folder, model, tokenizer: CharTokenizer, meta: dict | None = None) -> Path:
    """Write the weights, then config.json (the marker that makes the folder a checkpoint)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files.save_safetensors(model.state_dict(), folder / WEIGHTS, metadata={"format": FORMAT})
    files.atomic_write_json(folder / CONFIG, {
        "format": FORMAT,
        "model": model.config.to_dict(),
        "vocabulary": tokenizer.chars,
        "meta": meta or {},
    })
    return folder


def load(folder) -> Loaded:
    """Load a checkpoint folder written by `save`. Never unpickles anything."""
    import torch
    from safetensors.torch import load_file

    from core.minigpt.model import MiniGPT

    folder = Path(folder)
    config_path, weights_path = folder / CONFIG, folder / WEIGHTS
    if not config_path.is_file() or not weights_path.is_file():
        raise FileNotFoundError(f"{folder} is not a MiniGPT checkpoint (it needs {CONFIG} and {WEIGHTS}).")
    info = json.loads(config_path.read_text(encoding="utf-8"))
    if info.get("format") != FORMAT:
        raise ValueError(f"{config_path} is not a MiniGPT checkpoint (format {info.get('format')!r}).")
    config = GPTConfig.from_dict(info["model"])
    tokenizer = CharTokenizer(info["vocabulary"])
    if tokenizer.vocab_size != config.vocab_size:
        raise ValueError(f"{config_path}: vocabulary has {tokenizer.vocab_size} characters but the model expects {config.vocab_size}.")
    model = MiniGPT(config)
    state = load_file(str(weights_path))
    model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
    model.eval()
    return Loaded(model=model, tokenizer=tokenizer, config=config, meta=info.get("meta", {}), path=folder)

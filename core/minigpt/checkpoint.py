"""Save and load a trained MiniGPT: weights as safetensors, shape + vocabulary + notes as JSON.

A checkpoint is a folder:

    model.safetensors   the weights (plain tensors; loading them can never run code, unlike pickle)
    config.json         {"format", "model": GPTConfig, "vocabulary": "...", "meta": {...}}

A character model stores its vocabulary (the characters, in id order) as "vocabulary"; a BPE model
(core.minigpt.tokenizer.BPETokenizer) stores {"tokenizer": {"kind": "bpe", "pattern", "merges"}} instead
and "vocabulary": null. Checkpoints without a "tokenizer" entry are character models (all older ones).

"model" records the architecture: "arch" ("gpt2" or "llama") and "n_kv_head" (None: one per head).
Checkpoints saved before these existed have neither and load as GPT-2 style (GPTConfig's defaults).

config.json is written LAST and atomically: the app lists a folder as a checkpoint once that file
exists (core.registry), so a half-written run is never offered to a learner.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from core import files
from core.minigpt.config import GPTConfig
from core.minigpt import tokenizer as tokenizers
from core.minigpt.tokenizer import BPETokenizer, CharTokenizer

FORMAT = "minigpt-1"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


@dataclass
class Loaded:
    """A checkpoint ready to use: the model (in eval mode), its tokenizer, shape and notes."""

    model: "object"
    tokenizer: CharTokenizer | BPETokenizer
    config: GPTConfig
    meta: dict = field(default_factory=dict)
    path: Path | None = None


def save(folder, model, tokenizer: CharTokenizer | BPETokenizer, meta: dict | None = None) -> Path:
    """Write the weights, then config.json (the marker that makes the folder a checkpoint)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files.save_safetensors(model.state_dict(), folder / WEIGHTS, metadata={"format": FORMAT})
    info = {"format": FORMAT, "model": model.config.to_dict(), "vocabulary": getattr(tokenizer, "chars", None)}
    if tokenizer.kind != "char":  # character checkpoints keep exactly their old form
        info["tokenizer"] = tokenizer.to_dict()
    info["meta"] = meta or {}
    files.atomic_write_json(folder / CONFIG, info)
    return folder


def read_tokenizer(info: dict) -> CharTokenizer | BPETokenizer:
    """The tokenizer of a parsed config.json: its "tokenizer" entry, else the character "vocabulary"."""
    if "tokenizer" in info:
        return tokenizers.from_dict(info["tokenizer"])
    return CharTokenizer(info["vocabulary"])


def architecture(folder) -> tuple[str, str]:
    """(arch, tokenizer kind) of a checkpoint folder, read from its config.json alone (no weights loaded):
    e.g. ("llama", "char"). Runs compare fairly (loss per character vs per BPE token) only with the same kind."""
    info = json.loads((Path(folder) / CONFIG).read_text(encoding="utf-8"))
    return info.get("model", {}).get("arch", "gpt2"), info.get("tokenizer", {}).get("kind", "char")


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
    tokenizer = read_tokenizer(info)
    if tokenizer.vocab_size != config.vocab_size:
        raise ValueError(f"{config_path}: vocabulary has {tokenizer.vocab_size} tokens but the model expects {config.vocab_size}.")
    model = MiniGPT(config)
    state = load_file(str(weights_path))
    model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
    model.eval()
    return Loaded(model=model, tokenizer=tokenizer, config=config, meta=info.get("meta", {}), path=folder)

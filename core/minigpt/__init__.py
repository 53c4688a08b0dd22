"""MiniGPT: a character-level GPT built, trained and sampled from scratch (Part 4 of the guide).

Read it in this order, like a textbook chapter:

- `config`     the model's shape (GPTConfig) and what it costs (parameters, memory)
- `tokenizer`  characters <-> integer ids
- `model`      the transformer itself: embeddings, attention, MLP, blocks, head
- `data`       the corpus split into train/validation, random windows as batches
- `train`      the training loop as a generator that reports progress
- `sample`     text generation: temperature, top-k, top-p, with and without a KV cache
- `checkpoint` saving and loading a trained model (safetensors + JSON, never pickle)
"""
from core.minigpt.config import GPTConfig
from core.minigpt.tokenizer import CharTokenizer

__all__ = ["GPTConfig", "CharTokenizer"]

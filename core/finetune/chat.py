"""Talking to the result: base model versus base + adapter, merging, and packing an adapter.

The comparison uses one model: peft's `disable_adapter()` context gives the exact base model
(the LoRA branch is skipped), so base and adapted answers differ only by the adapter, with the
same prompt, chat template, sampling settings and seed.

Replies are sampled here, not by transformers' `generate()`: that draws from torch's global
generator, which every learner's job in the server process shares (two chats at once would
change each other's answers, and seeding it would reseed everyone's). A short loop over the
model's logits with its KV cache draws each token from a generator of its own instead, with
MiniGPT's next-token rule (core.minigpt.sample).
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from core.files import atomic_write, atomic_write_text

MAX_NEW_TOKENS = 400
TOP_P = 0.95  # nucleus sampling: drop the unlikely tail that makes a small model ramble


@dataclass
class Adapted:
    model: object  # peft.PeftModel
    tokenizer: object
    base_model: str
    info: dict


def run_info(adapter_dir: str | Path) -> dict:
    path = Path(adapter_dir) / "run.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def base_model_of(adapter_dir: str | Path) -> str:
    """The base model name a run was trained from (run.json; peft's own config as a fallback)."""
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise ValueError(f"{adapter_dir} holds no adapter_config.json: not a finished LoRA run.")
    info = run_info(adapter_dir)
    if info.get("base_model"):
        return info["base_model"]
    return json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))["base_model_name_or_path"]


def load_adapted(adapter_dir: str | Path, base_model: str | None = None) -> Adapted:
    """A private copy of the base model with the adapter attached (the cached base stays untouched)."""
    from peft import PeftModel

    from core.finetune.models import detect_environment, load_model

    base = base_model or base_model_of(adapter_dir)
    four_bit = bool(run_info(adapter_dir).get("settings", {}).get("four_bit")) and not detect_environment().four_bit_unavailable
    loaded = load_model(base, four_bit=four_bit, copy_for_training=True)
    # peft creates the LoRA layers with random weights (drawn from torch's global generator) and then
    # loads the saved ones over them: the draws are discarded, and nothing in core uses that generator.
    # Not low_cpu_mem_usage=True: it patches nn.Module.register_parameter process-wide while it loads,
    # so two learners loading at once break each other's models (seen: NaN logits in tests).
    model = PeftModel.from_pretrained(loaded.model, str(adapter_dir))
    model.eval()
    return Adapted(model, loaded.tokenizer, base, run_info(adapter_dir))


def chat_inputs(tokenizer, prompt: str, system: str | None = None) -> dict:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    return dict(tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True))


def _end_tokens(model, tokenizer) -> set[int]:
    """The ids that end a reply: the generation config's end-of-sequence id(s), else the tokenizer's."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    return set(eos) if isinstance(eos, (list, tuple)) else {eos} - {None}


def _forward(model, ids, cache):
    """The last position's logits and the grown cache. Inference mode only around the call: a
    generator that yields inside `with torch.inference_mode()` would leave its caller in it."""
    import torch

    with torch.inference_mode():
        out = model(input_ids=ids, cache=cache, use_cache=True)
    return out.logits[0, -1], out.cache


def generate_ids(model, tokenizer, prompt: str, max_new_tokens: int = 80, temperature: float = 0.7, seed: int = 0,
                 system: str | None = None) -> Iterator[int]:
    """Yield the reply's token ids one at a time, until an end-of-turn token or max_new_tokens.

    The chat prompt goes through the model once; then each step feeds only the newest token (the KV
    cache keeps the rest). temperature 0 = greedy; otherwise temperature + nucleus (TOP_P) sampling
    from a private generator seeded by `seed`: same seed, same reply, whatever else runs meanwhile.
    """
    import torch

    from core.minigpt.sample import pick_token

    if not prompt.strip():
        raise ValueError("Type a prompt first.")
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"Generate between 1 and {MAX_NEW_TOKENS} new tokens.")
    if not 0 <= temperature <= 5:
        raise ValueError(f"Temperature must be between 0 (greedy) and 5; got {temperature}.")
    ids = chat_inputs(tokenizer, prompt, system)["input_ids"].to(model.device)
    end, generator, cache = _end_tokens(model, tokenizer), torch.Generator().manual_seed(int(seed)), None
    for _ in range(max_new_tokens):
        logits, cache = _forward(model, ids, cache)
        # on the CPU, where the generator lives (a CUDA model's logits would need a CUDA generator)
        token = pick_token(logits.float().cpu(), temperature, None, TOP_P, generator)
        if token in end:
            return
        yield token
        ids = torch.tensor([[token]], device=model.device)


def stream(model, tokenizer, prompt: str, max_new_tokens: int = 80, temperature: float = 0.7, seed: int = 0,
           system: str | None = None) -> Iterator[str]:
    """Yield the reply so far, token by token. temperature 0 = greedy; the seed fixes sampling.

    Closing the generator (Stop, a closed tab) ends generation at the next token."""
    new: list[int] = []
    for token in generate_ids(model, tokenizer, prompt, max_new_tokens, temperature, seed, system):
        new.append(token)
        yield tokenizer.decode(new, skip_special_tokens=True)


def generate(model, tokenizer, prompt: str, **kwargs) -> str:
    text = ""
    for text in stream(model, tokenizer, prompt, **kwargs):
        pass
    return text


def compare(adapted: Adapted, prompt: str, **kwargs) -> Iterator[tuple[str, str]]:
    """Stream the base answer, then the adapted one: yields (base so far, adapted so far)."""
    base = ""
    with adapted.model.disable_adapter():
        for base in stream(adapted.model, adapted.tokenizer, prompt, **kwargs):
            yield base, ""
    for text in stream(adapted.model, adapted.tokenizer, prompt, **kwargs):
        yield base, text


def merge_and_save(adapter_dir: str | Path, out_dir: str | Path) -> Path:
    """Fold the adapter into the base weights (W + α/r·B·A) and save a plain transformers model.

    The result loads with AutoModelForCausalLM alone, no peft needed, and runs as fast as the base.
    config.json is written last so a half-saved folder is never mistaken for a model.
    """

    base = base_model_of(adapter_dir)
    if run_info(adapter_dir).get("settings", {}).get("four_bit"):
        raise ValueError("This adapter was trained on a 4-bit base; merging needs the 16-bit base model. "
                         "Merge it on a GPU machine after loading the base in bfloat16.")
    adapted = load_adapted(adapter_dir, base)
    merged = adapted.model.merge_and_unload()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out, safe_serialization=True)
    adapted.tokenizer.save_pretrained(out)
    config_text = (out / "config.json").read_text(encoding="utf-8")
    (out / "config.json").unlink()
    atomic_write_text(out / "config.json", config_text)
    return out


def zip_adapter(adapter_dir: str | Path, zip_path: str | Path) -> Path:
    """The adapter files (a few MB at most) as one zip to download."""
    adapter_dir = Path(adapter_dir)
    files = [p for p in sorted(adapter_dir.iterdir()) if p.is_file() and p.suffix in (".json", ".safetensors", ".py", ".md")]

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in files:
                zf.write(p, arcname=f"{adapter_dir.name}/{p.name}")

    return atomic_write(zip_path, write)

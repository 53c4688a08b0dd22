"""LoRA fine-tuning with trl's SFTTrainer, driven from a generator so a UI can stay live.

`Trainer.train()` is a blocking loop; a UI (or a terminal) wants a stream of progress it can show
and stop. So the trainer runs in a worker thread, a TrainerCallback pushes every logged loss into
a queue, and `train()` below is a generator that yields a `Progress` snapshot for each of them.
Stopping: the callback checks a stop flag at the end of every step and asks the trainer to stop;
whatever was learned until then is saved like a finished run. Every yield is a fresh, frozen
Progress: a consumer may keep one and it will not change under it.

Randomness: transformers' Trainer seeds torch's *global* generator itself (`set_seed(args.seed)`
in its constructor and again in train()), and peft's LoRA init and dropout draw from it. Not
fought here: in one server process that would disturb, and be disturbed by, other jobs, so LoRA
training moves into a worker process of its own (issue 13, core/jobs.py), where the global
generator belongs to this one run.

Each run writes into its own folder (core.sessions.new_run_dir(user_id, "lora")):
adapter_model.safetensors, run.json (base model, data, settings, loss history) and, last,
adapter_config.json, the marker that makes the registry list the run.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from core import threads
from core.files import atomic_write_json, atomic_write_text
from core.finetune import data as data_mod
from core.finetune.lora import LoraSettings


@dataclass
class TrainSettings:
    lora: LoraSettings = field(default_factory=LoraSettings)
    learning_rate: float = 2e-3
    max_steps: int = 60
    epochs: float = 0.0  # > 0: train for this many passes over the data instead of max_steps
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 256
    eval_fraction: float = 0.1
    gradient_checkpointing: bool = False
    four_bit: bool = False
    seed: int = 0

    def validate(self) -> None:
        self.lora.validate()
        if self.epochs <= 0 and self.max_steps < 1:
            raise ValueError("Train for at least 1 step (or set a number of epochs).")
        if self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("Batch size and gradient accumulation must be at least 1.")
        if self.max_length < 16:
            raise ValueError("The maximum sequence length must be at least 16 tokens.")
        if not 0 <= self.eval_fraction < 0.9:
            raise ValueError("Hold out between 0 and 0.9 of the examples for evaluation.")
        if not 0 < self.learning_rate < 1:
            raise ValueError("The learning rate must be between 0 and 1 (LoRA usually uses 1e-4 to 5e-3).")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainSettings":
        d = dict(d)
        d["lora"] = LoraSettings(**d.get("lora", {}))
        return cls(**d)


class StopFlag:
    """Set by a Stop button, read by the training loop at the end of each step.

    A plain attribute (not a threading.Event) so a UI can keep it in per-session state, which is
    deep-copied; setting a bool is atomic in CPython.
    """

    def __init__(self) -> None:
        self.stopped = False

    def set(self) -> None:
        self.stopped = True

    def is_set(self) -> bool:
        return self.stopped


@dataclass(frozen=True)
class Progress:
    """One report of a LoRA run: a snapshot that later steps do not change (frozen, tuples)."""

    step: int = 0
    total: int = 0
    phase: str = "starting"  # starting, loading, training, saving, done, stopped
    message: str = ""
    steps: tuple[int, ...] = ()
    losses: tuple[float, ...] = ()
    eval_steps: tuple[int, ...] = ()
    eval_losses: tuple[float, ...] = ()
    tokens: int = 0
    elapsed: float = 0.0
    run_dir: str | None = None

    def after_log(self, log: dict, elapsed: float) -> "Progress":
        """The next snapshot, after one of the trainer's log lines (a training loss and/or an eval loss)."""
        changes: dict = {"step": log["step"], "elapsed": elapsed}
        if "loss" in log:
            changes.update(steps=self.steps + (log["step"],), losses=self.losses + (float(log["loss"]),),
                           tokens=int(log.get("num_tokens", self.tokens)))
        if "eval_loss" in log:
            changes.update(eval_steps=self.eval_steps + (log["step"],),
                           eval_losses=self.eval_losses + (float(log["eval_loss"]),))
        return replace(self, **changes)

    @property
    def eta(self) -> float | None:
        if self.step < 1 or self.total <= self.step:
            return 0.0 if self.step and self.step >= self.total else None
        return self.elapsed / self.step * (self.total - self.step)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.elapsed if self.elapsed > 0 else 0.0

    def measures(self) -> list[str]:
        """What the status line shows after the loss; a subclass (DPO) shows its own."""
        evaluated = [f"eval loss {self.eval_losses[-1]:.3f}"] if self.eval_losses else []
        return evaluated + [f"{self.tokens_per_second:,.0f} tokens/s"]

    def status(self) -> str:
        if self.phase in ("starting", "loading", "saving"):
            return self.message
        parts = [f"step {self.step}/{self.total}"]
        if self.losses:
            parts.append(f"loss {self.losses[-1]:.3f}")
        parts += self.measures()
        parts.append(f"{self.elapsed:.0f} s elapsed")
        if self.phase == "training" and self.eta is not None:
            parts.append(f"ETA {self.eta:.0f} s")
        line = " · ".join(parts)
        return f"{line} · {self.message}" if self.message else line


def _make_callback(events: queue.Queue, stop: StopFlag):
    from transformers import TrainerCallback

    class QueueCallback(TrainerCallback):
        """Forwards the trainer's logs to the generator and honours the stop flag."""

        def on_train_begin(self, args, state, control, **kwargs):
            events.put(("begin", {"total": state.max_steps}))

        def on_log(self, args, state, control, logs=None, **kwargs):
            events.put(("log", {"step": state.global_step, **(logs or {})}))

        def on_step_end(self, args, state, control, **kwargs):
            if stop.is_set():
                control.should_training_stop = True

    return QueueCallback()


def build_trainer(loaded, train_examples, eval_examples, settings: TrainSettings, output_dir: str, callbacks=()):
    """trl's SFTTrainer with LoRA on `loaded.model`, completion-only loss on chat data."""
    import torch
    from datasets import Dataset
    from peft import get_peft_model, prepare_model_for_kbit_training
    from datasets.utils.logging import disable_progress_bar
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    disable_progress_bar()  # datasets' tokenizing bars would flood a terminal or server log

    cuda = torch.cuda.is_available()
    model = loaded.model
    if settings.four_bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=settings.gradient_checkpointing)
    model = get_peft_model(model, settings.lora.peft_config())
    n_eval = len(eval_examples)
    total = settings.max_steps
    if settings.epochs > 0:
        per_epoch = math.ceil(len(train_examples) / (settings.batch_size * settings.grad_accum))
        total = max(1, math.ceil(per_epoch * settings.epochs))
    config = SFTConfig(
        output_dir=output_dir,
        max_steps=total,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="constant_with_warmup",  # short runs: a decay to zero would waste the last steps
        warmup_steps=min(5, max(0, total // 10)),
        max_length=settings.max_length,
        completion_only_loss=True,  # the loss falls on the answer only (prompt-completion data)
        packing=False,
        activation_checkpointing=settings.gradient_checkpointing,  # transformers 5's name for it
        activation_checkpointing_kwargs={"use_reentrant": False},
        bf16=cuda and torch.cuda.is_bf16_supported(),  # trl defaults to bf16, which CPUs run slowly
        fp16=cuda and not torch.cuda.is_bf16_supported(),
        use_cpu=not cuda,
        logging_steps=1,
        eval_strategy="steps" if n_eval else "no",
        eval_steps=max(1, total // 5),
        save_strategy="no",  # the adapter is saved once, at the end, into the run folder
        report_to="none",
        disable_tqdm=True,
        seed=settings.seed,  # Trainer calls set_seed(seed) on torch's global generator (see the module docstring)
        data_seed=settings.seed,
        dataloader_num_workers=0,
    )
    train_ds = Dataset.from_list([data_mod.to_prompt_completion(m) for m in train_examples])
    eval_ds = Dataset.from_list([data_mod.to_prompt_completion(m) for m in eval_examples]) if n_eval else None
    trainer = SFTTrainer(model=model, args=config, train_dataset=train_ds, eval_dataset=eval_ds,
                         processing_class=loaded.tokenizer, callbacks=list(callbacks))
    trainer.remove_callback(PrinterCallback)  # progress goes through our callback, not print()
    return trainer


def save_adapter(peft_model, run_dir: Path, info: dict, examples: list[list[dict]] = ()) -> Path:
    """Adapter weights (safetensors), the training data (data.jsonl, for the exported script),
    run.json, then adapter_config.json last: the registry's marker of a finished run."""
    tmp = Path(tempfile.mkdtemp(prefix=".adapter-", dir=run_dir))
    try:
        peft_model.save_pretrained(tmp, safe_serialization=True)
        os.replace(tmp / "adapter_model.safetensors", run_dir / "adapter_model.safetensors")
        lines = "".join(json.dumps({"messages": m}, ensure_ascii=False) + "\n" for m in examples)
        atomic_write_text(run_dir / "data.jsonl", lines)
        atomic_write_json(run_dir / "run.json", info)
        config = json.loads((tmp / "adapter_config.json").read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = info["base_model"]  # "pocket" or a Hub id, not this machine's path
        atomic_write_json(run_dir / "adapter_config.json", config)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return run_dir


def _run_trainer(trainer, evaluate_at_end: bool, stop: StopFlag, events: queue.Queue, failure: list) -> None:
    """The worker thread's job: train, one last held-out loss, then an "end" event whatever happened."""
    try:
        trainer.train()
        if evaluate_at_end and not stop.is_set() and trainer.state.global_step % trainer.args.eval_steps:
            trainer.evaluate()  # a held-out loss at the very end too
    except BaseException as err:  # reported by the generator, never lost in a thread
        failure.append(err)
    finally:
        events.put(("end", {}))


def _follow(events: queue.Queue, progress: Progress) -> Iterator[Progress]:
    """A snapshot for every event from the trainer's callback, and a heartbeat twice a second (the clock
    moves, and a closed tab is noticed at the next yield)."""
    train_start = time.perf_counter()
    while True:
        try:
            kind, payload = events.get(timeout=0.5)
        except queue.Empty:
            progress = replace(progress, elapsed=time.perf_counter() - train_start)
            yield progress
            continue
        if kind == "end":
            return
        if kind == "begin":
            progress = replace(progress, total=payload["total"])
            continue
        progress = progress.after_log(payload, time.perf_counter() - train_start)
        yield progress


def _run_record(model_name: str, dataset: data_mod.Dataset, settings: TrainSettings, progress: Progress,
                seconds: float) -> dict:
    """run.json: what was trained on what, with which settings, and its loss history."""
    return {"base_model": model_name, "data": dataset.source, "examples": len(dataset.examples),
            "settings": settings.to_dict(), "steps": list(progress.steps), "losses": list(progress.losses),
            "eval_steps": list(progress.eval_steps), "eval_losses": list(progress.eval_losses),
            "stopped_early": progress.step < progress.total, "seconds": round(seconds, 1)}


def _finished(progress: Progress) -> Progress:
    stopped = progress.step < progress.total
    return replace(progress, phase="stopped" if stopped else "done",
                   message="Stopped early; the adapter learned so far is saved." if stopped else "Done; adapter saved.")


def train(model_name: str, dataset: data_mod.Dataset, settings: TrainSettings, run_dir: str | Path,
          stop: StopFlag | None = None) -> Iterator[Progress]:
    """Fine-tune `model_name` with LoRA on `dataset`, yielding Progress; the adapter lands in run_dir."""
    from core.finetune.models import load_model

    settings.validate()
    stop = stop or StopFlag()
    run_dir = Path(run_dir)
    progress = Progress(phase="loading", message=f"Loading {model_name}…", run_dir=str(run_dir))
    start = time.perf_counter()
    yield progress
    threads.set_torch_threads()
    loaded = load_model(model_name, four_bit=settings.four_bit, copy_for_training=True)
    train_examples, eval_examples = data_mod.split_holdout(dataset.examples, settings.eval_fraction, settings.seed)
    progress = replace(progress, message=(f"{loaded.describe()} Tokenizing {len(train_examples)} training and "
                                          f"{len(eval_examples)} held-out examples…"))
    yield progress

    events: queue.Queue = queue.Queue()
    output_dir = tempfile.mkdtemp(prefix="sft-")
    trainer = build_trainer(loaded, train_examples, eval_examples, settings, output_dir,
                            callbacks=[_make_callback(events, stop)])
    failure: list[BaseException] = []
    worker = threading.Thread(target=_run_trainer, args=(trainer, bool(eval_examples), stop, events, failure),
                              name="lora-train", daemon=True)
    progress = replace(progress, phase="training", message="")
    worker.start()
    try:
        for progress in _follow(events, progress):
            yield progress
    finally:
        # reached on completion, on an error, and when the consumer closes the generator (Stop)
        stop.set()
        worker.join()
        shutil.rmtree(output_dir, ignore_errors=True)
        if not failure and progress.steps:
            record = _run_record(model_name, dataset, settings, progress, time.perf_counter() - start)
            save_adapter(trainer.model, run_dir, record, dataset.examples)
    if failure:
        raise failure[0]
    yield _finished(progress)

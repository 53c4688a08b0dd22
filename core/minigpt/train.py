"""Training MiniGPT: the loop, as a generator that reports progress while it runs.

One step:  random batch -> forward -> cross-entropy loss -> backward -> clip gradients -> AdamW step

    for progress in train(text, GPTConfig(), TrainConfig(steps=500), out_dir="runs/mine"):
        print(progress.status_line())

The caller decides when to stop (break out of the loop, or pass `should_stop`): the run folder
keeps the model as of the last evaluation, and a clean stop (or closing the generator) saves the
latest weights. Learning rate: linear warmup (big early updates on random weights are unstable),
then cosine decay to a tenth (small steps at the end settle into a minimum).
"""
from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Callable, Iterator

import torch

from core import files, schedules, threads
from core.minigpt import checkpoint, sample
from core.minigpt.config import GPTConfig
from core.minigpt.data import CharDataset, EpochWindows
from core.minigpt.model import MiniGPT
from core.minigpt.muon import Muon

LOSS_CSV = "loss_history.csv"
SAMPLES_TXT = "samples.txt"

# Bounds for the app's sliders and the command line.
LIMITS = {
    "steps": (1, 20000),
    "batch_size": (1, 256),
    "learning_rate": (1e-5, 0.1),
    "warmup_steps": (0, 5000),
    "eval_every": (1, 20000),
    "sample_every": (1, 20000),
    "muon_lr": (1e-4, 0.2),
}
OPTIMIZERS = ("adamw", "muon")


@dataclass
class TrainConfig:
    """How to train (the model's shape lives in GPTConfig)."""

    steps: int = 1500
    batch_size: int = 16
    learning_rate: float = 3e-3  # AdamW's (for every parameter, or with Muon for the embeddings, head and vectors)
    optimizer: str = "adamw"  # "muon": Muon for the blocks' weight matrices (core/minigpt/muon.py), AdamW for the rest
    muon_lr: float = 0.02  # Muon's learning rate (its updates are orthogonalised, so its scale differs from AdamW's)
    short_window: int = 0  # > 0: every other step trains on windows this long instead (same tokens per step)
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1  # the cosine schedule ends at learning_rate * min_lr_ratio
    weight_decay: float = 0.1
    grad_clip: float = 1.0  # rescale gradients whose global norm exceeds this (1 spike cannot wreck the model); 0 = off
    eval_every: int = 100  # validation loss (and a checkpoint) every this many steps
    eval_batches: int = 8
    sample_every: int = 250
    sample_tokens: int = 120
    sample_prompt: str = ""  # "" = the first words of the corpus
    log_every: int = 10  # yield progress every this many steps
    seed: int = 1337
    val_fraction: float = 0.1
    bf16: bool = False  # bfloat16 autocast: faster matmuls on CPUs with AVX-512 BF16 / AMX
    threads: int | None = None  # None = core.threads.default_threads()

    def validate(self) -> None:
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name} = {value} is outside the supported range {low}..{high}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}.")

    def with_steps(self, steps: int) -> "TrainConfig":
        """The same recipe for a different run length: warmup at most a tenth of the run,
        ~15 validation points and ~6 samples whatever the length."""
        return replace(self, steps=steps, warmup_steps=min(self.warmup_steps, steps // 10),
                       eval_every=max(1, round(steps / 15)), sample_every=max(1, round(steps / 6)))

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def bf16_is_fast() -> bool:
    """True on CPUs with native bfloat16 matmuls (AVX-512 BF16 or AMX), where autocast pays off."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


# Named settings.
# "default": the guide's ~0.8M-parameter model (4 layers x 4 heads x 128 wide) memorising the built-in
# corpus, loss ~ln(V) -> < 0.1, in under a minute on a 2-core CPU (bench/minigpt_headline.py). Three
# things make it fast:
#  - Muon for the blocks' weight matrices (core/minigpt/muon.py). With AdamW instead, the same 480 steps
#    end at a loss of ~1.1 (the bench runs that baseline).
#  - Epochs of shuffled back-to-back windows (data.EpochWindows): every character is learned once per
#    pass instead of some being drawn twice and others not at all.
#  - Short windows every other step. The loss averages over every position of a window, and the
#    first characters of a window have little context: they are the last to be learned (after ~20
#    characters the corpus position is unambiguous and the loss there is ~0). Short windows give
#    4x more window starts per step. The long context (192) itself dilutes those positions: the floor
#    no model can beat (data.window_loss_floor) is 0.037 for 192-character windows of this corpus, 0.11 for 64.
# No weight decay (it would pull the memorised weights back towards zero), no gradient clipping (Muon's
# update has a fixed size anyway; the global norm costs ~10% of a step).
# "adamw": the guide's model (context 128) with the classic recipe (AdamW, warmup + cosine, clipping; its windows
# come in epochs too): 2000 steps, a few minutes, train loss ~0.1.
# "speedrun": the fastest recipe found by bench/minigpt_speedrun.py to reach validation loss 1.90 on
# Tiny Shakespeare: Muon (lr 0.04) for the blocks' matrices, bf16 autocast where the CPU has native
# bfloat16, batch 24, a schedule sized to the run (350 steps), no gradient clipping (the global norm
# cost ~10% of each step and the short warmup already keeps the early updates stable). With AdamW
# (5x the guide's learning rate, batch 20) the same bench needed ~950 steps.
PRESETS: dict[str, tuple[GPTConfig, TrainConfig]] = {
    "default": (
        GPTConfig(block_size=192, n_layer=4, n_head=4, n_embd=128, dropout=0.0),
        TrainConfig(steps=480, batch_size=16, learning_rate=5e-3, warmup_steps=30, weight_decay=0.0, grad_clip=0.0,
                    optimizer="muon", muon_lr=0.025, short_window=48, eval_every=30, sample_every=70,
                    sample_prompt="Python is", bf16=bf16_is_fast()),
    ),
    "adamw": (
        GPTConfig(block_size=128, n_layer=4, n_head=4, n_embd=128, dropout=0.0),
        TrainConfig(steps=2000, batch_size=16, learning_rate=5e-3, warmup_steps=50, weight_decay=0.0, eval_every=100,
                    sample_every=250, sample_prompt="Python is", bf16=bf16_is_fast()),
    ),
    "speedrun": (
        GPTConfig(block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0),
        TrainConfig(steps=350, batch_size=24, learning_rate=5e-3, warmup_steps=20, grad_clip=0.0, optimizer="muon",
                    muon_lr=0.04, eval_every=50, sample_every=175, bf16=bf16_is_fast()),
    ),
}


def preset(name: str) -> tuple[GPTConfig, TrainConfig]:
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
    model_config, train_config = PRESETS[name]
    return replace(model_config), replace(train_config)


def learning_rate_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup over warmup_steps, then cosine decay from learning_rate to learning_rate * min_lr_ratio:
    core.schedules' "cosine" (equal to transformers' get_scheduler), as the trainer applies it (a warmup
    step takes the rate of the next step, so step 0 already learns). Tab 8 plots this same function."""
    return schedules.trainer_learning_rate("cosine", min(step, cfg.steps), cfg.steps, cfg.learning_rate,
                                           cfg.warmup_steps, min_lr_ratio=cfg.min_lr_ratio)


def fit_short_window(cfg: TrainConfig, block_size: int) -> tuple[TrainConfig, str | None]:
    """The recipe for a context of `block_size`: short windows that are not shorter than it are turned
    off (a preset's 48 cannot work at context 16), with a note saying so; otherwise unchanged, None."""
    if cfg.short_window < block_size:
        return cfg, None
    note = (f"The short windows ({cfg.short_window}) are not shorter than the context ({block_size}): "
            "training without them.")
    return replace(cfg, short_window=0), note


def make_optimizers(model: MiniGPT, cfg: TrainConfig) -> list[torch.optim.Optimizer]:
    """AdamW for everything, or Muon for the blocks' weight matrices and AdamW for the rest.

    Every parameter group carries its own "base_lr"; the schedule multiplies it (see set_learning_rate).
    """
    hidden = []
    if cfg.optimizer == "muon":  # the matrices inside the blocks; embeddings and the head are lookups, not maps
        hidden = [p for name, p in model.named_parameters() if name.startswith("blocks.") and p.dim() == 2]
    taken = {id(p) for p in hidden}
    # Weight decay pulls matrices towards zero; biases and LayerNorm gains are left alone (as in GPT-2).
    decay = [p for p in model.parameters() if p.dim() >= 2 and id(p) not in taken]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay, "base_lr": cfg.learning_rate},
              {"params": no_decay, "weight_decay": 0.0, "base_lr": cfg.learning_rate}]
    # fused: one kernel updates every parameter (~10% faster steps at this size than the per-tensor loop)
    optimizers: list[torch.optim.Optimizer] = [torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(0.9, 0.99), fused=True)]
    if hidden:
        optimizers.append(Muon([{"params": hidden, "base_lr": cfg.muon_lr}], lr=cfg.muon_lr, weight_decay=cfg.weight_decay))
    return optimizers


def set_learning_rate(optimizers: list[torch.optim.Optimizer], step: int, cfg: TrainConfig) -> float:
    """Apply the schedule at `step` to every group (as a fraction of its base_lr); returns AdamW's rate."""
    scale = learning_rate_at(step, cfg) / cfg.learning_rate
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * scale
    return cfg.learning_rate * scale


@torch.no_grad()
def estimate_loss(model: MiniGPT, data: CharDataset, split: str, batches: int, batch_size: int, bf16: bool = False) -> float:
    """Mean loss over `batches` windows, the same windows every time (seeded) so the curve is not noisy."""
    model.eval()
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(batches):
        x, y = data.batch(split, batch_size, generator)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            losses.append(model(x, y)[1].item())
    model.train()
    return sum(losses) / len(losses)


@dataclass
class Progress:
    """What the loop reports every few steps. `train_curve`/`val_curve` hold the whole history."""

    step: int
    total_steps: int
    train_loss: float | None
    val_loss: float | None
    learning_rate: float
    tokens_per_s: float
    elapsed: float  # wall-clock seconds, with the evaluations and samples
    eta: float
    vocab_size: int
    num_params: int
    train_curve: list = field(default_factory=list)  # [(step, train loss averaged since the last report)]
    val_curve: list = field(default_factory=list)  # [(step, validation loss)]
    samples: list = field(default_factory=list)  # [(step, text)]
    new_sample: str | None = None  # set on the report that made a sample
    done: bool = False
    stop_reason: str | None = None  # why it ended early: "stopped" or a NaN message
    run_dir: Path | None = None
    train_time: float = 0.0  # seconds spent in training steps only
    epoch: int = 0  # passes over the training text so far (full-length windows)

    def snapshot(self) -> "Progress":
        """A copy that later steps do not change (the loop keeps updating its own)."""
        return replace(self, train_curve=list(self.train_curve), val_curve=list(self.val_curve), samples=list(self.samples))

    @property
    def initial_loss(self) -> float:
        """The loss of a model that guesses uniformly: ln(vocabulary size)."""
        return math.log(self.vocab_size)

    def status_line(self) -> str:
        parts = [f"step {self.step}/{self.total_steps}"]
        if self.train_loss is not None:
            parts.append(f"train loss {self.train_loss:.3f}")
        if self.val_loss is not None:
            parts.append(f"val loss {self.val_loss:.3f}")
        parts += [f"{self.tokens_per_s:,.0f} tokens/s", f"elapsed {self.elapsed:.0f} s"]
        if not self.done:
            parts.append(f"ETA {self.eta:.0f} s")
        elif self.stop_reason:
            parts.append(self.stop_reason)
        else:
            parts.append("done")
        return " · ".join(parts)


def loss_history_csv(progress: Progress) -> str:
    """step, train_loss, val_loss: one row per reported step (val_loss blank where not measured)."""
    rows = {s: [s, f"{loss:.6f}", ""] for s, loss in progress.train_curve}
    for s, loss in progress.val_curve:
        rows.setdefault(s, [s, "", ""])[2] = f"{loss:.6f}"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["step", "train_loss", "val_loss"])
    writer.writerows(rows[s] for s in sorted(rows))
    return out.getvalue()


def read_run(folder) -> Progress | None:
    """A finished run's curves rebuilt from its loss_history.csv (the inverse of loss_history_csv)."""
    folder = Path(folder)
    csv_path = folder / LOSS_CSV
    if not csv_path.is_file():
        return None
    info = checkpoint.load(folder)
    with csv_path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    train_curve = [(int(r["step"]), float(r["train_loss"])) for r in rows if r["train_loss"]]
    val_curve = [(int(r["step"]), float(r["val_loss"])) for r in rows if r["val_loss"]]
    steps = int(info.meta.get("steps_done", train_curve[-1][0] if train_curve else 0))
    return Progress(step=steps, total_steps=steps, train_loss=train_curve[-1][1] if train_curve else None,
                    val_loss=val_curve[-1][1] if val_curve else None, learning_rate=0.0, tokens_per_s=0.0,
                    elapsed=float(info.meta.get("elapsed_s", 0.0)), eta=0.0, vocab_size=info.config.vocab_size,
                    num_params=info.model.num_params(), train_curve=train_curve, val_curve=val_curve,
                    done=True, run_dir=folder)


def samples_text(progress: Progress) -> str:
    return "".join(f"=== step {s} ===\n{text}\n\n" for s, text in progress.samples)


def save_run(folder, model: MiniGPT, data: CharDataset, model_config: GPTConfig, cfg: TrainConfig, progress: Progress,
             run_info: dict | None = None) -> None:
    """Loss history and samples first, then the checkpoint (whose config.json is written last).

    `run_info` is what the caller knows about the run and the trainer does not (e.g. the preset's name and
    the corpus's): stored as-is in the meta, so a run can later be named by what it is."""
    folder = Path(folder)
    files.atomic_write_text(folder / LOSS_CSV, loss_history_csv(progress))
    files.atomic_write_text(folder / SAMPLES_TXT, samples_text(progress))
    meta = {
        "steps_done": progress.step,
        "train_loss": progress.train_loss,
        "val_loss": progress.val_loss,
        "elapsed_s": round(progress.elapsed, 1),
        "train_config": asdict(cfg),
        "stop_reason": progress.stop_reason,
        "total_steps": progress.total_steps,
        "run_info": dict(run_info or {}),
    }
    checkpoint.save(folder, model, data.tokenizer, meta)


def zip_run(folder) -> Path:
    """The run folder as one .zip beside it (weights, config, loss history, samples) for download."""
    import zipfile

    folder = Path(folder)
    target = folder.with_name(folder.name + ".zip")

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in (LOSS_CSV, SAMPLES_TXT, checkpoint.WEIGHTS, checkpoint.CONFIG):
                if (folder / name).is_file():
                    zf.write(folder / name, f"{folder.name}/{name}")

    if not (folder / checkpoint.CONFIG).is_file():
        raise ValueError("This run has no saved checkpoint yet: train for a few steps first.")
    return files.atomic_write(target, write)


def _sample_prompt(cfg: TrainConfig, text: str, tokenizer) -> list[int]:
    prompt = cfg.sample_prompt if cfg.sample_prompt and not tokenizer.unknown(cfg.sample_prompt) else text[:16]
    return tokenizer.encode(prompt)


@dataclass
class _Run:
    """What one training run keeps between steps (private to train())."""

    cfg: TrainConfig
    data: CharDataset
    model: MiniGPT
    optimizers: list
    windows: EpochWindows  # full-length windows, epoch by epoch
    short: EpochWindows | None  # short windows for every other step (cfg.short_window), or None
    short_batch: int
    prompt: list[int]  # what the samples continue
    progress: Progress
    out_dir: Path | None
    run_info: dict | None
    start: float = field(default_factory=time.perf_counter)
    train_time: float = 0.0  # seconds in training steps only
    tokens_seen: int = 0
    running: float = 0.0  # full-window losses summed since the last report...
    running_n: int = 0  # ...and how many


def _dataset(text: str, block_size: int, cfg: TrainConfig, tokenizer, val_text: str | None) -> CharDataset:
    """The corpus as tokens. With `val_text` (core.pipeline's own held-out text), all of `text` is trained
    on and `val_text` is the validation split; each must hold at least one window of block_size + 1 tokens."""
    data = CharDataset(text, block_size, cfg.val_fraction, tokenizer)
    if val_text is not None:
        data.train = torch.tensor(data.tokenizer.encode(text), dtype=torch.long)
        data.val = torch.tensor(data.tokenizer.encode(val_text), dtype=torch.long)
        for name, part in (("training", data.train), ("validation", data.val)):
            if len(part) < block_size + 1:
                raise ValueError(f"The {name} text is {len(part)} tokens long; a context of {block_size} needs at "
                                 f"least {block_size + 1}. Use a longer text or a smaller context.")
    return data


def _start_run(text: str, model_config: GPTConfig, cfg: TrainConfig, out_dir, run_info: dict | None,
               tokenizer=None, val_text: str | None = None) -> _Run:
    """Check the settings, then build the data, the model, the optimizers and the window streams."""
    cfg.validate()
    if cfg.short_window and not 8 <= cfg.short_window < model_config.block_size:
        raise ValueError(f"short_window = {cfg.short_window} must be 0 (off) or from 8 to less than the context "
                         f"({model_config.block_size}).")
    threads.set_torch_threads(cfg.threads)
    data = _dataset(text, model_config.block_size, cfg, tokenizer, val_text)
    model_config = replace(model_config, vocab_size=data.tokenizer.vocab_size)
    model = MiniGPT(model_config, seed=cfg.seed)  # its weights and dropout masks come from cfg.seed
    batches = torch.Generator().manual_seed(cfg.seed)  # the data order: private too, never the global generator
    windows = EpochWindows(data.train, model_config.block_size, batches)
    # Short windows: the first characters of a window are the hardest (little context), and the loss
    # averages over all positions. Every other step, cut the same number of tokens into shorter windows:
    # more window starts, so more practice at predicting from little context.
    short, short_batch = None, 0
    if cfg.short_window:  # check_corpus leaves at least one full window of training text, so this fits
        short = EpochWindows(data.train, cfg.short_window, batches)
        short_batch = max(1, cfg.batch_size * model_config.block_size // cfg.short_window)
    progress = Progress(step=0, total_steps=cfg.steps, train_loss=None, val_loss=None,
                        learning_rate=learning_rate_at(0, cfg), tokens_per_s=0.0, elapsed=0.0, eta=0.0,
                        vocab_size=model_config.vocab_size, num_params=model.num_params(),
                        run_dir=Path(out_dir) if out_dir else None)
    return _Run(cfg, data, model, make_optimizers(model, cfg), windows, short, short_batch,
                _sample_prompt(cfg, text, data.tokenizer), progress, Path(out_dir) if out_dir else None, run_info)


def _evaluate_and_save(run: _Run, step: int) -> None:
    """Validation loss on the curve; with a run folder, the run saved as of now."""
    p, cfg = run.progress, run.cfg
    p.val_loss = estimate_loss(run.model, run.data, "val", cfg.eval_batches, cfg.batch_size, cfg.bf16)
    p.val_curve.append((step, p.val_loss))
    if run.out_dir:
        save_run(run.out_dir, run.model, run.data, run.model.config, cfg, p, run.run_info)


def untrained_loss(text: str, model_config: GPTConfig, cfg: TrainConfig) -> float:
    """The training loss a run of these settings starts at (its curve's step 0), without training: the same
    seeded weights, measured on the same windows as `_measure_untrained`. A fresh model spreads its guesses
    almost evenly, so this sits near ln(vocab_size)."""
    cfg.validate()
    threads.set_torch_threads(cfg.threads)
    data = _dataset(text, model_config.block_size, cfg, None, None)
    model = MiniGPT(replace(model_config, vocab_size=data.tokenizer.vocab_size), seed=cfg.seed)
    return estimate_loss(model, data, "train", cfg.eval_batches, cfg.batch_size, cfg.bf16)


def _measure_untrained(run: _Run) -> None:
    """Step 0: the untrained model's loss, ~ln(vocab_size) on both splits."""
    cfg = run.cfg
    run.progress.train_loss = estimate_loss(run.model, run.data, "train", cfg.eval_batches, cfg.batch_size, cfg.bf16)
    run.progress.train_curve.append((0, run.progress.train_loss))
    _evaluate_and_save(run, 0)


def _train_step(run: _Run, full_length: bool) -> float:
    """One optimisation step on the next batch; returns its loss (and skips the update when it is not finite)."""
    t0 = time.perf_counter()
    x, y = run.windows.batch(run.cfg.batch_size) if full_length else run.short.batch(run.short_batch)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=run.cfg.bf16):
        _, loss = run.model(x, y)
    value = loss.item()
    if not math.isfinite(value):
        return value
    for optimizer in run.optimizers:
        optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if run.cfg.grad_clip > 0:  # the norm over every gradient costs ~10% of a step at this size
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.cfg.grad_clip)
    for optimizer in run.optimizers:
        optimizer.step()
    run.train_time += time.perf_counter() - t0
    run.tokens_seen += x.numel()
    if full_length:  # the curve shows full-context windows only (short ones have a higher floor)
        run.running += value
        run.running_n += 1
    return value


def _nan_stop(run: _Run, loss: float, step: int) -> Progress:
    """The final report of a run whose loss diverged; its folder keeps the last good (evaluated) weights."""
    p = run.progress
    p.done = True
    p.stop_reason = f"stopped: the loss became {loss} at step {step}; try a smaller learning rate"
    p.elapsed = time.perf_counter() - run.start
    return p.snapshot()


def _add_sample(run: _Run, step: int) -> None:
    """A short continuation of the sample prompt, so the learner sees what the model writes by now."""
    new = sample.generate_ids(run.model, run.prompt, run.cfg.sample_tokens, temperature=0.8, seed=run.cfg.seed)
    run.progress.new_sample = run.data.tokenizer.decode(run.prompt + list(new))
    run.progress.samples.append((step, run.progress.new_sample))
    run.model.train()  # generate_ids put it in eval mode


def _report(run: _Run, step: int, lr: float, make_sample: bool, last: bool, stopped: bool) -> None:
    """Bring the progress up to `step`: the mean training loss since the last report, a sample, the clock."""
    p = run.progress
    p.step, p.learning_rate = step, lr
    if run.running_n:
        p.train_loss = run.running / run.running_n
        p.train_curve.append((step, p.train_loss))
    run.running, run.running_n = 0.0, 0
    p.new_sample = None
    if make_sample:
        _add_sample(run, step)
    p.done, p.stop_reason = last, "stopped" if stopped else None
    p.elapsed = time.perf_counter() - run.start
    p.tokens_per_s = run.tokens_seen / run.train_time
    p.train_time = run.train_time
    p.epoch = run.windows.epoch
    p.eta = p.elapsed / step * (run.cfg.steps - step)


def _save_on_close(run: _Run) -> None:
    """The consumer closed the generator (Stop button, closed tab): keep what was learned so far."""
    if run.out_dir and run.progress.step > 0:
        run.progress.done, run.progress.stop_reason = True, "stopped"
        save_run(run.out_dir, run.model, run.data, run.model.config, run.cfg, run.progress, run.run_info)


def train(text: str, model_config: GPTConfig, cfg: TrainConfig, out_dir=None,
          should_stop: Callable[[], bool] | None = None, run_info: dict | None = None, tokenizer=None,
          val_text: str | None = None) -> Iterator[Progress]:
    """Train a fresh MiniGPT on `text`, yielding Progress every cfg.log_every steps and at the end.

    model_config.vocab_size is replaced by the corpus's vocabulary size. With `out_dir`, the run is
    saved there at every evaluation and at the end: weights + config.json, loss_history.csv, samples.txt;
    `run_info` (JSON-able, e.g. {"preset": "default", "corpus": "built-in"}) goes into its meta as is.
    Every random draw (weights, dropout, data order, samples) comes from generators seeded by cfg.seed,
    so a run gives the same losses whatever else runs in the process at the same time.
    `tokenizer` (default: the characters of `text`) may be a BPETokenizer; `val_text` see _dataset.
    """
    run = _start_run(text, model_config, cfg, out_dir, run_info, tokenizer, val_text)
    _measure_untrained(run)
    yield run.progress.snapshot()

    run.model.train()
    try:
        for step in range(1, cfg.steps + 1):
            lr = set_learning_rate(run.optimizers, step - 1, cfg)
            full_length = run.short is None or step % 2 == 1  # with short windows, every other step
            loss = _train_step(run, full_length)
            if not math.isfinite(loss):
                yield _nan_stop(run, loss, step)
                return

            stopping = should_stop is not None and should_stop()
            last = step == cfg.steps or stopping
            evaluate = step % cfg.eval_every == 0 or last
            make_sample = step % cfg.sample_every == 0 or last
            if not (step % cfg.log_every == 0 or evaluate or make_sample):
                continue
            _report(run, step, lr, make_sample, last, stopped=stopping and step < cfg.steps)
            if evaluate:
                _evaluate_and_save(run, step)
            yield run.progress.snapshot()
            if stopping:
                return
    except GeneratorExit:
        _save_on_close(run)
        raise

"""Several short MiniGPT runs as one job: a learning-rate sweep, and overfitting made visible.

    for snap in learning_rate_sweep(text, [1e-4, 1e-3, 1e-2], steps=150):
        print(snap.status_line())             # snap.runs[i].train_curve, .val_curve, .final_loss ...

Both are generators that `core.jobs.stream` runs in a worker (one learner = one job, whatever the
number of runs inside): they yield a `Series` snapshot every few steps of the run in progress, poll
`should_stop()` through core.minigpt.train (a stop ends the whole series with a normal last report),
and, given `out_dir`, write the series as series.json there (atomically) after every run and at the end,
so a reload shows it again (`read_series`). Models are small and runs short: the whole sweep takes less
time than one default run of tab 4 (bench/sweep_vs_default.py measures both).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

from core import files

SERIES_JSON = "series.json"
SWEEP_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)  # the choices the tab offers: three decades
LIMITS = {"sweep_steps": (20, 400), "sweep_runs": (2, 6), "overfit_steps": (50, 600), "train_chars": (1000, 7000),
          "dropout": (0.0, 0.5)}
HELD_OUT_CHARS = 1500  # the overfitting runs all validate on the same last characters of the corpus
# the tab's defaults, which `python -m core sweep` also uses to make the shipped example series
DEFAULT_RATES = (1e-4, 1e-3, 1e-2, 3e-2, 1e-1)
DEFAULT_SWEEP_STEPS, DEFAULT_OVERFIT_STEPS, DEFAULT_TRAIN_CHARS, DEFAULT_DROPOUT = 150, 300, 3000, 0.2
EXAMPLES_DIR = "examples"  # under the shipped checkpoints folder: examples/sweep, examples/overfitting


@dataclass
class Run:
    """One run of a series: what it is and its curves so far (plain data: it crosses a Pipe and goes to JSON)."""

    label: str
    learning_rate: float
    dropout: float
    train_chars: int
    steps_done: int = 0
    train_curve: list = field(default_factory=list)  # [(step, mean training loss since the last report)]
    val_curve: list = field(default_factory=list)  # [(step, validation loss)]
    diverged: str | None = None  # the trainer's message when the loss became NaN/inf
    initial_loss: float | None = None  # ln(vocabulary size): a model that guesses uniformly

    @property
    def final_loss(self) -> float | None:
        return self.train_curve[-1][1] if self.train_curve else None

    @property
    def final_val_loss(self) -> float | None:
        return self.val_curve[-1][1] if self.val_curve else None


@dataclass
class Series:
    kind: str  # "sweep" or "overfitting"
    runs: list
    steps: int  # per run
    current: int = 0  # index of the run in progress
    done: bool = False
    stop_reason: str | None = None  # "stopped" when the learner pressed Stop
    elapsed: float = 0.0
    num_params: int = 0
    run_dir: str | None = None

    def status_line(self) -> str:
        run = self.runs[min(self.current, len(self.runs) - 1)]
        if self.done:
            finished = sum(r.steps_done == self.steps or r.diverged is not None for r in self.runs)
            end = "stopped" if self.stop_reason else "done"
            return f"{end}: {finished} of {len(self.runs)} runs finished · {self.elapsed:.0f} s"
        left = self.elapsed / max(1, self.steps_in_total_done()) * (self.steps * len(self.runs) - self.steps_in_total_done())
        return (f"run {self.current + 1}/{len(self.runs)} ({run.label}) · step {run.steps_done}/{self.steps} · "
                f"elapsed {self.elapsed:.0f} s · ETA {left:.0f} s")

    def steps_in_total_done(self) -> int:
        return sum(r.steps_done for r in self.runs)

    def snapshot(self) -> "Series":
        return replace(self, runs=[replace(r, train_curve=list(r.train_curve), val_curve=list(r.val_curve))
                                   for r in self.runs])


def sweep_shape(vocab_size: int = 65):
    """The sweep's model: 2 layers x 64 wide, context 64 (~110k parameters): a run of 150 steps takes seconds."""
    from core.minigpt.config import GPTConfig

    return GPTConfig(vocab_size=vocab_size, block_size=64, n_layer=2, n_head=2, n_embd=64, dropout=0.0)


def sweep_recipe(steps: int, learning_rate: float):
    """AdamW with warmup + cosine (core.schedules) and the usual clipping at 1.0: only the rate changes."""
    from core.minigpt.train import TrainConfig

    return TrainConfig(steps=steps, batch_size=16, learning_rate=learning_rate, warmup_steps=max(1, steps // 10),
                       weight_decay=0.0, grad_clip=1.0, eval_every=max(1, steps // 5), eval_batches=4,
                       sample_every=10 * steps, sample_tokens=1, log_every=max(1, steps // 30), threads=None)


def overfit_shape(vocab_size: int = 65, dropout: float = 0.0):
    """Too big for a few thousand characters: 4 layers x 128 wide (~0.8M parameters), context 64."""
    from core.minigpt.config import GPTConfig

    return GPTConfig(vocab_size=vocab_size, block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=dropout)


def overfit_recipe(steps: int, val_fraction: float):
    from core.minigpt.train import TrainConfig

    return TrainConfig(steps=steps, batch_size=16, learning_rate=2e-3, warmup_steps=max(1, steps // 20),
                       weight_decay=0.0, grad_clip=1.0, eval_every=max(10, steps // 12), eval_batches=8,
                       sample_every=10 * steps, sample_tokens=1, log_every=max(1, steps // 30),
                       val_fraction=val_fraction)


def _in_range(name: str, value: float, label: str) -> None:
    low, high = LIMITS[name]
    if not low <= value <= high:
        raise ValueError(f"{label} = {value:g} is outside the supported range {low:g}..{high:g}.")


def check_rates(learning_rates) -> list[float]:
    """The sweep's rates, sorted; refused unless 2 to 6 distinct rates inside the trainer's bounds."""
    from core.minigpt.train import LIMITS as TRAIN_LIMITS

    rates = sorted({float(r) for r in learning_rates or ()})
    low, high = LIMITS["sweep_runs"]
    if not low <= len(rates) <= high:
        raise ValueError(f"Pick {low} to {high} learning rates for the sweep (you picked {len(rates)}).")
    lo, hi = TRAIN_LIMITS["learning_rate"]
    bad = [r for r in rates if not (math.isfinite(r) and lo <= r <= hi)]
    if bad:
        raise ValueError(f"The learning rate {bad[0]:g} is outside the trainer's range {lo:g}..{hi:g}.")
    return rates


def _run_one(series: Series, index: int, text: str, model_config, cfg, should_stop, start: float) -> Iterator[Series]:
    """One run of the series through the MiniGPT trainer, copying its curves into series.runs[index]."""
    from core.minigpt import train

    run = series.runs[index]
    for progress in train.train(text, model_config, cfg, should_stop=should_stop):
        run.steps_done, run.initial_loss = progress.step, progress.initial_loss
        run.train_curve, run.val_curve = list(progress.train_curve), list(progress.val_curve)
        series.num_params = max(series.num_params, progress.num_params)
        series.elapsed = time.perf_counter() - start
        if progress.stop_reason == "stopped":
            series.stop_reason = "stopped"
        elif progress.stop_reason:  # the loss became NaN or infinite: this rate diverged
            run.diverged = progress.stop_reason
        if not progress.done:
            yield series.snapshot()


def _series(series: Series, plans: list, should_stop: Callable[[], bool] | None, out_dir) -> Iterator[Series]:
    """Run `plans` [(text, model_config, cfg)] one after another as one job; the last yield is done=True."""
    start = time.perf_counter()
    for index, (text, model_config, cfg) in enumerate(plans):
        series.current = index
        yield from _run_one(series, index, text, model_config, cfg, should_stop, start)
        if out_dir:
            save_series(out_dir, series)
        if series.stop_reason:
            break
    series.done, series.elapsed = True, time.perf_counter() - start
    if out_dir:
        save_series(out_dir, series)
    yield series.snapshot()


def check_sweep(text: str, learning_rates, steps: int) -> tuple[list[float], object, list]:
    """ValueError unless the sweep can run; else (sorted rates, model config, [TrainConfig per rate])."""
    from core.minigpt import data

    _in_range("sweep_steps", steps, "Steps per run")
    rates = check_rates(learning_rates)
    data.check_corpus(text, sweep_shape().block_size)
    return rates, sweep_shape(len(set(text))), [sweep_recipe(steps, r) for r in rates]


def learning_rate_sweep(text: str, learning_rates, steps: int = 150, should_stop: Callable[[], bool] | None = None,
                        out_dir=None) -> Iterator[Series]:
    """The same small MiniGPT trained `steps` steps at each learning rate (same seed, same batches)."""
    rates, model_config, recipes = check_sweep(text, learning_rates, steps)
    runs = [Run(label=f"lr {r:g}", learning_rate=r, dropout=0.0, train_chars=len(text)) for r in rates]
    series = Series("sweep", runs, steps, run_dir=str(out_dir) if out_dir else None)
    yield from _series(series, [(text, model_config, cfg) for cfg in recipes], should_stop, out_dir)


def overfit_texts(text: str, train_chars: int) -> tuple[str, str, str]:
    """(small training text, 4x as much, held-out text): the last HELD_OUT_CHARS characters are held out
    from both, so every run is validated on exactly the same characters."""
    if len(text) < 4 * train_chars + HELD_OUT_CHARS:
        raise ValueError(f"The corpus has {len(text):,} characters; this lab needs at least "
                         f"{4 * train_chars + HELD_OUT_CHARS:,} (4 x {train_chars:,} to train on and "
                         f"{HELD_OUT_CHARS:,} held out): choose fewer training characters.")
    held_out = text[-HELD_OUT_CHARS:]
    return text[:train_chars], text[:4 * train_chars], held_out


def check_overfit(text: str, steps: int, train_chars: int, dropout: float) -> None:
    _in_range("overfit_steps", steps, "Steps per run")
    _in_range("train_chars", train_chars, "Training characters")
    _in_range("dropout", dropout, "Dropout")
    if dropout == 0:
        raise ValueError("Choose a dropout above 0 for the second run (0 would repeat the first one).")
    overfit_texts(text, train_chars)


def overfitting_runs(text: str, steps: int = 300, train_chars: int = 3000, dropout: float = 0.2,
                     should_stop: Callable[[], bool] | None = None, out_dir=None) -> Iterator[Series]:
    """A model too big for `train_chars` characters, three ways: as is, with dropout, and with 4x the text."""
    check_overfit(text, steps, train_chars, dropout)
    small, large, held_out = overfit_texts(text, train_chars)
    runs = [Run(f"{train_chars:,} characters", 2e-3, 0.0, train_chars),
            Run(f"{train_chars:,} characters, dropout {dropout:g}", 2e-3, dropout, train_chars),
            Run(f"{4 * train_chars:,} characters", 2e-3, 0.0, 4 * train_chars)]
    plans = []
    for run, body in zip(runs, (small, small, large)):
        corpus = body + held_out  # the trainer validates on the last val_fraction of its text: the held-out part
        # (+ 0.5 character: CharDataset rounds the split down, and 1500 / 4500 * 4500 may be 1499.99...)
        plans.append((corpus, overfit_shape(dropout=run.dropout), overfit_recipe(steps, (HELD_OUT_CHARS + 0.5) / len(corpus))))
    series = Series("overfitting", runs, steps, run_dir=str(out_dir) if out_dir else None)
    yield from _series(series, plans, should_stop, out_dir)


# ---------- what the curves say ----------

def verdicts(series: Series) -> list[str]:
    """For a sweep: each rate's story told by its own curve, against the best final loss of the sweep.

    "diverges": the loss became NaN, or ended above where it started (ln V); "about right": within 10% of
    the best final loss; otherwise "too low" (slower than the best, below its rate) or "too high"."""
    finals = [r.final_loss for r in series.runs]
    usable = [(f, r.learning_rate) for f, r in zip(finals, series.runs)
              if f is not None and r.diverged is None and f < r.initial_loss]
    if not usable:
        return ["diverges" if r.diverged else "not run" for r in series.runs]
    best, best_rate = min(usable)
    out = []
    for final, run in zip(finals, series.runs):
        if run.diverged or (final is not None and final >= run.initial_loss):
            out.append("diverges")
        elif final is None or run.steps_done < series.steps:
            out.append("not finished")
        elif final <= 1.1 * best:
            out.append("about right")
        else:
            out.append("too low" if run.learning_rate < best_rate else "too high")
    return out


def lowest_rate(series: Series) -> float | None:
    """The learning rate whose run ended with the lowest training loss (a diverged run never wins), once every
    run of the series has finished; None while one has not (a stopped or running series)."""
    if not series.done or any(r.steps_done < series.steps and r.diverged is None for r in series.runs):
        return None
    finished = [(r.final_loss, r.learning_rate) for r in series.runs if r.diverged is None and r.final_loss is not None]
    return min(finished)[1] if finished else None


def passes_over_text(steps: int, train_chars: int) -> dict:
    """How often the overfitting lab's first run sees each of its training characters: every step predicts
    batch x context characters (overfit_recipe, overfit_shape), spread over a text of `train_chars`."""
    _in_range("overfit_steps", steps, "Steps per run")
    _in_range("train_chars", train_chars, "Training characters")
    batch, context = overfit_recipe(steps, 0.1).batch_size, overfit_shape().block_size
    predicted = steps * batch * context
    return {"batch_size": batch, "context": context, "predicted": predicted, "passes": predicted / train_chars}


def generalisation_gaps(series: Series) -> list[float | None]:
    """Validation minus training loss at the end of each run (the overfitting lab's one number per run).
    The training loss is the mean over the last report's steps; validation is measured at the same step."""
    gaps = []
    for run in series.runs:
        gaps.append(run.final_val_loss - run.final_loss if run.val_curve and run.train_curve else None)
    return gaps


# ---------- saving and reading back ----------

def save_series(folder, series: Series) -> None:
    files.atomic_write_json(Path(folder) / SERIES_JSON, asdict(series))


def read_series(folder) -> Series | None:
    path = Path(folder) / SERIES_JSON
    if not path.is_file():
        return None
    import json

    raw = json.loads(path.read_text(encoding="utf-8"))
    runs = [Run(**{**r, "train_curve": [tuple(p) for p in r["train_curve"]],
                   "val_curve": [tuple(p) for p in r["val_curve"]]}) for r in raw.pop("runs")]
    return Series(runs=runs, **raw)


def shipped_series(kind: str) -> Series | None:
    """The example series of `kind` shipped with the app (made by `python -m core sweep`), or None."""
    from core import sessions

    return read_series(Path(sessions.CHECKPOINTS_DIR) / EXAMPLES_DIR / kind)


def latest_series(user_folder, kind: str) -> Series | None:
    """The learner's newest series of `kind` ("sweep" or "overfitting") that wrote its file, or None."""
    parent = Path(user_folder) / kind
    folders = sorted((p for p in parent.iterdir() if (p / SERIES_JSON).is_file()), key=lambda p: p.stat().st_mtime,
                     reverse=True) if parent.is_dir() else []
    return read_series(folders[0]) if folders else None

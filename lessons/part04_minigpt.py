"""Tab: MiniGPT: a GPT built and trained from scratch (Part 4). UI only; core.minigpt computes.

The model for a tab with a long job. Two labs, one builder each (`_train_lab`, `_generate_lab`); handlers
are module-level functions that take keyword arguments and return (or yield) a dict of named outputs
(`lessons.common.named_event` wires them), so tests and benches call exactly what the browser runs.

A job starts in two steps: `prepare_training` checks every input, the server's caps, the learner's disk
quota and that they have no other run going (in any tab), then creates the run folder (its only outputs
are two gr.State, so a refused start shows one message and marks no component "Error"); `run_training`
then trains in a worker process (core.jobs: lower CPU priority, memory and wall-clock limits, stopped
when nobody watches) and streams what it yields. Stop is core.stop_requests' marker file in the run
folder, which the worker checks every step: the run ends with a normal last report, "stopped at step N,
saved as ...".

Importing this module does not import torch: core.minigpt's train/sample/checkpoint/data are imported
inside the handlers that train or sample (the app starts in about the time of a bare Gradio app).
"""
from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import gradio as gr
import plotly.graph_objects as go

from core import caps, jobs, quotas, registry, sessions, stop_requests, text_input, threads
from core import probability as P
from core import quiz as Q
from core.minigpt.config import LIMITS, GPTConfig
from lessons import board
from lessons.check import end_of_tab_check, prediction
from lessons.common import (LessonContext, checkpoint_choices, checkpoint_dropdown, checkpoint_id, checkpoint_listing,
                            learner_error, lesson_text, markdown, named_event, shows_errors, stop_button_after_press,
                            try_this)
from lessons.plots import PALETTE, loss_curves
from lessons.tokens import label_text

CORPUS_CHOICES = [("Built-in corpus", text_input.BUILTIN), ("Paste text", text_input.PASTE),
                  ("Upload a .txt file", text_input.UPLOAD)]
PRESET_LABELS = {"default": "Guide's model, memorise fast (Muon)",
                 "adamw": "Guide's model, classic AdamW (2000 steps, a few minutes)",
                 "speedrun": "Speedrun (fastest to val loss 1.9 on Tiny Shakespeare: upload it to reproduce)"}
OPTIMIZER_LABELS = [("AdamW", "adamw"), ("Muon (matrices) + AdamW (the rest)", "muon")]
# The architecture choice: "llama-gqa" is Llama style with grouped-query attention, two query heads per
# key/value head (core.minigpt.config.GPTConfig.arch and n_kv_head)
ARCH_LABELS = [("GPT-2 style (the guide's)", "gpt2"), ("Llama style (RoPE, RMSNorm, SwiGLU, no biases)", "llama"),
               ("Llama style + grouped-query attention (2 heads per key/value head)", "llama-gqa")]
ARCH_INFO = ("Llama style, as in today's open models: RoPE rotates queries and keys (no position table), RMSNorm, "
             "a gated SwiGLU MLP (hidden ≈ 8/3 × width: the same budget), no biases. Grouped-query attention: fewer "
             "key/value heads, a smaller KV cache.")
ARCH_NAMES = {"gpt2": "GPT-2 style", "llama": "Llama style", "llama-gqa": "Llama style + GQA"}
MAX_PROMPT_CHARS = 2000
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes a signed 64-bit integer
STREAM_EVERY_S = 0.05  # push streamed text to the browser at most ~20 times a second
TRAIN_LABEL, TRAINING_LABEL, STOP_LABEL, STOPPING_LABEL = "Train", "Training…", "Stop", "Stopping…"


# ---------- settings as named values ----------

@dataclass(frozen=True)
class Hyper:
    """Lab 1's hyperparameters, one field per widget (the widgets are built from these names)."""

    n_layer: int
    n_head: int
    n_embd: int
    block_size: int
    batch_size: int
    learning_rate: float
    steps: int
    dropout: float
    bf16: bool
    optimizer: str
    short_window: int
    arch: str = "gpt2"  # a value of ARCH_LABELS

    @classmethod
    def of_preset(cls, name: str) -> "Hyper":
        from core.minigpt import train

        m, t = train.preset(name)
        return cls(n_layer=m.n_layer, n_head=m.n_head, n_embd=m.n_embd, block_size=m.block_size,
                   batch_size=t.batch_size, learning_rate=t.learning_rate, steps=t.steps, dropout=m.dropout,
                   bf16=t.bf16, optimizer=t.optimizer, short_window=t.short_window, arch=arch_choice(m))

    @classmethod
    def from_values(cls, **values) -> "Hyper":
        """The widgets' values as typed settings; an emptied number box is refused by name."""
        empty = [name for name in cls.__dataclass_fields__ if values.get(name) is None and name not in ("bf16", "arch")]
        if empty:
            raise ValueError(f"Give {empty[0].replace('_', ' ')} a value (it is empty).")
        whole = {name: int(values[name]) for name in ("n_layer", "n_head", "n_embd", "block_size", "batch_size",
                                                      "steps", "short_window")}
        return cls(**whole, learning_rate=float(values["learning_rate"]), dropout=float(values["dropout"]),
                   bf16=bool(values.get("bf16")), optimizer=str(values["optimizer"]),
                   arch=str(values.get("arch") or "gpt2"))

    def model_config(self, vocab_size: int = 65) -> GPTConfig:
        return shape_config(self.arch, vocab_size=max(2, vocab_size), block_size=self.block_size,
                            n_layer=self.n_layer, n_head=self.n_head, n_embd=self.n_embd, dropout=self.dropout)

    def recipe(self, preset: str, own_text: bool):
        """The preset's TrainConfig with these settings; (config, a note when short windows had to go)."""
        from core.minigpt import train

        _, base = train.preset(preset if preset in train.PRESETS else "default")
        cfg = replace(base.with_steps(self.steps), batch_size=self.batch_size, learning_rate=self.learning_rate,
                      bf16=self.bf16, optimizer=self.optimizer, short_window=self.short_window,
                      log_every=max(1, min(10, self.steps // 20)))
        if own_text:
            cfg = replace(cfg, sample_prompt="")  # the first words of the learner's own text
        cfg, note = train.fit_short_window(cfg, self.block_size)
        cfg.validate()
        return cfg, note

    def is_preset(self, name: str) -> bool:
        """The preset's own settings (run length aside: every recipe scales to the steps asked for)."""
        try:
            return replace(self, steps=0) == replace(Hyper.of_preset(name), steps=0)
        except ValueError:
            return False


def shape_config(arch: str, **shape) -> GPTConfig:
    """The GPTConfig of an ARCH_LABELS choice and a shape (ValueError, worded for the learner, if it cannot work)."""
    if arch not in ARCH_NAMES:
        raise ValueError(f"Unknown architecture {arch!r}; choose one of the list.")
    if arch != "llama-gqa":
        return GPTConfig(**shape, arch=arch)
    if shape["n_head"] % 2:
        raise ValueError(f"Grouped-query attention here lets 2 heads share each key/value head: {shape['n_head']} "
                         "heads cannot be paired. Choose an even number of heads.")
    return GPTConfig(**shape, arch="llama", n_kv_head=shape["n_head"] // 2)


def arch_choice(config: GPTConfig) -> str:
    """The ARCH_LABELS value of a config (a GQA ratio other than 2 is still shown as grouped-query attention)."""
    if config.arch == "gpt2":
        return "gpt2"
    return "llama" if config.kv_heads == config.n_head else "llama-gqa"


@dataclass(frozen=True)
class Plan:
    """A checked training job, handed from prepare_training to run_training through a gr.State."""

    text: str
    model: GPTConfig
    recipe: object  # core.minigpt.train.TrainConfig (its module imports torch, so not named here)
    run_info: dict
    run_dir: str
    compare_dir: str | None = None  # the learner's run of the other architecture on the same corpus, overlaid


def corpus_name(source: str, upload: str | None, text: str) -> str:
    """How a run's corpus is named in its label."""
    if source == text_input.UPLOAD:
        return Path(upload).name
    if source == text_input.PASTE:
        return f"pasted text ({len(text):,} characters)"
    return "built-in corpus"


def _vocab_size(source: str, pasted: str | None, upload: str | None) -> int | None:
    """Distinct characters of the chosen corpus, or None while it cannot be read."""
    try:
        return len(set(text_input.learner_text(source, pasted, upload))) or None
    except ValueError:
        return None


def megabytes(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def size_summary(source, pasted, upload, n_layer, n_head, n_embd, block_size, dropout, batch_size,
                 optimizer="adamw", arch="gpt2") -> str:
    """Live parameter count (of the chosen architecture, and of the other one for comparison) and
    training-memory estimate for the chosen shape and corpus (never raises: a shape that cannot work is
    said here, while the learner is still choosing)."""
    vocab = _vocab_size(source, pasted, upload)
    try:
        shape = dict(vocab_size=vocab or 65, block_size=int(block_size), n_layer=int(n_layer), n_head=int(n_head),
                     n_embd=int(n_embd), dropout=float(dropout))
        config = shape_config(arch or "gpt2", **shape)
        batch_size = int(batch_size)
    except (TypeError, ValueError) as err:
        return f"⚠️ {err}" if isinstance(err, ValueError) else "⚠️ Give every size a value."
    mem = config.memory_estimate(batch_size, optimizer)
    state = "Muon momentum + AdamW moments" if optimizer == "muon" else "AdamW moments"
    vocab_note = f"vocabulary of {vocab} characters" if vocab else "vocabulary of 65 characters (no corpus yet)"
    other = "llama" if config.arch == "gpt2" else "gpt2"
    versus = f"{ARCH_NAMES[arch or 'gpt2']}; {ARCH_NAMES[other]}: {shape_config(other, **shape).num_params():,}"
    return (f"**{config.num_params():,} parameters** ({versus}; {vocab_note}) · training memory ≈ **{megabytes(mem['total'])}**: "
            f"weights {megabytes(mem['weights'])}, gradients {megabytes(mem['gradients'])}, "
            f"{state} {megabytes(mem['optimizer'])}, activations {megabytes(mem['activations'])} "
            f"at batch {batch_size} × context {int(block_size)}")


def preset_values(preset: str) -> dict:
    """A preset as {hyperparameter name: value}, for the widgets of the same names."""
    return asdict(Hyper.of_preset(preset))


# ---------- what Lab 1 shows about a run ----------

def loss_figure(progress=None, title: str = "Loss while training", per: str = "character",
                compare: "Comparison | None" = None) -> go.Figure:
    """`progress` is a core.minigpt.train.Progress (live or read back from a run folder); `per`: what one
    token is ('token' for a BPE model, whose loss is per token); `compare`, a run of the other architecture
    on the same corpus, is drawn dashed under the same axes."""
    if progress is None:
        return loss_curves(title, f"loss (nats per {per})")
    fig = loss_curves(title, f"loss (nats per {per})", progress.train_curve, progress.val_curve)
    if compare is not None:
        _add_comparison(fig, compare)
    ln_v = progress.initial_loss
    fig.add_hline(y=ln_v, line=dict(color=PALETTE[7], dash="dash", width=1),
                  annotation_text=f"ln({progress.vocab_size}) = {ln_v:.2f}: uniform guessing",
                  annotation_position="bottom left")
    fig.update_xaxes(range=[0, max(progress.total_steps, compare.progress.total_steps if compare else 0, 1)])
    fig.update_yaxes(rangemode="tozero")
    return fig


@dataclass(frozen=True)
class Comparison:
    """Another run's curves to overlay: its architecture's name, its label and its Progress."""

    arch: str
    label: str
    progress: object  # core.minigpt.train.Progress


def _add_comparison(fig: go.Figure, compare: Comparison) -> None:
    curves = ((compare.progress.train_curve, "train", PALETTE[3]), (compare.progress.val_curve, "validation", PALETTE[4]))
    for points, part, colour in curves:
        if points:
            steps, losses = zip(*points)
            name = f"{compare.arch} run: {part}"
            fig.add_trace(go.Scatter(x=steps, y=losses, name=name, mode="lines", line=dict(color=colour, dash="dot"),
                                     hovertemplate=f"step %{{x}}<br>{name} loss %{{y:.4f}}<extra></extra>"))


def comparison_run(user_id, run_dir: str | None, arch: str, corpus: str | None) -> str | None:
    """The learner's newest other run of the other architecture (GPT-2 vs Llama style) on the same corpus
    with the same kind of tokenizer (so both losses are nats per character), or None."""
    from core.minigpt import checkpoint

    family = "llama" if arch.startswith("llama") else "gpt2"  # a tab choice ("llama-gqa") or a config's arch
    for ckpt in registry.user_checkpoints("minigpt", user_id):
        if str(ckpt.path) == str(run_dir) or ckpt.summary.data != corpus:
            continue
        other_arch, tokenizer = checkpoint.architecture(ckpt.path)
        if other_arch != family and tokenizer == "char":
            return str(ckpt.path)
    return None


def read_comparison(user_id, folder: str | None) -> Comparison | None:
    """The overlay of a run folder found by comparison_run (None if there is none, or it went away)."""
    from core.minigpt import checkpoint, train

    if not folder or not Path(folder, checkpoint.CONFIG).is_file():
        return None
    progress = train.read_run(folder)
    if progress is None:
        return None
    arch = checkpoint.architecture(folder)[0]
    return Comparison(ARCH_NAMES[arch], registry.resolve("minigpt", folder, user_id).label, progress)


def run_zip(folder: Path) -> str:
    """The run's download: the zip beside it when it is newer than the checkpoint, else a fresh one."""
    from core.minigpt import checkpoint, train

    target = folder.with_name(folder.name + ".zip")  # where train.zip_run writes it
    if target.is_file() and target.stat().st_mtime >= (folder / checkpoint.CONFIG).stat().st_mtime:
        return str(target)
    return str(train.zip_run(folder))


def _comparison_of(user_id, ckpt: registry.Checkpoint) -> Comparison | None:
    from core.minigpt import checkpoint

    arch = checkpoint.architecture(ckpt.path)[0]
    return read_comparison(user_id, comparison_run(user_id, str(ckpt.path), arch, ckpt.summary.data))


def _compared(compare: Comparison | None) -> str:
    """The status line's note naming the dotted curves."""
    return f" Dotted: your {compare.arch} run **{compare.label}** on the same corpus." if compare else ""


def _run_status(ckpt: registry.Checkpoint, progress, compare: Comparison | None = None) -> str:
    if progress is None:
        return f"**{ckpt.label}** has no loss history to show. Press **Train** to train a run."
    size = f"{progress.num_params:,} parameters, {progress.step} steps, final train loss {progress.train_loss:.3f}"
    if ckpt.shipped:
        return (f"This is how the shipped model **{ckpt.name}** learned ({size}). "
                "Press **Train** to train your own.")
    return f"Your run **{ckpt.label}** ({size}). Press **Train** for another, or pick a run below.{_compared(compare)}"


def lab1_runs(user_id) -> list[registry.Checkpoint]:
    """The runs Lab 1 can show: this tab's own and the shipped ones. The tab-11 workflow's models are
    generated from in Lab 2 but shown whole (loss per token, bits per character, their zip) in tab 11."""
    return registry.list_checkpoints("minigpt", user_id, workflow=False)


def run_picker(user_id, current: str | None = None) -> gr.Dropdown:
    """Lab 1's "Run shown" list, with `current` (an id or a run folder just saved) picked."""
    runs = lab1_runs(user_id)
    chosen = checkpoint_id("minigpt", user_id, current)
    return gr.Dropdown(choices=[(c.label, c.id) for c in runs], value=chosen if chosen in [c.id for c in runs] else None)


@shows_errors
def show_run(user_id, path=None) -> dict:
    """A run whole: its loss curve, samples and download. With no path: the learner's newest run (the one
    they were watching before a reload), else the shipped model, so the chart is never empty."""
    from core.minigpt import train

    runs = lab1_runs(user_id)
    ckpt = registry.resolve("minigpt", path, user_id) if path else (runs[0] if runs else None)
    if ckpt is not None and ckpt.workflow:
        raise learner_error("That is a model of your workflow (tab 11): its run is shown there.")
    picker = run_picker(user_id, ckpt.id if ckpt else None)
    if ckpt is None:
        return {"status": "Press **Train** to train your own MiniGPT.", "chart": loss_figure(None), "samples": "",
                "picker": picker, "download": gr.update(value=None, visible=False), "shown": None}
    progress = train.read_run(ckpt.path)
    samples_file = ckpt.path / train.SAMPLES_TXT
    title = f"Loss of the shipped model '{ckpt.name}'" if ckpt.shipped else "Loss of your run"
    own = not ckpt.shipped  # shipped folders are read-only: no zip is written beside them
    per = "character" if ckpt.summary.tokenizer == "char" else "token"
    compare = _comparison_of(user_id, ckpt) if own else None
    return {"status": _run_status(ckpt, progress, compare), "chart": loss_figure(progress, title, per, compare),
            "samples": samples_file.read_text(encoding="utf-8") if samples_file.is_file() else "",
            "picker": picker, "download": gr.update(value=run_zip(ckpt.path) if own else None, visible=own),
            "shown": str(ckpt.path) if own else None}


@shows_errors
def download_run(shown) -> dict:
    if not shown:
        raise learner_error("Train a model first (or pick one of your runs): the download holds the run shown above.")
    return gr.update(value=run_zip(Path(shown)), visible=True)


# ---------- the training job ----------

def checked_run(source, pasted, upload, preset: str, settings: Hyper) -> tuple[str, GPTConfig, object, str | None]:
    """The corpus, model shape and recipe of a run, each checked (corpus length, the server's caps): what a
    start needs and what the step-0 prediction measures. (text, model config, TrainConfig, note or None)."""
    from core.minigpt import data

    text = text_input.learner_text(source, pasted, upload)
    model = settings.model_config(vocab_size=len(set(text)))
    data.check_corpus(text, model.block_size)
    recipe, note = settings.recipe(preset, own_text=source != text_input.BUILTIN)
    caps.check_minigpt(model, recipe)
    return text, model, recipe, note


@shows_errors
def predict_first_loss(guess, source, pasted, upload, preset, **hyper) -> dict:
    """Reveal: the loss this run's curve will start at (step 0, before any update), measured on a fresh
    model of exactly these settings, with ln V beside it."""
    from core.minigpt import train

    Q.parse_guess(guess)  # an empty guess is refused before any work
    text, model, recipe, _ = checked_run(source, pasted, upload, preset, Hyper.from_values(**hyper))
    loss, vocab = train.untrained_loss(text, model, recipe), model.vocab_size
    uniform = P.uniform_loss(vocab)
    reason = (f"an untrained model spreads its guesses almost evenly over the corpus's V = {vocab} characters, so "
              f"it pays about ln {vocab} = {uniform:.3f} nats per character (perplexity ≈ {vocab}: a blind guess). "
              f"Its random weights are not quite uniform, so this run's step 0 measures {loss:.3f}. Press **Train**: "
              "the curve starts there, and everything below it is learning.")
    return {"feedback": Q.compare_guess(guess, loss, reason, unit="nats", digits=4)}


@shows_errors
def prepare_training(user_id, source, pasted, upload, preset, request: gr.Request | None = None,
                     demo: gr.Blocks | None = None, **hyper) -> dict:
    """Check every input, create the run folder and reserve the learner's one job slot (core.jobs.reserve:
    two starts queued at once cannot both pass); refuses with one message naming what to change."""
    from lessons import queued

    jobs.check_free(user_id)  # first: a second tab of a learner with a run going changes nothing
    settings = Hyper.from_values(**hyper)
    text, model, recipe, note = checked_run(source, pasted, upload, preset, settings)
    quotas.check_room(user_id)
    if note:
        gr.Warning(note)
    run_info = {"preset": preset if settings.is_preset(preset) else None,
                "corpus": corpus_name(source, upload, text)}
    compare_dir = comparison_run(user_id, None, settings.arch, run_info["corpus"])
    run_dir = str(sessions.new_run_dir(user_id, "minigpt"))  # last: a refused start leaves no folder
    try:  # atomic: of two starts checked at the same moment, one gets the slot
        jobs.reserve(user_id, "MiniGPT training", run_dir, still_wanted=queued(demo, request) if demo else None)
    except jobs.JobError:
        Path(run_dir).rmdir()
        raise
    return {"plan": Plan(text, model, recipe, run_info, run_dir, compare_dir), "job": run_dir}


def busy() -> dict:
    return {"train_btn": gr.Button(TRAINING_LABEL, interactive=False), "stop_btn": gr.Button(STOP_LABEL, interactive=True)}


def idle() -> dict:
    """After a run, whatever its end: buttons back, and the plan (up to 2 MB of text) released."""
    return {"train_btn": gr.Button(TRAIN_LABEL, interactive=True), "stop_btn": gr.Button(STOP_LABEL, interactive=False),
            "plan": None, "job": None}


def request_stop(job) -> dict:
    return {"stop_btn": stop_button_after_press(job)}


def training_status(progress, label: str | None = None) -> str:
    """The status line: live while training; at the end what happened and under which name it is saved."""
    if not progress.done:
        line = progress.status_line()
        if progress.step == 0:
            line += (f" · {progress.num_params:,} parameters · initial loss ≈ ln({progress.vocab_size}) = "
                     f"{progress.initial_loss:.2f}")
        return line
    losses = f"train loss {progress.train_loss:.3f}" + (f", val loss {progress.val_loss:.3f}" if progress.val_loss is not None else "")
    if progress.stop_reason == "stopped":
        return (f"**Stopped at step {progress.step} of {progress.total_steps}**, saved as **{label}** · {losses} · "
                f"elapsed {progress.elapsed:.0f} s")
    if progress.stop_reason:  # the loss diverged: the folder keeps the last evaluated weights
        return f"**{progress.stop_reason}.** The run keeps its last good weights as **{label}**."
    return f"{progress.status_line()} · saved as **{label}** (pick it under Generate)"


def _training_view(user_id, progress, compare: Comparison | None = None) -> dict:
    from core.minigpt import train

    view = {"status": training_status(progress) + _compared(compare), "chart": loss_figure(progress, compare=compare),
            "samples": train.samples_text(progress)}
    if progress.done:
        run_dir = str(progress.run_dir)
        ckpt = registry.resolve("minigpt", run_dir, user_id)
        view.update(status=training_status(progress, ckpt.label) + _compared(compare), shown=run_dir, saved=run_dir,
                    picker=run_picker(user_id, run_dir),
                    download=gr.update(value=run_zip(Path(run_dir)), visible=True))
    return view


def _ended_early(user_id, run_dir: Path, reason: str) -> dict:
    """A job that failed (crash, memory, time limit, nobody watching): one message in the status line, and
    the run's last saved state (saved at every evaluation) listed and shown, or no empty folder left."""
    from core.minigpt import checkpoint

    stop_requests.clear(run_dir)
    if not (run_dir / checkpoint.CONFIG).is_file():
        if run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()
        return {"status": f"**The run ended before its first save.** {reason} Nothing was saved."}
    ckpt = registry.resolve("minigpt", str(run_dir), user_id)
    return {"status": f"**The run ended early.** {reason} Its last saved state is listed as **{ckpt.label}**.",
            "shown": str(run_dir), "saved": str(run_dir), "picker": run_picker(user_id, str(run_dir)),
            "download": gr.update(value=run_zip(run_dir), visible=True)}


@shows_errors
def run_training(user_id, plan: Plan | None, request: gr.Request | None = None, demo: gr.Blocks | None = None):
    """Generator: trains the checked plan in a worker process (core.jobs) into its run folder, streaming
    status, chart and samples. `demo` and `request` tell whether a browser still reads the stream."""
    from lessons import watched

    if plan is None:
        raise learner_error("Press Train to start a run.")
    run_dir = Path(plan.run_dir)
    if stop_requests.withdrawn_before_start(run_dir):
        yield {"status": "Stopped before training started: nothing was trained or saved."}
        return
    kwargs = dict(text=plan.text, model_config=plan.model, cfg=plan.recipe, out_dir=str(run_dir),
                  run_info=plan.run_info)
    listening = watched(demo, request) if demo is not None else None
    compare = read_comparison(user_id, plan.compare_dir)  # read once: its curve does not change
    try:
        for progress in jobs.stream("core.minigpt.train:train", kwargs, owner=user_id, kind="MiniGPT training",
                                    limits=caps.minigpt_limits(), stop_dir=run_dir, listening=listening):
            yield _training_view(user_id, progress, compare)
    except jobs.JobError as err:
        yield _ended_early(user_id, run_dir, str(err))
    finally:
        stop_requests.clear(run_dir)


# ---------- generation ----------

@dataclass(frozen=True)
class GenerateRequest:
    """A checked generation: which checkpoint, the prompt's ids and the sampling settings."""

    path: str
    ids: list
    tokens: int
    settings: dict
    use_cache: bool = True


def refresh_checkpoints(user_id, current=None) -> gr.Dropdown:
    """Lab 2's list: the learner's runs, their workflow's models (characters or BPE) and the shipped ones."""
    return checkpoint_dropdown("minigpt", user_id, current)


def _prompt_ids(loaded, prompt: str) -> list[int]:
    from core.minigpt import sample

    if len(prompt or "") > MAX_PROMPT_CHARS:
        raise ValueError(f"The prompt has {len(prompt):,} characters; keep it under {MAX_PROMPT_CHARS:,}.")
    ids, unknown = sample.prompt_ids(loaded.tokenizer, prompt or "", drop_unknown=True)
    if unknown:
        gr.Warning(f"Dropped {len(unknown)} character(s) this model never saw: {' '.join(map(repr, unknown[:10]))}")
    if not ids:
        raise ValueError("The prompt is empty (or only has characters the model never saw): type a few words.")
    if len(ids) > loaded.config.block_size:
        gr.Warning(f"The prompt is longer than the model's context ({loaded.config.block_size} "
                   f"{loaded.tokenizer.unit}s): it sees only the end.")
    return ids


def _settings(temperature, top_k, top_p, seed) -> dict:
    temperature, top_k, top_p = float(temperature), int(top_k or 0), float(top_p)
    if temperature == 0 and (top_k or top_p < 1):
        gr.Warning("Temperature 0 means greedy decoding: top-k and top-p are ignored.")
    if seed is not None and seed != "" and not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"The seed must be a whole number from 0 to {MAX_SEED:,} (or empty for a random one).")
    return dict(temperature=temperature, top_k=top_k or None, top_p=top_p,
                seed=int(seed) if seed is not None and seed != "" else None)


@shows_errors
def prepare_generation(user_id, path, prompt, tokens, temperature, top_k, top_p, seed, use_cache=True) -> GenerateRequest:
    """Check the checkpoint, prompt and settings (warnings said once, here); the result goes to a gr.State."""
    from core.minigpt import checkpoint, sample

    if not path:
        raise ValueError("No checkpoint selected: train a model first or pick the shipped default.")
    chosen = registry.resolve("minigpt", path, user_id).path
    loaded = checkpoint.load(chosen)
    settings = _settings(temperature, top_k, top_p, seed)
    sample.check_settings(int(tokens), settings["temperature"], settings["top_k"], settings["top_p"])
    return GenerateRequest(path=str(chosen), ids=_prompt_ids(loaded, prompt), tokens=int(tokens),
                           settings=settings, use_cache=bool(use_cache))


GREEDY_CHOICES = ["the same text", "two different texts"]
GREEDY_TOKENS = 40


@shows_errors
def predict_greedy(guess, user_id, path, prompt) -> dict:
    """Reveal: two continuations at temperature 0 with seeds 1 and 2 (the same: greedy draws nothing), and
    two at temperature 1 for contrast; the lab's temperature goes to 0 so the learner can try more seeds."""
    from core.minigpt import checkpoint, sample

    Q.require_pick(guess)  # before any generation
    request = prepare_generation(user_id, path, prompt, GREEDY_TOKENS, 0, 0, 1.0, 1)
    loaded = checkpoint.load(request.path)
    threads.set_torch_threads()

    def written(temperature: float, seed: int) -> str:
        return loaded.tokenizer.decode(list(sample.generate_ids(loaded.model, request.ids, GREEDY_TOKENS,
                                                                temperature=temperature, seed=seed)))

    greedy, drawn = [written(0.0, seed) for seed in (1, 2)], [written(1.0, seed) for seed in (1, 2)]
    shown = [f"«{label_text(t, markdown=True)}»" for t in (*greedy, *drawn)]
    actual = GREEDY_CHOICES[0] if greedy[0] == greedy[1] else GREEDY_CHOICES[1]
    unit = loaded.tokenizer.unit
    reason = (f"at temperature 0 every step takes the most likely {unit} (the argmax): nothing is drawn, so the "
              f"seed has nothing to decide. Seeds 1 and 2 wrote {shown[0]} and {shown[1]}. At temperature 1 each "
              f"{unit} is drawn from the distribution, and the seed picks the draws: {shown[2]} and {shown[3]}. "
              "The temperature is now 0: press **Generate** with any seed.")
    return {"feedback": Q.compare_choice(guess, actual, reason), "temperature": 0}


def first_generation(user_id, path, **settings) -> dict:
    """On the tab's first open, in one event (one round trip fewer before the text starts): the list with the
    learner's best finished run (or the shipped model) selected, and the request for a first continuation
    from it, None when there is no checkpoint at all."""
    choices, chosen = checkpoint_listing("minigpt", user_id, path)
    return {"path": gr.Dropdown(choices=choices, value=chosen),
            "request": prepare_generation(user_id, chosen, **settings) if chosen else None}


def small_model_params() -> int:
    """The parameters of the Try-this small model (1 layer, width 32) on the built-in corpus at the default context."""
    vocab = len(set(text_input.learner_text(text_input.BUILTIN)))
    return GPTConfig(vocab_size=vocab, block_size=192, n_layer=1, n_head=4, n_embd=32).num_params()


def warm_up() -> None:
    """torch and the generation path, loaded once before the first learner's first generation (lessons.warm_up)."""
    from core.minigpt import checkpoint, sample

    threads.set_torch_threads()
    default = registry.best("minigpt")
    if default is not None:
        loaded = checkpoint.load(default.path)
        list(sample.generate_ids(loaded.model, loaded.tokenizer.encode("The"), 4, seed=0))


@shows_errors
def run_generate(request: GenerateRequest | None):
    """Generator: streams the continuation, then reports the speed."""
    from core.minigpt import checkpoint, sample

    if request is None:
        yield {"output": "", "speed": "No checkpoint yet: train one in Lab 1."}
        return
    threads.set_torch_threads()  # torch's default (every core) collapses when learners' jobs share the CPU
    loaded = checkpoint.load(request.path)
    prompt = text = loaded.tokenizer.decode(request.ids)
    start = last_push = time.perf_counter()
    count = 0
    new_ids = sample.generate_ids(loaded.model, request.ids, request.tokens, use_cache=request.use_cache, **request.settings)

    def counted():
        nonlocal count
        for token in new_ids:
            count += 1
            yield token

    # text_pieces: a BPE token covers several characters, or half of one ('é' split in two bytes waits)
    for piece in sample.text_pieces(loaded.tokenizer, counted()):
        text += piece
        if time.perf_counter() - last_push > STREAM_EVERY_S:
            last_push = time.perf_counter()
            yield {"output": text, "speed": f"generating… {count}/{request.tokens}"}
    elapsed = time.perf_counter() - start
    yield {"output": text, "speed": speed_line(loaded.tokenizer, count, len(text) - len(prompt), elapsed, request.use_cache)}


def speed_line(tokenizer, count: int, n_chars: int, elapsed: float, use_cache: bool) -> str:
    unit = f"{tokenizer.unit}s"  # what the model generates: characters or BPE tokens
    chars = f" ({n_chars:,} characters)" if unit != "characters" else ""
    return (f"{count} {unit}{chars} in {elapsed:.2f} s ({count / elapsed:,.0f} {unit}/s) "
            f"{'with' if use_cache else 'without'} the KV cache")


@shows_errors
def compare_cache(request: GenerateRequest | None) -> str:
    """Time the same generation with and without the KV cache and check the texts are identical."""
    from core.minigpt import checkpoint, sample

    if request is None:
        return ""
    threads.set_torch_threads()
    loaded = checkpoint.load(request.path)
    settings = dict(request.settings)
    if settings["seed"] is None:
        settings["seed"] = 0  # both runs must draw the same random numbers
    n = request.tokens
    cached, t_cache = sample.time_generation(loaded.model, request.ids, n, True, **settings)
    plain, t_plain = sample.time_generation(loaded.model, request.ids, n, False, **settings)
    same = "identical" if cached == plain else "DIFFERENT (a bug: please report it)"
    ratio, unit = t_plain / t_cache, f"{loaded.tokenizer.unit}s"
    return (f"| {n} {unit} | time | {unit}/s |\n|---|---|---|\n"
            f"| with KV cache | {t_cache * 1000:,.1f} ms | {n / t_cache:,.0f} |\n"
            f"| without (full context every step) | {t_plain * 1000:,.1f} ms | {n / t_plain:,.0f} |\n\n"
            f"**{ratio:.2f}× {'faster' if ratio >= 1 else 'slower'}** with the cache "
            f"({t_plain * 1000:,.1f} ms / {t_cache * 1000:,.1f} ms); the two texts are {same}.")


# ---------- layout ----------

def show_source(source) -> dict:
    """The paste box or the upload field, for the corpus source chosen."""
    return {"pasted": gr.update(visible=source == text_input.PASTE), "upload": gr.update(visible=source == text_input.UPLOAD)}


def _corpus_widgets() -> dict:
    source = gr.Radio(CORPUS_CHOICES, value=text_input.BUILTIN, label="Corpus")
    pasted = gr.Textbox(label="Your text", lines=6, visible=False, max_length=text_input.MAX_CHARS,
                        placeholder="Paste at least a few thousand characters of plain text…")
    upload = gr.File(label="UTF-8 .txt file (up to 5 MB)", file_types=[".txt"], type="filepath", visible=False)
    widgets = {"pasted": pasted, "upload": upload}
    source.change(**named_event(show_source, {"source": source}, widgets), api_name=False, show_progress="hidden")
    return {"source": source, "pasted": pasted, "upload": upload}


def _hyper_widgets() -> dict:
    """One widget per Hyper field. Their values come from the preset on page load (preset_values): the
    presets live next to the training loop, which imports torch, and the app must start without it."""
    shape = GPTConfig()  # placeholders for the moment before the page's load event fills the preset in
    with gr.Accordion("Hyperparameters", open=True):
        arch = gr.Dropdown(ARCH_LABELS, value="gpt2", label="Architecture", info=ARCH_INFO, elem_id="minigpt-arch")
        widgets = {
            "n_layer": gr.Slider(*LIMITS["n_layer"], value=shape.n_layer, step=1, label="Layers (blocks)"),
            "n_head": gr.Slider(*LIMITS["n_head"], value=shape.n_head, step=1, label="Attention heads"),
            "n_embd": gr.Slider(*LIMITS["n_embd"], value=shape.n_embd, step=16, label="Embedding size"),
            "block_size": gr.Slider(*LIMITS["block_size"], value=shape.block_size, step=8, label="Context (characters)"),
            "batch_size": gr.Slider(1, 128, value=16, step=1, label="Batch size"),
            "learning_rate": gr.Slider(1e-4, 2e-2, value=5e-3, step=1e-4, label="Learning rate",
                                       info="AdamW's rate; with Muon, the blocks' matrices use Muon's own "
                                            "(see the lesson)"),
            "steps": gr.Slider(10, 5000, value=480, step=10, label="Training steps"),
            "dropout": gr.Slider(*LIMITS["dropout"], value=shape.dropout, step=0.05, label="Dropout"),
            "bf16": gr.Checkbox(value=False, label="bfloat16 autocast (faster on CPUs with AVX-512 BF16)"),
            "optimizer": gr.Radio(OPTIMIZER_LABELS, value="muon", label="Optimizer",
                                  info="Muon orthogonalises each weight matrix's update (see the lesson)"),
            "short_window": gr.Slider(0, 128, value=0, step=8, label="Short windows every other step (0 = off)",
                                      info="more practice at the first characters of a window, where context is short"),
            "arch": arch,  # shown first, named last like its Hyper field
        }
    return widgets


def _run_view() -> dict:
    """Lab 1's results column: status, chart and samples together, then the run picker and its download."""
    status = markdown("", elem_id="minigpt-status")
    with gr.Row(equal_height=False):
        chart = gr.Plot(show_label=False, scale=3, min_width=320, elem_id="minigpt-chart")
        samples = gr.Textbox(label="Samples (newest last)", lines=14, max_lines=14, scale=2, min_width=260,
                             interactive=False, autoscroll=True, elem_id="minigpt-samples")
    with gr.Row(equal_height=False):
        picker = gr.Dropdown(label="Run shown", choices=[(c.label, c.id) for c in lab1_runs(None)], scale=3,
                             interactive=True, elem_id="minigpt-run-picker")
        with gr.Column(scale=2, min_width=200):
            download_btn = gr.Button("Download the run (.zip)", size="sm")
            download = gr.File(label="Run: weights, config, loss history, samples", visible=False,
                               interactive=False, elem_id="minigpt-download")
    return {"status": status, "chart": chart, "samples": samples, "picker": picker, "download": download,
            "download_btn": download_btn, "shown": gr.State(None), "saved": gr.State(None)}


def _train_lab(ctx: LessonContext) -> gr.State:
    """Lab 1. Returns the state that names each newly saved run, which Lab 2's checkpoint list follows."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            corpus = _corpus_widgets()
            preset = gr.Radio([(label, name) for name, label in PRESET_LABELS.items()], value="default", label="Preset")
            first_loss = prediction("before any training step, what loss will this run's curve start at?",
                                    unit="nats", elem_id="predict-first-loss")
            with gr.Row():
                train_btn = gr.Button(TRAIN_LABEL, variant="primary", elem_id="minigpt-train")
                stop_btn = gr.Button(STOP_LABEL, variant="stop", interactive=False, elem_id="minigpt-stop")
            size = markdown("", elem_id="minigpt-size")
            hyper = _hyper_widgets()
        with gr.Column(scale=3):
            view = _run_view()
    _wire_settings(ctx, corpus, preset, hyper, size)
    first_loss.reveal(named_event(predict_first_loss, {"guess": first_loss.guess, **corpus, "preset": preset, **hyper},
                                  {"feedback": first_loss.feedback}))
    _wire_training(ctx, {**corpus, **hyper, "preset": preset, "user_id": ctx.user_id}, view,
                   {"train_btn": train_btn, "stop_btn": stop_btn})
    return view["saved"]


def _wire_settings(ctx: LessonContext, corpus: dict, preset, hyper: dict, size) -> None:
    """The preset fills the hyperparameters (and does so on load); every setting updates the size line."""
    ctx.on_open(**named_event(preset_values, {"preset": preset}, hyper), api_name=False)
    preset.input(**named_event(preset_values, {"preset": preset}, hyper), api_name=False)
    size_inputs = {**corpus, **{k: hyper[k] for k in ("n_layer", "n_head", "n_embd", "block_size", "dropout",
                                                      "batch_size", "optimizer", "arch")}}
    # .change fires for typed and dragged values alike; the paste box uses .input (its .change would also
    # fire for every programmatic update) and only the latest value is computed when events pile up
    triggers = [c.change for c in size_inputs.values() if c is not corpus["pasted"]]
    gr.on([*triggers, corpus["pasted"].input, ctx.on_open], size_summary, inputs_kwargs=size_inputs, outputs=size,
          trigger_mode="always_last", show_progress="hidden", api_name=False)


def _wire_training(ctx: LessonContext, form: dict, view: dict, buttons: dict) -> None:
    plan, job = gr.State(None), gr.State(None)
    states = {"plan": plan, "job": job}
    outputs = {k: view[k] for k in ("status", "chart", "samples", "picker", "download", "shown", "saved")}
    # 1. check (outputs: two states only, so a refused start badges nothing); 2. busy buttons; 3. train; 4. idle
    start = buttons["train_btn"].click(**named_event(functools.partial(prepare_training, demo=ctx.demo), form, states),
                                       api_name=False)
    start.success(**named_event(busy, outputs=buttons), api_name=False, show_progress="hidden").success(
        **named_event(functools.partial(run_training, demo=ctx.demo), {"user_id": ctx.user_id, "plan": plan}, outputs),
        api_name=False,
        show_progress="minimal", concurrency_limit=threads.training_slots(),
        concurrency_id=threads.TRAINING_CONCURRENCY_ID,
    ).then(**named_event(idle, outputs={**buttons, **states}), api_name=False, show_progress="hidden")
    # no cancels=: the loop sees the request after its step and ends with a normal report (closing the tab
    # still closes the generator, and core.minigpt.train saves what was learned)
    buttons["stop_btn"].click(**named_event(request_stop, {"job": job}, {"stop_btn": buttons["stop_btn"]}),
                              api_name=False, show_progress="hidden", queue=False)
    shown_outputs = {k: v for k, v in outputs.items() if k != "saved"}
    ctx.on_open(**named_event(show_run, {"user_id": ctx.user_id}, shown_outputs), api_name=False)
    view["picker"].input(**named_event(show_run, {"user_id": ctx.user_id, "path": view["picker"]}, shown_outputs),
                         api_name=False)
    view["download_btn"].click(download_run, inputs_kwargs={"shown": view["shown"]}, outputs=view["download"],
                               api_name=False)


def _generate_lab(ctx: LessonContext, saved_run: gr.State) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            ckpt = gr.Dropdown(label="Checkpoint", choices=checkpoint_choices("minigpt", None), interactive=True,
                               info="the shipped model, your runs, and your tab-11 workflow's (BPE too)")
            form = {
                "user_id": ctx.user_id, "path": ckpt,
                "prompt": gr.Textbox(label="Prompt", value="Python is", max_length=MAX_PROMPT_CHARS),
                "tokens": gr.Slider(1, 1000, value=300, step=1, label="Tokens to generate",
                                    info="a character model: one token = one character; BPE: a few"),
                "temperature": gr.Slider(0, 2, value=0.8, step=0.05, label="Temperature (0 = greedy)"),
                "top_k": gr.Slider(0, 100, value=0, step=1, label="Top-k (0 = off)"),
                "top_p": gr.Slider(0.05, 1, value=1.0, step=0.05, label="Top-p (1 = off)"),
                "seed": gr.Number(value=42, precision=0, label="Seed (empty = random)"),
                "use_cache": gr.Checkbox(value=True, label="Use the KV cache"),
            }
            greedy = prediction("at temperature 0, will seeds 1 and 2 write the same text or two different texts?",
                                choices=GREEDY_CHOICES, elem_id="predict-greedy")
            with gr.Row():
                gen_btn = gr.Button("Generate", variant="primary")
                compare_btn = gr.Button("KV cache vs no cache")
        with gr.Column(scale=3):
            output = gr.Textbox(label="Prompt + continuation", lines=12, interactive=False, elem_id="minigpt-output")
            speed = markdown("", elem_id="minigpt-speed")
            comparison = markdown("", elem_id="minigpt-compare")
    greedy.reveal(named_event(predict_greedy, {k: form[k] for k in ("user_id", "path", "prompt")} | {"guess": greedy.guess},
                              {"feedback": greedy.feedback, "temperature": form["temperature"]}))
    request, compare_request = gr.State(None), gr.State(None)
    gen_outputs = {"output": output, "speed": speed}
    # check first (the output is a state), then stream: a refused prompt leaves the last text unbadged
    gen_btn.click(prepare_generation, inputs_kwargs=form, outputs=request, api_name=False).success(
        **named_event(run_generate, {"request": request}, gen_outputs), api_name=False, show_progress="minimal")
    compare_btn.click(prepare_generation, inputs_kwargs=form, outputs=compare_request, api_name=False).success(
        compare_cache, inputs_kwargs={"request": compare_request}, outputs=comparison, api_name=False,
        show_progress="minimal")
    lists = {"user_id": ctx.user_id, "current": ckpt}
    ctx.tab.select(refresh_checkpoints, inputs_kwargs=lists, outputs=ckpt, api_name=False, show_progress="hidden")
    saved_run.change(refresh_checkpoints, inputs_kwargs={"user_id": ctx.user_id, "current": saved_run}, outputs=ckpt,
                     api_name=False, show_progress="hidden")
    # on the first open: the learner's best finished run (or the shipped model) writes a first continuation
    ctx.on_open(**named_event(first_generation, form, {"path": ckpt, "request": request}), api_name=False).success(
        **named_event(run_generate, {"request": request}, gen_outputs), api_name=False)


def build(ctx: LessonContext) -> None:
    lesson_text("part04_minigpt")
    markdown("### Lab 1 · Train a MiniGPT\nPick a corpus and a model size, press **Train**, and watch the loss fall from "
             "ln(V) (pure guessing) towards zero while samples turn from noise into words.")
    saved_run = _train_lab(ctx)
    try_this(
        "Train the default preset on the built-in corpus (about a minute with 2 cores to itself; "
        "a server that shares its cores between learners takes longer): the train loss falls below 0.1 "
        "while the validation loss climbs back up. That gap is memorisation (overfitting): the samples recite the corpus.",
        "Switch the optimizer to AdamW and train the same 480 steps: compare where the loss ends. The classic AdamW "
        "preset needs 2000 steps for the same result.",
        f"Set the layers to 1 and the embedding size to 32 ({small_model_params():,} parameters at context 192 on the "
        "built-in corpus, against ~835k): the loss stalls much higher. Capacity matters.",
        "Set the learning rate to 0.02 with batch size 4: the curve becomes jagged. Then try 0.0005: it learns, slowly.",
    )
    markdown("### Lab 2 · Generate text\nContinue a prompt with the shipped model or one you trained. "
             "Each character is drawn from the model's prediction, shaped by temperature, top-k and top-p.")
    _generate_lab(ctx, saved_run)
    try_this(
        "Generate with temperature 0 (greedy), then 1.5: safe repetition versus adventurous misspellings.",
        "Set top-p to 0.5 at temperature 1.2: the nucleus cuts off the unlikely tail and the text is clean again.",
        "Press **KV cache vs no cache** with 500 characters: the same text, several times faster with the cache.",
    )
    board.board_lab(ctx, saved_run)  # Lab 3, only when the teacher turns the class board on
    end_of_tab_check("part04")

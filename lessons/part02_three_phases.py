"""Tab: The three phases of training (Part 2), on the pocket model.

Four labs:
1. What each phase trains on: pre-training text with the next-token target under every position, an SFT
   example through the chat template (the loss-carrying tokens coloured), a preference pair.
2. The DPO loss playground (core.alignment.dpo_loss): four log-probabilities and β.
3. DPO training with trl's DPOTrainer from the SFT adapter, as a job (core.jobs.stream, Stop, caps).
4. The same prompt through the base model, the SFT adapter and the DPO adapter, same seed, streaming.

Handlers are module-level (tests and bench/ call them); torch and transformers are imported inside them.
"""
from __future__ import annotations

import functools
import html
import math
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np

from core import alignment, caps, jobs, quotas, registry, sessions, stop_requests, threads
from core import quiz as Q
from lessons.check import end_of_tab_check, prediction
from lessons.common import (LessonContext, checkpoint_choices, learner_error, lesson_text, markdown, named_event,
                            shows_errors, try_this)
from lessons.plots import PALETTE, Chart, chart
from lessons.tokens import label_text, tokens_html

POCKET = "pocket"
DEFAULT_TEXT = "The model reads a text one token at a time and learns to guess the next one."
MAX_TEXT_CHARS = 500
MAX_PROMPT_CHARS = 500
SHOWN_TOKENS = 40
DEFAULT_PROMPT = "What is a token?"
POCKET_PARAMETERS = 869_504  # the pocket model (tests check it against the shipped weights)
PLAYGROUND_DEFAULTS = dict(policy_chosen=-20.0, policy_rejected=-32.0, ref_chosen=-22.0, ref_rejected=-30.0, beta=0.1)
CURVE_BETAS = (0.1, 0.5, 2.0)
BUILTIN, UPLOAD = "Built-in pairs", "Upload JSONL"
SHIPPED_SFT, SHIPPED_DPO = "shipped/pocket-answer-format", "shipped/pocket-dpo"
TRAIN_LABEL, BUSY_LABEL, STOP_LABEL = "Train with DPO", "Training…", "Stop"
UPDATE_EVERY_S = 1.0
SMALL = 300


# ---------- 1 · what each phase trains on ----------

def _tokenizer():
    from core.finetune import models

    return models.load_model(POCKET).tokenizer


def _builtin_sft() -> list[list[dict]]:
    from core.finetune import data

    return data.builtin().examples


def next_token_html(view) -> str:
    """Each position as a column: the input token on top, the token it must predict below it."""
    cells = []
    for i, piece in enumerate(view.pieces):
        target = view.targets[i] if i < len(view.targets) else None
        below = f'<span class="tok" style="background:#d3f9d8">{label_text(target)}</span>' if target is not None \
            else '<span style="color:#868e96">(next text)</span>'
        cells.append(f'<div style="display:inline-flex;flex-direction:column;align-items:center;margin:2px">'
                     f'<span class="tok" style="background:#dbe4ff">{label_text(piece)}</span>'
                     f'<span style="color:#868e96">↓</span>{below}</div>')
    head = (f"<p>{len(view.pieces)} tokens of the pocket tokenizer (top) and, under each, the <b>target</b>: "
            f"the next token. Pre-training's loss is −log p(target) at <b>every</b> position.</p>")
    return head + f'<div class="token-view">{"".join(cells)}</div>'


def preview_html(view, what: str) -> str:
    head = (f"<p><b>{html.escape(what)}</b>: {len(view.ids)} tokens; the loss is computed on the "
            f"<b>{view.n_trained} coloured answer tokens</b>, grey ones are context only.</p>")
    return head + tokens_html(view.pieces, view.ids, muted=[not t for t in view.trained])


@shows_errors
def phase_views(text: str, sft_index: int, pair_index: int) -> dict:
    """The three views, computed from the real pocket tokenizer and chat template."""
    from core.finetune import data

    text = text or ""
    if len(text) > MAX_TEXT_CHARS:
        raise learner_error(f"The text has {len(text)} characters; keep it under {MAX_TEXT_CHARS}.")
    tokenizer = _tokenizer()
    examples, pairs = _builtin_sft(), alignment.builtin_preferences().pairs
    example = examples[min(int(sft_index), len(examples) - 1)]
    pair = pairs[min(int(pair_index), len(pairs) - 1)]
    chosen, rejected = alignment.pair_views(tokenizer, pair["prompt"], pair["chosen"], pair["rejected"])
    return {"pretrain": next_token_html(alignment.next_token_view(tokenizer, text, SHOWN_TOKENS)),
            "sft": preview_html(data.preview(tokenizer, example), "An SFT example through the chat template"),
            "pair": (preview_html(chosen, "Chosen answer (its probability is pushed up)")
                     + preview_html(rejected, "Rejected answer (its probability is pushed down)"))}


@shows_errors
def predict_lessons(guess, text) -> dict:
    """Reveal: how many next-token lessons the pocket tokenizer makes of the pre-training text."""
    tokenizer = _tokenizer()
    count = alignment.lesson_count(tokenizer, text or "")
    reason = (f"the text is {count + 1} tokens, and every token after the first is the target of the ones before it: "
              f"{count} lessons, and nobody wrote a single label.")
    return {"feedback": Q.compare_guess(guess, count, reason, unit="lessons")}


def _phases_lab(ctx: LessonContext) -> None:
    markdown("### Lab: what each phase trains on, as the model sees it")
    n_sft, n_pairs = 138, len(alignment.builtin_preferences().pairs)
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            text = gr.Textbox(DEFAULT_TEXT, label="Pre-training text", lines=3, max_length=MAX_TEXT_CHARS,
                              elem_id="phases-text")
            sft_index = gr.Slider(0, n_sft - 1, value=0, step=1, label="SFT example (built-in Q&A)")
            pair_index = gr.Slider(0, n_pairs - 1, value=0, step=1, label="Preference pair (built-in)")
        with gr.Column(scale=3):
            with gr.Tabs():
                with gr.Tab("1 · Pre-training"):
                    pretrain = gr.HTML(elem_id="phases-pretrain")
                with gr.Tab("2 · SFT"):
                    sft = gr.HTML(elem_id="phases-sft")
                with gr.Tab("3 · Preference pair"):
                    pair = gr.HTML(elem_id="phases-pair")
    try_this("Type your own sentence: every token is an input *and* the previous token's target, so one sentence "
             "of n tokens gives n − 1 lessons, with no labels written by anyone.",
             "In *SFT*, the prompt and the chat markers are grey: the model reads them but is not graded on them.",
             "In *Preference pair*, both answers share the prompt; DPO compares how likely each answer is.")
    lessons = prediction("how many next-token lessons will pre-training get from this text?", unit="lessons",
                         elem_id="predict-lessons")
    lessons.reveal(named_event(predict_lessons, {"guess": lessons.guess, "text": text}, {"feedback": lessons.feedback}))
    event = named_event(phase_views, {"text": text, "sft_index": sft_index, "pair_index": pair_index},
                        {"pretrain": pretrain, "sft": sft, "pair": pair})
    quiet = dict(show_progress="hidden", api_name=False)
    ctx.on_open(**event, **quiet)
    text.submit(**event, **quiet)
    for slider in (sft_index, pair_index):
        slider.change(**event, trigger_mode="always_last", **quiet)


# ---------- 2 · the DPO loss playground ----------

def loss_chart(terms) -> Chart:
    """−log σ(β·h) against h for a few β, the learner's point on their β's curve."""
    h = float(terms.logratio_delta)
    span = max(10.0, 1.3 * abs(h))
    hs = np.linspace(-span, span, 201)
    fig = chart("DPO loss vs the log-ratio difference h", "h = (log π_c − log ref_c) − (log π_r − log ref_r)  (nats)",
                "loss (nats)", height=SMALL)
    betas = sorted(set(CURVE_BETAS) | {terms.beta})
    for i, beta in enumerate(betas):
        fig.add("scatter", x=hs, y=np.array(alignment.loss_curve(beta, hs)), mode="lines", name=f"β = {beta:g}",
                line=dict(color=PALETTE[i % len(PALETTE)], width=3 if beta == terms.beta else 1.5),
                hovertemplate=f"β = {beta:g}<br>h %{{x:.2f}}<br>loss %{{y:.4f}}<extra></extra>")
    fig.add("scatter", x=[h], y=[float(terms.loss)], mode="markers", name="your pair",
            marker=dict(size=12, color="#212529"), hovertemplate="h %{x:.2f}<br>loss %{y:.4f}<extra></extra>")
    return fig


def playground_text(terms) -> str:
    verdict = "prefers the **chosen** answer" if terms.margin > 0 else (
        "prefers the **rejected** answer" if terms.margin < 0 else "is undecided")
    return (f"| implicit reward of chosen r_c | implicit reward of rejected r_r | margin r_c − r_r | loss | "
            f"gradient weight β·σ(−margin) |\n|---|---|---|---|---|\n"
            f"| {terms.chosen_reward:+.4f} | {terms.rejected_reward:+.4f} | {terms.margin:+.4f} | {terms.loss:.4f} | "
            f"{terms.grad_weight:.4f} |\n\nThe policy {verdict} relative to the reference. "
            f"A larger β scales the margin: the same h gives a lower loss once the pair is ranked right, a higher one "
            f"when it is ranked wrong, and a gradient weight of up to β, so the policy is pulled harder while "
            f"staying closer to the reference.")


@shows_errors
def playground(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta) -> dict:
    terms = alignment.dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta)
    return {"summary": playground_text(terms), "plot": loss_chart(terms)}


@shows_errors
def predict_equal(guess, ref_chosen, ref_rejected, beta) -> dict:
    """Reveal: the DPO loss when the policy equals the reference; the policy sliders move there."""
    terms = alignment.dpo_loss(ref_chosen, ref_rejected, ref_chosen, ref_rejected, beta)
    reason = (f"then h = 0, so the loss is −log σ(0) = ln 2 = {terms.loss:.4f} whatever β is (β = {beta:g} here): "
              "that is where every DPO run starts, since its policy begins as the reference.")
    return {"feedback": Q.compare_guess(guess, float(terms.loss), reason, unit="nats"),
            "policy_chosen": ref_chosen, "policy_rejected": ref_rejected}


@shows_errors
def predict_beta_margin(guess) -> dict:
    """Reveal: how many times larger the reward margin is at β = 0.5 than at β = 0.1, same log-probabilities."""
    d = PLAYGROUND_DEFAULTS
    low, high = (alignment.dpo_loss(d["policy_chosen"], d["policy_rejected"], d["ref_chosen"], d["ref_rejected"], b)
                 for b in (0.1, 0.5))
    ratio = float(high.margin / low.margin)
    reason = (f"the margin is β·h: with the playground's defaults h = {low.logratio_delta:g}, so {low.margin:.2f} at "
              f"β = 0.1 and {high.margin:.2f} at β = 0.5. Compare margins across runs only at the same β.")
    return {"feedback": Q.compare_guess(guess, ratio, reason, unit="×")}


@shows_errors
def predict_adapter_size(guess, user_id, dpo) -> dict:
    """Reveal: how many numbers the picked DPO adapter trains, against the pocket model's size."""
    size = alignment.adapter_size(_adapter_dir("dpo", dpo, user_id))
    reason = (f"the adapter is LoRA's small A and B matrices: {size:,} numbers, {size / POCKET_PARAMETERS:.1%} of the "
              f"pocket model's {POCKET_PARAMETERS:,}. DPO changes which answers are likely through these alone.")
    return {"feedback": Q.compare_guess(guess, size, reason, unit="numbers")}


def _playground_lab(ctx: LessonContext) -> None:
    markdown("### Lab: the DPO loss, term by term")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            sliders = {name: gr.Slider(-100, 0, value=value, step=0.5, label=label) for name, value, label in (
                ("policy_chosen", PLAYGROUND_DEFAULTS["policy_chosen"], "log π(chosen): the policy"),
                ("policy_rejected", PLAYGROUND_DEFAULTS["policy_rejected"], "log π(rejected): the policy"),
                ("ref_chosen", PLAYGROUND_DEFAULTS["ref_chosen"], "log ref(chosen): the frozen SFT model"),
                ("ref_rejected", PLAYGROUND_DEFAULTS["ref_rejected"], "log ref(rejected): the frozen SFT model"))}
            sliders["beta"] = gr.Slider(0.01, alignment.MAX_BETA, value=PLAYGROUND_DEFAULTS["beta"], step=0.01,
                                        label="β", elem_id="dpo-beta")
        with gr.Column(scale=2):
            summary = markdown("", elem_id="dpo-summary")
            plot = gr.Plot(show_label=False)
    try_this("Set the policy's log-probabilities equal to the reference's: h = 0, the loss is ln 2 ≈ 0.693 whatever β.",
             "Raise β from 0.1 to 2 with the defaults: the loss falls (the pair is ranked right) and the weight drops.",
             "Lower log π(chosen) below log ref(chosen) while lowering log π(rejected) even more: the margin can "
             "grow even when the chosen answer itself became less likely.")
    equal = prediction("set the policy equal to the reference (log π = log ref for both answers): what will the loss "
                       "be?", unit="nats", elem_id="predict-equal")
    equal.reveal(named_event(predict_equal, {"guess": equal.guess, **{k: sliders[k] for k in ("ref_chosen", "ref_rejected",
                                                                                              "beta")}},
                             {"feedback": equal.feedback, "policy_chosen": sliders["policy_chosen"],
                              "policy_rejected": sliders["policy_rejected"]}))
    event = named_event(playground, sliders, {"summary": summary, "plot": plot})
    quiet = dict(show_progress="hidden", api_name=False)
    ctx.on_open(**event, **quiet)
    for slider in sliders.values():
        slider.change(**event, trigger_mode="always_last", **quiet)


# ---------- 3 · DPO training, as a job ----------

@dataclass
class DPOJob:
    """The DPO run this browser tab is training (kept in gr.State for one run, so Stop reaches this one)."""

    run_dir: Path
    sft_dir: Path
    pairs: list
    source: str
    settings: object  # core.finetune.dpo.DPOSettings
    owner: str = "anonymous"

    @property
    def stop_requested(self) -> bool:
        return stop_requests.stop_requested(self.run_dir)


def sft_choices(user_id: str | None) -> list[tuple[str, str]]:
    """SFT adapters of the pocket model: the learner's tab-7 runs and the shipped one."""
    return [(c.label, c.id) for c in registry.list_checkpoints("lora", user_id)
            if c.summary.what == POCKET and c.name != "pocket-dpo"]


def dpo_choices(user_id: str | None) -> list[tuple[str, str]]:
    """DPO adapters: the learner's runs of this tab, then the shipped one (a LoRA adapter of the pocket model)."""
    shipped = [(c.label, c.id) for c in registry.shipped_checkpoints("lora") if c.name == "pocket-dpo"]
    return checkpoint_choices("dpo", user_id) + shipped


def _adapter_dir(kind: str, ref: str | None, user_id: str | None) -> Path:
    """A picked adapter's folder; the shipped DPO adapter lives among the LoRA adapters."""
    if not ref:
        raise learner_error("Pick an adapter from the list.")
    if kind == "dpo" and ref == SHIPPED_DPO:
        kind = "lora"
    return registry.resolve(kind, ref, user_id).path


def read_pairs(source: str, upload) -> alignment.PreferenceSet:
    if source == UPLOAD:
        if not upload:
            raise learner_error('Upload a JSONL file of {"prompt", "chosen", "rejected"} lines, or pick the built-in pairs.')
        prefs = alignment.read_preferences(upload)
        if prefs.problems:
            gr.Warning(f"Skipped {len(prefs.problems)} line(s) of {prefs.source}: {prefs.problems_text()}")
        return prefs
    return alignment.builtin_preferences()


@shows_errors
def start_dpo(user_id, sft, source, upload, steps, beta, lr, request: gr.Request = None,
              demo: gr.Blocks | None = None) -> dict:
    """Check everything, then make the job and reserve the learner's one job slot. Outputs: states and buttons
    only, so a refusal is one message and no Error badge on the curves."""
    from core.finetune.dpo import DPOSettings
    from lessons import queued

    jobs.check_free(user_id)
    sft_dir = _adapter_dir("lora", sft, user_id)
    prefs = read_pairs(source, upload)
    settings = DPOSettings(beta=float(beta), learning_rate=float(lr), max_steps=int(steps))
    settings.validate()
    caps.check_dpo(settings)
    quotas.check_room(user_id)
    job = DPOJob(sessions.new_run_dir(user_id, "dpo"), sft_dir, prefs.pairs, prefs.source, settings, owner=user_id)
    try:
        jobs.reserve(user_id, "DPO", job.run_dir, still_wanted=queued(demo, request) if demo else None)
    except jobs.JobError:
        _drop_if_empty(job.run_dir)
        raise
    return {"job": job, "train_button": gr.Button(value=BUSY_LABEL, interactive=False),
            "stop_button": gr.Button(value=STOP_LABEL, interactive=True)}


def _drop_if_empty(folder: Path) -> None:
    stop_requests.clear(folder)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def curves_chart(steps=(), losses=(), margins=(), accuracies=()) -> Chart:
    """Loss and preference accuracy (left axis, both between 0 and 1 here) and the reward margin (right)."""
    fig = chart("DPO on the preference pairs", "step", "loss (nats) · accuracy", height=SMALL,
                yaxis2=dict(title=dict(text="reward margin"), overlaying="y", side="right", showgrid=False,
                            automargin=True),  # room for the right axis's title beside its tick labels
                margin=dict(r=70))
    steps = list(steps)
    # steps are whole numbers: no "1.5" between the two steps of a short run, at most ~8 ticks on a long one
    fig.axes(x=dict(dtick=max(1, math.ceil(max(steps, default=1) / 8))))
    fig.add("scatter", x=steps, y=list(losses), mode="lines", name="loss", line=dict(color=PALETTE[0]),
            hovertemplate="step %{x}<br>loss %{y:.4f}<extra></extra>")
    fig.add("scatter", x=steps, y=list(accuracies), mode="lines", name="preference accuracy",
            line=dict(color=PALETTE[2], dash="dot"), hovertemplate="step %{x}<br>accuracy %{y:.0%}<extra></extra>")
    fig.add("scatter", x=steps, y=list(margins), mode="lines", name="reward margin", yaxis="y2",
            line=dict(color=PALETTE[1]), hovertemplate="step %{x}<br>margin %{y:+.3f}<extra></extra>")
    return fig


def run_summary(name: str, info: dict) -> str:
    steps, margins, accs = info.get("steps") or [0], info.get("margins") or [], info.get("accuracies") or []
    total = (info.get("settings") or {}).get("max_steps")
    head = f"**Stopped at step {steps[-1]} of {total}**" if info.get("stopped_early") else f"**Done: {steps[-1]} steps**"
    tail = f" · reward margin {margins[-1]:+.2f} · preference accuracy {accs[-1]:.0%}" if margins else ""
    return f"{head}{tail} · saved as `{html.escape(name)}`: pick it below to compare."


def _progress_of(job: DPOJob, listening):
    kwargs = dict(base_model=POCKET, sft_adapter=str(job.sft_dir), pairs=job.pairs, source=job.source,
                  settings=job.settings, run_dir=str(job.run_dir))
    return jobs.stream("core.finetune.dpo:train", kwargs, owner=job.owner, kind="DPO", limits=caps.lora_limits(),
                       stop_arg="stop", stop_dir=job.run_dir, listening=listening)


def _ended(job: DPOJob, failure: str | None) -> str:
    from core.finetune import chat

    saved = (job.run_dir / "adapter_config.json").is_file()
    summary = run_summary(job.run_dir.name, chat.run_info(job.run_dir)) if saved else "Nothing was saved."
    if failure:
        return f"**The run ended early.** {failure} {summary}"
    return summary if saved else "**Stopped before the first step finished**: nothing was saved."


@shows_errors
def train_dpo(job: DPOJob | None, listening=None):
    """Generator: {status, plot}; Stop ends it with a normal last report."""
    if job is None:
        return
    if job.stop_requested:
        _drop_if_empty(job.run_dir)
        yield {"status": "**Stopped before training began**: nothing was saved."}
        return
    last, progress, failure = 0.0, None, None
    try:
        for progress in _progress_of(job, listening):
            now = time.perf_counter()
            if progress.phase == "training" and now - last < UPDATE_EVERY_S:
                continue
            last = now
            yield {"status": progress.status(),
                   "plot": curves_chart(progress.steps, progress.losses, progress.margins, progress.accuracies)}
    except jobs.JobError as err:
        failure = str(err)
    finally:
        _drop_if_empty(job.run_dir)
    out = {"status": _ended(job, failure)}
    if progress is not None:
        out["plot"] = curves_chart(progress.steps, progress.losses, progress.margins, progress.accuracies)
    yield out


def request_stop(job: DPOJob | None) -> dict:
    if job is None or not stop_requests.request_stop(job.run_dir):
        return {"stop_button": gr.Button(value=STOP_LABEL, interactive=False)}
    return {"stop_button": gr.Button(value="Stopping…", interactive=False)}


def end_dpo(user_id, job: DPOJob | None, current) -> dict:
    """Buttons back, the job cleared, the new run listed and picked for the comparison."""
    pick = f"run/{job.run_dir.name}" if job is not None and (job.run_dir / "adapter_config.json").is_file() else current
    choices = dpo_choices(user_id)
    value = pick if pick in [v for _, v in choices] else (choices[0][1] if choices else None)
    return {"job": None, "train_button": gr.Button(value=TRAIN_LABEL, interactive=True),
            "stop_button": gr.Button(value=STOP_LABEL, interactive=False), "dpo": gr.Dropdown(choices=choices, value=value)}


def refresh_lists(user_id, sft, dpo) -> dict:
    """The adapter lists as this learner sees them now (their runs appear after a reload too)."""
    sfts, dpos = sft_choices(user_id), dpo_choices(user_id)
    keep = lambda value, choices, default: value if value in [v for _, v in choices] else default  # noqa: E731
    return {"sft": gr.Dropdown(choices=sfts, value=keep(sft, sfts, SHIPPED_SFT)),
            "dpo": gr.Dropdown(choices=dpos, value=keep(dpo, dpos, dpos[0][1] if dpos else None))}


def show_dpo_run(user_id, dpo) -> dict:
    """A picked DPO run's saved curves and summary (after a reload too)."""
    from core.finetune import chat

    try:
        folder = _adapter_dir("dpo", dpo, user_id)
    except (ValueError, gr.Error):
        return {}
    info = chat.run_info(folder)
    return {"status": ("Shipped run: " if dpo == SHIPPED_DPO else "") + run_summary(folder.name, info),
            "plot": curves_chart(info.get("steps", []), info.get("losses", []), info.get("margins", []),
                                 info.get("accuracies", []))}


def _train_widgets() -> dict:
    from core.finetune.dpo import DPOSettings

    d = DPOSettings()
    w = {}
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            w["sft"] = gr.Dropdown(sft_choices(None), value=SHIPPED_SFT, label="Start from this SFT adapter",
                                   info="the shipped one, or your own from tab 7")
            w["source"] = gr.Radio([BUILTIN, UPLOAD], value=BUILTIN, label="Preference pairs")
            w["upload"] = gr.File(label='JSONL: {"prompt", "chosen", "rejected"} per line', file_types=[".jsonl", ".json"],
                                  type="filepath")
            w["steps"] = gr.Slider(1, 200, value=d.max_steps, step=1, label="Steps (batches of 8 pairs)")
            w["beta"] = gr.Slider(0.01, 1.0, value=d.beta, step=0.01, label="β")
            w["lr"] = gr.Slider(1e-4, 5e-3, value=d.learning_rate, step=1e-4, label="Learning rate")
        with gr.Column(scale=2):
            with gr.Row():
                w["train_button"] = gr.Button(TRAIN_LABEL, variant="primary", elem_id="dpo-train")
                w["stop_button"] = gr.Button(STOP_LABEL, variant="stop", interactive=False, elem_id="dpo-stop")
            # before a learner's own run: the shipped DPO run's curves (its run.json), not an empty chart
            shipped = show_dpo_run(None, SHIPPED_DPO)
            w["status"] = markdown(shipped.get("status", "") + "\n\nPress *Train with DPO* (about a minute) to run "
                                   "your own, or compare the shipped DPO adapter below.", elem_id="dpo-status")
            w["plot"] = gr.Plot(shipped.get("plot", curves_chart()), show_label=False, elem_id="dpo-curves")
    w["job"] = gr.State(None)
    return w


def _wire_training(ctx: LessonContext, w: dict) -> None:
    names = ("sft", "source", "upload", "steps", "beta", "lr")
    buttons = {"job": w["job"], "train_button": w["train_button"], "stop_button": w["stop_button"]}
    start = w["train_button"].click(**named_event(functools.partial(start_dpo, demo=ctx.demo),
                                                  {"user_id": ctx.user_id, **{n: w[n] for n in names}}, buttons),
                                    api_name=False)

    def train_event(job, request: gr.Request):  # the request tells whether a browser still listens
        from lessons import watched

        yield from train_dpo(job, listening=watched(ctx.demo, request))

    shown = {"status": w["status"], "plot": w["plot"]}
    start.success(**named_event(train_event, {"job": w["job"]}, shown), api_name=False, show_progress="minimal",
                  concurrency_limit=threads.training_slots(), concurrency_id=threads.TRAINING_CONCURRENCY_ID).then(
        **named_event(end_dpo, {"user_id": ctx.user_id, "job": w["job"], "current": w["dpo"]}, {**buttons, "dpo": w["dpo"]}),
        api_name=False)
    w["stop_button"].click(**named_event(request_stop, {"job": w["job"]}, {"stop_button": w["stop_button"]}),
                           api_name=False, concurrency_limit=None)
    w["dpo"].input(**named_event(show_dpo_run, {"user_id": ctx.user_id, "dpo": w["dpo"]}, shown), api_name=False)


# ---------- 4 · one prompt, three models ----------

def _models(user_id, sft, dpo) -> list[tuple[str, object]]:
    """(output name, (model, tokenizer, adapter on?)) for the base, the SFT and the DPO model."""
    from core.finetune import chat

    sft_model = chat.load_adapted(_adapter_dir("lora", sft, user_id))
    dpo_model = chat.load_adapted(_adapter_dir("dpo", dpo, user_id))
    return [("base", sft_model, False), ("sft", sft_model, True), ("dpo", dpo_model, True)]


@shows_errors
def three_ways(user_id, sft, dpo, prompt, max_new_tokens, temperature, seed):
    """Stream the same prompt through the base model, SFT and DPO in turn, same settings and seed."""
    import contextlib

    from core.finetune import chat

    prompt = prompt or ""
    if len(prompt) > MAX_PROMPT_CHARS:
        raise learner_error(f"The prompt has {len(prompt)} characters; keep it under {MAX_PROMPT_CHARS}.")
    if not prompt.strip():
        raise learner_error("Type a question first, e.g. What is a token?")
    out = {"base": "", "sft": "", "dpo": ""}
    yield dict(out)
    kwargs = dict(max_new_tokens=int(max_new_tokens), temperature=float(temperature), seed=int(seed))
    for name, adapted, adapter_on in _models(user_id, sft, dpo):
        # the base is the SFT model with its adapter switched off (peft's disable_adapter: exactly the base)
        context = contextlib.nullcontext() if adapter_on else adapted.model.disable_adapter()
        with context:
            for text in chat.stream(adapted.model, adapted.tokenizer, prompt, **kwargs):
                out[name] = text
                yield dict(out)
        if not out[name]:
            out[name] = "(an empty reply: the model ended its turn at once)"
            yield dict(out)


def _compare_lab(ctx: LessonContext, w: dict) -> None:
    markdown("### Lab: one prompt through all three phases")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            w["prompt"] = gr.Textbox(DEFAULT_PROMPT, label="Prompt", max_length=MAX_PROMPT_CHARS, elem_id="three-prompt")
            w["dpo"] = gr.Dropdown(dpo_choices(None), value=SHIPPED_DPO, label="DPO adapter",
                                   info="the shipped one, or your run above")
            w["max_new"] = gr.Slider(8, 120, value=60, step=1, label="New tokens at most")
            w["temperature"] = gr.Slider(0, 1.5, value=0.7, step=0.05, label="Temperature (0 = greedy)")
            w["seed"] = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=2**31 - 1)
            w["go"] = gr.Button("Generate with all three", variant="primary", elem_id="three-go")
        with gr.Column(scale=3):
            with gr.Row():
                w["base"] = gr.Textbox(label="1 · Pre-trained (base pocket model)", lines=8, elem_id="three-base")
                w["sft_out"] = gr.Textbox(label="2 · + SFT adapter", lines=8, elem_id="three-sft")
                w["dpo_out"] = gr.Textbox(label="3 · + DPO adapter", lines=8, elem_id="three-dpo")
    try_this("Ask *What is a token?*: the base model continues the text; the SFT and DPO models answer in the "
             "'Answer: … [done]' format. With 869,504 parameters the answers stay only roughly right: DPO changes "
             "which kind of answer is more likely (see the margin above), not how much the model knows.",
             "Keep the seed and press again: the same three replies. Change the seed to see others.",
             "Train your own DPO run above with β = 0.5, pick it here and compare.")
    size = prediction("how many numbers does the picked DPO adapter train (the pocket model has "
                      f"{POCKET_PARAMETERS:,})?", unit="numbers", elem_id="predict-adapter")
    size.reveal(named_event(predict_adapter_size, {"guess": size.guess, "user_id": ctx.user_id, "dpo": w["dpo"]},
                            {"feedback": size.feedback}))
    inputs = {"user_id": ctx.user_id, "sft": w["sft"], "dpo": w["dpo"], "prompt": w["prompt"],
              "max_new_tokens": w["max_new"], "temperature": w["temperature"], "seed": w["seed"]}
    event = named_event(three_ways, inputs, {"base": w["base"], "sft": w["sft_out"], "dpo": w["dpo_out"]})
    for trigger in (w["go"].click, w["prompt"].submit):
        trigger(**event, api_name=False, show_progress="minimal", concurrency_limit=4)


def warm_up() -> None:
    """The pocket model and tokenizer, loaded once before the first learner opens this tab (lessons.warm_up)."""
    _tokenizer()


def build(ctx: LessonContext) -> None:
    lesson_text("part02_three_phases")
    _phases_lab(ctx)
    _playground_lab(ctx)
    markdown("### Lab: align the SFT model with DPO (trl's DPOTrainer)")
    w = _train_widgets()
    try_this("Watch the reward margin climb while the loss falls from ln 2 ≈ 0.693: at step 1 the policy *is* the "
             "reference, so every margin is 0.",
             "Train with β = 0.5 and compare the margin with a β = 0.1 run: the margin is β·h, so it is scaled.")
    margin = prediction("for the same log-probabilities, how many times larger is the reward margin at β = 0.5 "
                        "than at β = 0.1?", unit="×", elem_id="predict-margin")
    margin.reveal(named_event(predict_beta_margin, {"guess": margin.guess}, {"feedback": margin.feedback}))
    _compare_lab(ctx, w)
    _wire_training(ctx, w)
    refresh = named_event(refresh_lists, {"user_id": ctx.user_id, "sft": w["sft"], "dpo": w["dpo"]},
                          {"sft": w["sft"], "dpo": w["dpo"]})
    # after a reload: the lists, then the curves of the run they show (the learner's newest, else the shipped one)
    ctx.on_open(**refresh, api_name=False, show_progress="hidden").then(
        **named_event(show_dpo_run, {"user_id": ctx.user_id, "dpo": w["dpo"]}, {"status": w["status"], "plot": w["plot"]}),
        api_name=False, show_progress="hidden")
    ctx.tab.select(**refresh, api_name=False, show_progress="hidden")
    end_of_tab_check("part02")

"""Tab: The end-to-end workflow (Part 11). UI only; core.pipeline computes.

One guided pipeline on the learner's own text: 1 data -> 2 tokenizer -> 3 pre-train -> 4 evaluate (bits per
character) -> 5 fine-tune (a hand-off to tab 7) -> 6 export (a zip). A row of badges shows each step's state.
Every step's output lives in the learner's folder (core.pipeline.learner_folder): step 1 writes the cleaned
text, each run (one per tokenizer: "char", "bpe") its own folder and zip, so a reloaded page shows it all again.

Steps 2-4 and the export run as ONE job (core.pipeline.run in a worker via core.jobs.stream): BPE training is
work too. It starts in two steps like tab 4's training (prepare_run checks, run_pipeline streams).
"""
from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import gradio as gr

from core import caps, jobs, pipeline, quotas, sessions, stop_requests, text_input, threads
from core import probability as P
from core import quiz as Q
from lessons.check import end_of_tab_check, prediction
from lessons.common import (LessonContext, learner_error, lesson_text, markdown, named_event, shows_errors,
                            stop_button_after_press, try_this)
from lessons.plots import loss_curves

SOURCES = [("Built-in corpus", text_input.BUILTIN), ("Paste text", text_input.PASTE), ("Upload a .txt file", text_input.UPLOAD)]
MODEL_CHOICES = [("Small: 2 layers × 64 wide, context 64 (the default)", "small"),
                 ("Tiny: 1 layer × 32 wide, context 32 (seconds)", "tiny")]
TOKENIZER_CHOICES = [("Characters", "char"), ("Own BPE (trained in step 2)", "bpe")]
RUN_LABEL, RUNNING_LABEL, STOP_LABEL, STOPPING_LABEL = "Run steps 2–4 and export", "Running…", "Stop", "Stopping…"
STEP_NAMES = {"data": "1 Data", "tokenizer": "2 Tokenizer", "pretrain": "3 Pre-train", "evaluate": "4 Evaluate",
              "finetune": "5 Fine-tune", "export": "6 Export"}
MARKS = {True: "✓", False: "·", "running": "…", "failed": "✗"}
FINETUNE_NOTE = (
    "**5 · Fine-tune → tab 7.** Your MiniGPT is a *base* model: it continues text like yours. Fine-tuning would "
    "go on training these same weights, at a small learning rate, on examples of the behaviour you want "
    "(question → answer pairs written from your text), with the loss on the answers only. Tab 7 does exactly "
    "that with LoRA on a real pocket model: paste your pairs there.")


@dataclass(frozen=True)
class Plan:
    """A checked run, handed from prepare_run to run_pipeline through a gr.State."""

    settings: pipeline.Settings
    run_dir: str


# ---------- views ----------

def badges(states: dict) -> str:
    """The step row: ✓ done, … running, ✗ failed, · not yet; fine-tuning is a hand-off to tab 7 (↗)."""
    marks = {step: "↗" if step == "finetune" else MARKS[states.get(step, False)] for step in STEP_NAMES}
    return " &nbsp;→&nbsp; ".join(f"**{marks[step]} {name}**" for step, name in STEP_NAMES.items())


def data_summary(data: pipeline.Data | None) -> str:
    if data is None:
        return "Press **1 · Prepare the data** to start."
    s = data.stats
    return (f"**{s['characters']:,} characters**, {s['distinct_characters']} distinct, {s['lines']:,} lines "
            f"(cleaning removed {s['removed_by_cleaning']:,}) · training {s['train_characters']:,} / "
            f"validation {s['validation_characters']:,} characters (the last lines, never trained on)")


def comparison_table(user_id) -> list[list]:
    folder = pipeline.learner_folder(user_id)
    runs = [pipeline.read_run(folder / kind) for kind in pipeline.TOKENIZERS]
    return [pipeline.comparison_row(r) for r in runs if r]


def loss_figure(progress, title: str = "Loss of the pipeline's MiniGPT"):
    if progress is None:  # before a run: the axes the run will draw on, and what to press
        fig = loss_curves("Loss of the pipeline's MiniGPT", "loss (nats per token)")
        fig.update_layout(xaxis_range=[0, pipeline.Settings().steps], yaxis_range=[0, 5])
        fig.add_annotation(text="Press <b>Run steps 2–4 and export</b>: the training and validation curves appear here",
                           x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
        return fig
    return loss_curves(title, "loss (nats per token)", progress.train_curve, progress.val_curve)


def result_text(run: dict) -> str:
    e, t, steps = run["evaluation"], run["tokenizer"], run["settings"]["steps"]
    done = run["progress"].step
    ended = f"stopped at step {done} of {steps}" if done < steps else f"{steps} steps"
    return (f"**{run['settings']['tokenizer']}** run ({ended}), saved and exported: vocabulary {t['vocab_size']}, {t['characters_per_token']:.2f} characters "
            f"per token · validation **{e['bits_per_character']:.3f} bits per character** = "
            f"{e['loss_per_token']:.3f} nats per token × {e['tokens_per_character']:.3f} tokens per character / ln 2")


def run_view(user_id, kind: str | None = None) -> dict:
    """What a run folder holds: badges, result, curve, samples, download (the newest run when kind is None)."""
    folder = pipeline.learner_folder(user_id)
    runs = {k: pipeline.read_run(folder / k) for k in pipeline.TOKENIZERS}
    if kind is None:
        finished = [r for r in runs.values() if r]
        kind = max(finished, key=lambda r: r["folder"].stat().st_mtime)["settings"]["tokenizer"] if finished else None
    run = runs.get(kind) if kind else None
    states = {"data": pipeline.load_data(folder) is not None, **pipeline.step_status(folder / kind if kind else None)}
    view = {"badges": badges(states), "table": comparison_table(user_id)}
    if run is None:
        return view | {"status": "", "chart": loss_figure(None), "samples": "", "download": gr.update(value=None, visible=False)}
    samples = "\n\n".join(f"--- sample {i + 1} ---\n{s}" for i, s in enumerate(run["evaluation"]["samples"]))
    return view | {"status": result_text(run), "chart": loss_figure(run["progress"], f"Loss of the {kind} run"),
                   "samples": samples, "download": gr.update(value=str(run["zip"]) if run["zip"] else None, visible=bool(run["zip"]))}


@shows_errors
def show_saved(user_id) -> dict:
    """On load: what this learner's folder already holds (step 1's data, the runs, the table). A first visit
    has no id yet when the tabs load (the app gives it one just after): nothing saved, so the empty view."""
    if not sessions.is_valid_user_id(user_id):
        return {"data_info": data_summary(None), "badges": badges({}), "table": [], "status": "",
                "chart": loss_figure(None), "samples": "", "download": gr.update(value=None, visible=False)}
    data = pipeline.load_data(pipeline.learner_folder(user_id))
    return {"data_info": data_summary(data), **run_view(user_id)}


# ---------- step 1 ----------

@shows_errors
def prepare_data(user_id, source, pasted, upload) -> dict:
    """Step 1: read (the one reader), clean, split, count; saved in the learner's folder. A new text makes the
    old runs meaningless (their validation text is gone), so they are removed."""
    jobs.check_free(user_id)
    data = pipeline.data_from_source(source, pasted, upload)
    quotas.check_room(user_id)
    folder = pipeline.learner_folder(user_id)
    for kind in pipeline.TOKENIZERS:
        shutil.rmtree(folder / kind, ignore_errors=True)
        (folder / f"{kind}.zip").unlink(missing_ok=True)
    pipeline.save_data(folder, data)
    return {"data_info": data_summary(data), **run_view(user_id)}


# ---------- steps 2-4 and 6: one job ----------

@shows_errors
def prepare_run(user_id, tokenizer, vocab_size, steps, model="small", request: gr.Request | None = None, demo: gr.Blocks | None = None) -> dict:
    """Check the settings, caps and quota, clear this tokenizer's old run and reserve the learner's job slot."""
    from lessons import queued

    jobs.check_free(user_id)
    folder = pipeline.learner_folder(user_id)
    data = pipeline.load_data(folder)
    if data is None:
        raise learner_error("Do step 1 first: press “1 · Prepare the data”.")
    settings = pipeline.Settings.of_size(str(model), tokenizer=str(tokenizer), vocab_size=int(vocab_size), steps=int(steps))
    settings.check()
    vocab = settings.vocab_size if settings.tokenizer == "bpe" else data.stats["distinct_characters"]
    caps.check_minigpt(replace(settings.model_config(), vocab_size=vocab), settings.train_config())
    quotas.check_room(user_id)
    run_dir = folder / settings.tokenizer
    shutil.rmtree(run_dir, ignore_errors=True)
    (folder / f"{settings.tokenizer}.zip").unlink(missing_ok=True)
    run_dir.mkdir(parents=True)
    try:
        jobs.reserve(user_id, "Pipeline run", str(run_dir), still_wanted=queued(demo, request) if demo else None)
    except jobs.JobError:
        run_dir.rmdir()
        raise
    return {"plan": Plan(settings, str(run_dir)), "job": str(run_dir)}


def busy() -> dict:
    return {"run_btn": gr.Button(RUNNING_LABEL, interactive=False), "stop_btn": gr.Button(STOP_LABEL, interactive=True)}


def idle() -> dict:
    return {"run_btn": gr.Button(RUN_LABEL, interactive=True), "stop_btn": gr.Button(STOP_LABEL, interactive=False),
            "plan": None, "job": None}


def request_stop(job) -> dict:
    return {"stop_btn": stop_button_after_press(job)}


def _live_view(report) -> dict:
    """A report while the job runs: the badges with the current step marked running, status, curve."""
    order = ["tokenizer", "pretrain", "evaluate"]
    current = order.index(report.stage)
    states = {"data": True, **{s: (True if i < current else "running" if i == current else False) for i, s in enumerate(order)}}
    view = {"badges": badges(states)}
    if report.stage == "tokenizer":
        view["status"] = "Step 2: building the tokenizer…"
    elif report.progress is None:
        t = report.tokenizer
        view["status"] = f"Step 2 done: vocabulary {t['vocab_size']}, {t['characters_per_token']:.2f} characters per token. Step 3: pre-training…"
    else:
        view |= {"status": f"Step {current + 2}: {report.progress.status_line()}", "chart": loss_figure(report.progress)}
    return view


def _failed_view(plan: Plan, message: str) -> dict:
    """The job refused or failed: the step it was at gets ✗ and the message stays in the status line."""
    states = {"data": True, **pipeline.step_status(plan.run_dir)}
    failed = next((s for s in ("tokenizer", "pretrain", "evaluate", "export") if not states[s]), "export")
    states[failed] = "failed"
    gr.Warning(message)
    return {"badges": badges(states), "status": f"**✗ {STEP_NAMES[failed]}:** {message}"}


@shows_errors
def run_pipeline(user_id, plan: Plan | None, request: gr.Request | None = None, demo: gr.Blocks | None = None):
    """Generator: the checked plan as a job (core.pipeline.run in a worker), streamed step by step."""
    from lessons import watched

    if plan is None:
        raise learner_error("Press Run to start.")
    run_dir = Path(plan.run_dir)
    if stop_requests.withdrawn_before_start(run_dir):
        yield {"status": "Stopped before the run started: nothing was trained or saved."}
        return
    data = pipeline.load_data(run_dir.parent)
    kwargs = dict(data=data, settings=plan.settings, out_dir=str(run_dir))
    listening = watched(demo, request) if demo is not None else None
    try:
        for report in jobs.stream("core.pipeline:run", kwargs, owner=user_id, kind="Pipeline run",
                                  limits=caps.minigpt_limits(), stop_dir=run_dir, listening=listening):
            yield run_view(user_id, plan.settings.tokenizer) if report.stage == "done" else _live_view(report)
    except jobs.JobError as err:
        yield _failed_view(plan, str(err))
    finally:
        stop_requests.clear(run_dir)


# ---------- layout ----------

def _controls() -> dict:
    source = gr.Radio(SOURCES, value=text_input.BUILTIN, label="Text")
    pasted = gr.Textbox(label="Your text", lines=4, max_lines=8, visible=False, placeholder="Paste a few pages of text…")
    upload = gr.File(label="A UTF-8 .txt file", file_types=[".txt"], type="filepath", visible=False)
    data_btn = gr.Button("1 · Prepare the data", variant="secondary", elem_id="pipeline-data")
    tokenizer = gr.Radio(TOKENIZER_CHOICES, value="char", label="2 · Tokenizer")
    d = pipeline.Settings()
    vocab_size = gr.Slider(*pipeline.VOCAB_LIMITS, value=d.vocab_size, step=1, label="BPE vocabulary size",
                           info="256 bytes + the merges learned from your training text")
    steps = gr.Slider(10, 2000, value=d.steps, step=10, label="3 · Pre-training steps")
    model = gr.Radio(MODEL_CHOICES, value="small", label="3 · MiniGPT")
    with gr.Row():
        run_btn = gr.Button(RUN_LABEL, variant="primary", elem_id="pipeline-run")
        stop_btn = gr.Button(STOP_LABEL, variant="stop", interactive=False, elem_id="pipeline-stop")
    return {"source": source, "pasted": pasted, "upload": upload, "data_btn": data_btn, "tokenizer": tokenizer,
            "vocab_size": vocab_size, "steps": steps, "model": model, "run_btn": run_btn, "stop_btn": stop_btn}


def _results() -> dict:
    data_info = markdown("", elem_id="pipeline-data-info")
    status = markdown("", elem_id="pipeline-status")
    table = gr.Dataframe(headers=pipeline.COMPARISON_HEADERS, value=[], label="4 · Evaluate: your runs compared",
                         interactive=False, wrap=True, elem_id="pipeline-table")
    with gr.Row(equal_height=False):
        chart = gr.Plot(show_label=False, scale=3, min_width=300, elem_id="pipeline-chart")
        samples = gr.Textbox(label="Samples (continuing the validation text)", lines=10, max_lines=10, scale=2,
                             min_width=240, interactive=False, elem_id="pipeline-samples")
    untrained = prediction("after step 1, before any training: how many bits per character will an untrained "
                           "character-level model score on your validation text?", unit="bits per character",
                           elem_id="predict-untrained")
    markdown(FINETUNE_NOTE)
    download = gr.File(label="6 · Export: the run as one zip", visible=False, interactive=False, elem_id="pipeline-download")
    return {"data_info": data_info, "status": status, "table": table, "chart": chart, "samples": samples, "download": download,
            "untrained": untrained}


def _wire(ctx: LessonContext, c: dict, view: dict, badge_row) -> None:
    out = {**{k: view[k] for k in ("status", "table", "chart", "samples", "download")}, "badges": badge_row}
    source_inputs = {"source": c["source"]}
    c["source"].change(**named_event(source_visibility, source_inputs, {"pasted": c["pasted"], "upload": c["upload"]}),
                       api_name=False, show_progress="hidden")
    ctx.on_open(**named_event(show_saved, {"user_id": ctx.user_id}, {**out, "data_info": view["data_info"]}), api_name=False)
    c["data_btn"].click(**named_event(prepare_data, {"user_id": ctx.user_id, "source": c["source"], "pasted": c["pasted"],
                                                     "upload": c["upload"]}, {**out, "data_info": view["data_info"]}), api_name=False)
    plan, job = gr.State(None), gr.State(None)
    states, buttons = {"plan": plan, "job": job}, {"run_btn": c["run_btn"], "stop_btn": c["stop_btn"]}
    form = {"user_id": ctx.user_id, "tokenizer": c["tokenizer"], "vocab_size": c["vocab_size"], "steps": c["steps"],
            "model": c["model"]}
    start = c["run_btn"].click(**named_event(functools.partial(prepare_run, demo=ctx.demo), form, states), api_name=False)
    start.success(**named_event(busy, outputs=buttons), api_name=False, show_progress="hidden").success(
        **named_event(functools.partial(run_pipeline, demo=ctx.demo), {"user_id": ctx.user_id, "plan": plan}, out),
        api_name=False, show_progress="minimal", concurrency_limit=threads.training_slots(),
        concurrency_id=threads.TRAINING_CONCURRENCY_ID,
    ).then(**named_event(idle, outputs={**buttons, **states}), api_name=False, show_progress="hidden")
    c["stop_btn"].click(**named_event(request_stop, {"job": job}, {"stop_btn": c["stop_btn"]}), api_name=False,
                        show_progress="hidden", queue=False)
    guess = view["untrained"]
    guess.reveal(named_event(predict_untrained, {"guess": guess.guess, "user_id": ctx.user_id}, {"feedback": guess.feedback}))


@shows_errors
def predict_untrained(guess, user_id) -> dict:
    """Reveal: the bits per character of an untrained character-level model on the learner's prepared text:
    it spreads probability evenly over the text's distinct characters, so −log2(1/V) = log2 V."""
    if not sessions.is_valid_user_id(user_id):
        raise ValueError("Your session is still starting: try again in a second.")
    data = pipeline.load_data(pipeline.learner_folder(user_id))
    if data is None:
        raise ValueError("Press **1 · Prepare the data** first: the answer depends on your text.")
    vocab = data.stats["distinct_characters"]
    bits = P.uniform_loss(vocab) / P.uniform_loss(2)  # ln V / ln 2
    reason = (f"your text has V = {vocab} distinct characters; an untrained model gives each p = 1/{vocab}, so it "
              f"needs −log2(1/{vocab}) = log2 {vocab} = {bits:.2f} bits per character. Every trained run in the "
              "table must beat that on the validation text, or it learned nothing it can use on unseen text.")
    return {"feedback": Q.compare_guess(guess, bits, reason, unit="bits per character")}


def source_visibility(source) -> dict:
    return {"pasted": gr.update(visible=source == text_input.PASTE), "upload": gr.update(visible=source == text_input.UPLOAD)}


def build(ctx: LessonContext) -> None:
    lesson_text("part11_workflow")
    badge_row = markdown(badges({}), elem_id="pipeline-badges")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            controls = _controls()
        with gr.Column(scale=3):
            view = _results()
    _wire(ctx, controls, view, badge_row)
    try_this("Run the pipeline with **Characters**, then with **Own BPE**: the table compares them in bits per "
             "character, the one unit both share.",
             "Raise the BPE vocabulary size: more characters per token, fewer tokens to predict. Does the validation "
             "bits per character go down, or does a small text give too few examples of each token?",
             "Paste your own notes (a few pages) and prepare the data again; export the zip and rerun it from the terminal.")
    end_of_tab_check("part11")

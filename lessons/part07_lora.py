"""Tab: LoRA fine-tuning with Hugging Face (Part 7). UI only: every number comes from core.finetune.

Four labs, one builder each: a model and its data, LoRA settings and training, talking to the
result, taking it with you. Handlers are module-level functions (tests and benches call them).
What a learner last got right is kept in gr.State (the loaded model's name, the data, the job
being trained), so an old typo in one box is never raised again by another lab.

The fine-tune runs in a worker process (core.jobs, like tab 4's MiniGPT): the server's caps, the
learner's disk quota and "one run per learner, across tabs" are checked before anything starts, and
Stop is core.stop_requests' marker file in the run folder, which the worker checks every step.
"""
from __future__ import annotations

import functools

import html
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import plotly.graph_objects as go

from core import caps, jobs, quotas, registry, sessions, spaces_support, stop_requests, threads
from core import quiz as Q
from core.finetune import lora as lora_mod
from core.finetune import models
from core.finetune.train import TrainSettings
from lessons.check import end_of_tab_check, prediction
from lessons.common import (LessonContext, checkpoint_dropdown, checkpoint_pick, learner_error, lesson_text, markdown,
                            named_event, shows_errors, try_this)
from lessons.plots import PALETTE, TRAIN, chart, figure, loss_curves
from lessons.tokens import tokens_html

BUILTIN, UPLOAD, HUB = "Built-in Q&A (138 examples)", "Upload JSONL", "Hub dataset"
MAX_PROMPT_CHARS = 1000
CHAT_GPU_SECONDS = 60  # one side-by-side answer on ZeroGPU: short calls get a better place in its queue
MAX_ID_CHARS = 300
UPDATE_EVERY_S = 1.0  # the loss curve streams: redraw at most once a second (a slow browser keeps up)
TRAIN_LABEL, BUSY_LABEL, STOP_LABEL = "Fine-tune", "Fine-tuning…", "Stop"
LOSS_TITLE, LOSS_AXIS = "Loss on the answer tokens", "loss (nats per token)"
MAX_RANK = 64  # the rank slider's end
TAUGHT_CHOICES = ["only base + adapter", "both", "neither", "only the base"]
MERGE_CHOICES = ["the base model's count, exactly", "the base's + the adapter's", "only the adapter's"]


@dataclass
class LoraJob:
    """The run this browser tab is training: its folder (where Stop writes its request), what it trains,
    and whose it is (core.jobs allows one job per learner).

    Kept in gr.State for the length of one run, so Stop reaches this run and no other, and the finished
    run is named by its own folder."""

    run_dir: Path
    model: str
    settings: TrainSettings
    owner: str = "anonymous"

    @property
    def stop_requested(self) -> bool:
        return stop_requests.stop_requested(self.run_dir)


def _model_name(choice: str | None) -> str:
    choice = (choice or "").strip()
    if len(choice) > MAX_ID_CHARS:
        raise learner_error(f"The model name is {len(choice)} characters long; give a Hub id or path under "
                            f"{MAX_ID_CHARS}.")
    return choice


# ---------- 1 · model and data ----------

def on_load():
    """Detect the setting once (cached per process) and choose the default model for it."""
    env = models.detect_environment()
    reason = env.four_bit_unavailable
    four_bit = gr.Checkbox(value=False, interactive=reason is None,
                           info=reason or "QLoRA: the frozen base in NF4 4-bit, LoRA in 16-bit.")
    return env.describe(), gr.Dropdown(value=env.default_model, allow_custom_value=True), four_bit


@shows_errors
def check_model(choice: str) -> None:
    """Refuse a name that cannot be a model before anything else runs (no outputs: no badges)."""
    models.resolve(_model_name(choice))


@shows_errors
def load_and_describe(choice: str):
    """Generator: says what is loading first (a Hub model can take a while), then time and memory.
    Yields (model text, the loaded model's name): the name is set only once the load worked."""
    name = _model_name(choice)
    yield f"Loading `{html.escape(name)}`… (the first load of a Hub model downloads it)", gr.skip()
    yield models.load_model(name).describe(), name


def kept_model(loaded_name: str | None) -> str:
    """After a failed load: the model still in use, so the text above the lab is not a stale 'Loading…'."""
    if not loaded_name:
        return "No model loaded yet: pick one and press Load model."
    return f"Still using `{loaded_name}`: " + models.load_model(loaded_name).describe()


def model_pending(choice: str | None, loaded_name: str | None):
    """The picker moved away from the loaded model: say that the numbers below are for the loaded one."""
    if not loaded_name or (choice or "").strip() == loaded_name:
        return gr.skip()
    return (f"Press **Load model** to use `{html.escape((choice or '').strip()[:MAX_ID_CHARS])}`; "
            f"everything below still uses `{loaded_name}`.")


def data_hint(source: str, upload, hub_id: str) -> str | None:
    """Choosing a source before giving its file or id is not an error yet: say what comes next."""
    if source == UPLOAD and upload is None:
        return "Choose a .jsonl file to upload; until then the current data stays."
    if source == HUB and not (hub_id or "").strip():
        return "Type a Hub dataset id (owner/name) and press Enter; until then the current data stays."
    return None


@shows_errors
def read_data(source: str, upload, hub_id: str, hub_split: str):
    """The chosen data, into the data State only (a refusal leaves the current data and its summary)."""
    from core.finetune import data

    if data_hint(source, upload, hub_id):
        return gr.skip()  # describe_data says what comes next
    if source == UPLOAD:
        dataset = data.read_jsonl(upload)
    elif source == HUB:
        hub_id, hub_split = hub_id.strip(), (hub_split or "").strip()
        if len(hub_id) > MAX_ID_CHARS or len(hub_split) > 100:
            raise learner_error("Give a Hub dataset id (owner/name) and a split such as train[:200].")
        dataset = data.from_hub(hub_id, hub_split or "train[:200]", models.detect_environment().hub)
    else:
        dataset = data.builtin()
    if dataset.problems:
        gr.Warning(f"Skipped {len(dataset.problems)} malformed line(s): {dataset.problems_text()}")
    return dataset


def describe_data(dataset, source: str = BUILTIN, upload=None, hub_id: str = ""):
    """The data in use (and what to do next, if the chosen source still lacks its file or id), and
    an example slider that fits it."""
    hint = data_hint(source, upload, hub_id)
    if dataset is None:
        return hint or gr.skip(), gr.skip()
    summary = f"**{len(dataset.examples)} examples** from {html.escape(dataset.source)}."
    if dataset.problems:
        summary += f" Skipped {len(dataset.problems)}: {html.escape(dataset.problems_text())}"
    if hint:
        return f"{hint} In use: {summary}", gr.skip()
    # a one-example dataset still needs a slider with minimum < maximum
    return summary, gr.Slider(maximum=max(1, len(dataset.examples) - 1), value=0)


@shows_errors
def preview_html(loaded_name: str | None, dataset, index: int, max_length: int):
    """The example after the chat template, answer tokens (the ones trained on) coloured."""
    from core.finetune import data

    if dataset is None or not loaded_name:
        return gr.skip()
    tokenizer = models.load_model(loaded_name).tokenizer
    index = min(int(index), len(dataset.examples) - 1)
    view = data.preview(tokenizer, dataset.examples[index], int(max_length))
    head = (f"<p>{len(view.ids)} tokens; the loss is computed on the <b>{view.n_trained} coloured answer tokens</b>, "
            f"grey tokens are context only.</p>")
    return head + tokens_html(view.pieces, view.ids, muted=[not t for t in view.trained])


@shows_errors
def predict_answer_share(guess, loaded_name, dataset, max_length) -> dict:
    """Reveal: the share of all tokens of the data (after the chat template and the cut) the loss falls on."""
    from core.finetune import data

    Q.parse_guess(guess)
    if dataset is None or not loaded_name:
        raise ValueError("Load a model and its data first (section 1): the answer depends on both.")
    trained, total = data.answer_share(models.load_model(loaded_name).tokenizer, dataset.examples, int(max_length))
    reason = (f"over all {len(dataset.examples)} examples, {trained:,} of {total:,} tokens are answer tokens. The chat "
              "template's markers and the question are context only: the model reads them but is not scored on them, "
              "so it learns to answer, not to ask.")
    return {"feedback": Q.compare_guess(guess, 100 * trained / total, reason, unit="%", digits=3)}


# ---------- 2 · LoRA settings and training ----------

@shows_errors
def check_lora(rank, alpha, dropout, targets) -> None:
    """Refuse impossible LoRA settings before the summary runs, so the last good summary stays unbadged."""
    lora_mod.LoraSettings(int(rank), int(alpha), float(dropout), list(targets or [])).validate()


@shows_errors
def lora_summary(loaded_name, rank, alpha, dropout, targets):
    """Trainable parameters, the update formula with real shapes, and the memory estimate."""
    if not loaded_name:
        return gr.skip(), gr.skip()
    model = models.load_model(loaded_name).model
    settings = lora_mod.LoraSettings(int(rank), int(alpha), float(dropout), list(targets or []))
    count = lora_mod.parameter_count(model, settings)
    layer = lora_mod.example_layer(model, settings)
    # the frozen weights as this run holds them: float32 on a CPU, 16-bit on a GPU
    memory = lora_mod.memory_estimate(model, settings, frozen_bytes=next(model.parameters()).element_size())
    text = (f"**Trainable: {count.trainable:,} of {count.total:,} parameters = {count.percent:.3f}%** "
            f"({count.layers} adapted layers, each adds r·(in + out) numbers).\n\n"
            f"One adapted layer, `{layer.name}`:\n\n$${layer.formula()}$$")
    unit, scale = ("GB", 1e9) if memory.full >= 1e9 else ("MB", 1e6)  # the pocket model needs megabytes
    # a short title and a subtitle: one long title ran past a phone's 400 px
    fig = figure("Training memory", "", unit, height=300)
    fig.update_layout(title_subtitle_text="weights + gradients + Adam states (activations extra)")
    fig.update_xaxes(tickangle=0)
    labels = [label.replace(" (", "<br>(") for label, _ in memory.rows()]  # two lines: they fit a phone unturned
    values = [b / scale for _, b in memory.rows()]
    fig.add_trace(go.Bar(x=labels, y=values, marker_color=[PALETTE[7], TRAIN, PALETTE[2]],
                         hovertemplate=f"%{{x}}: %{{y:.3f}} {unit}<extra></extra>"))
    return text, fig


@shows_errors
def predict_double_rank(guess, loaded_name, rank, alpha, dropout, targets) -> dict:
    """Reveal: the trainable parameters at twice the rank (each adapted layer adds r·(in + out): linear in r);
    the rank slider moves there, so the summary shows it."""
    Q.parse_guess(guess)
    if not loaded_name:
        raise ValueError("Load a model first (section 1): the count depends on its layers.")
    if 2 * int(rank) > MAX_RANK:
        raise ValueError(f"Set the rank to {MAX_RANK // 2} or less first: twice it must fit the slider (up to {MAX_RANK}).")
    model = models.load_model(loaded_name).model
    now, doubled = (lora_mod.parameter_count(model, lora_mod.LoraSettings(r, int(alpha), float(dropout), list(targets or [])))
                    for r in (int(rank), 2 * int(rank)))
    reason = (f"each adapted layer adds r·(in + out) numbers, so the count is linear in r: {now.trainable:,} at "
              f"r = {int(rank)}, {doubled.trainable:,} at r = {2 * int(rank)}, still only {doubled.percent:.2f}% of "
              "the model. The rank slider is now there: the summary shows it.")
    return {"feedback": Q.compare_guess(guess, doubled.trainable, reason, unit="parameters", digits=10),
            "rank": 2 * int(rank)}


def apply_preset(preset: str):
    return gr.CheckboxGroup(value=lora_mod.PRESETS[preset])


def loss_figure(steps=(), losses=(), eval_steps=(), eval_losses=()) -> go.Figure:
    return loss_curves(LOSS_TITLE, LOSS_AXIS, list(zip(steps, losses)), list(zip(eval_steps, eval_losses)),
                       val_name="held-out")


def _progress_figure(progress) -> go.Figure:
    return loss_figure(progress.steps, progress.losses, progress.eval_steps, progress.eval_losses)


def run_summary(name: str, info: dict) -> str:
    """One line for a saved run, from its run.json: stopped or done, at which step, the last losses.
    The end of a training and a later pick of the same run (after a reload) read the same."""
    steps, losses, evals = info.get("steps") or [0], info.get("losses") or [], info.get("eval_losses") or []
    settings = info.get("settings") or {}
    total = settings.get("max_steps") if not settings.get("epochs") else None
    of = f" of {total}" if total else ""
    head = f"**Stopped at step {steps[-1]}{of}**" if info.get("stopped_early") else f"**Done: {steps[-1]} steps**"
    loss = f" · loss {losses[-1]:.3f}" if losses else ""
    held_out = f" · held-out loss {evals[-1]:.3f}" if evals else ""
    return f"{head}{loss}{held_out} · saved as `{html.escape(name)}`."


@shows_errors
def start_training(loaded_name, dataset, user_id, rank, alpha, dropout, targets, lr, unit, amount, batch, accum,
                   max_length, eval_fraction, four_bit, checkpointing, request: gr.Request = None,
                   demo: gr.Blocks | None = None):
    """Validate everything, then make the job (run folder + stop request) and reserve the learner's one job
    slot (core.jobs.reserve: two starts queued at once cannot both pass). Outputs: the job State and the two
    buttons only, so a refusal is one message and no Error badge on the lab's results."""
    from lessons import queued

    jobs.check_free(user_id)  # first: a second tab of a learner with a run going changes nothing
    if not loaded_name:
        raise learner_error("Load a model first (section 1).")
    if dataset is None:
        raise learner_error("Load some data first (section 1).")
    settings = TrainSettings(
        lora=lora_mod.LoraSettings(int(rank), int(alpha), float(dropout), list(targets or [])),
        learning_rate=float(lr), max_steps=int(amount) if unit == "steps" else 1,
        epochs=float(amount) if unit == "epochs" else 0.0, batch_size=int(batch), grad_accum=int(accum),
        max_length=int(max_length), eval_fraction=float(eval_fraction), four_bit=bool(four_bit),
        gradient_checkpointing=bool(checkpointing))
    settings.validate()
    if four_bit and models.detect_environment().four_bit_unavailable:
        raise learner_error(models.detect_environment().four_bit_unavailable)
    caps.check_lora(settings, len(dataset.examples))
    quotas.check_room(user_id)
    job = LoraJob(sessions.new_run_dir(user_id, "lora"), loaded_name, settings, owner=user_id)
    try:  # last, and atomic: of two starts checked at the same moment, one gets the slot
        jobs.reserve(user_id, "LoRA fine-tune", job.run_dir, still_wanted=queued(demo, request) if demo else None)
    except jobs.JobError:
        _drop_if_empty(job.run_dir)
        raise
    return job, gr.Button(value=BUSY_LABEL, interactive=False), gr.Button(value=STOP_LABEL, interactive=True)


def _drop_if_empty(folder: Path) -> None:
    """A run stopped or failed before its first step leaves no empty folder behind (nor its stop request)."""
    stop_requests.clear(folder)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def _in_process(job: LoraJob, dataset):
    """On a ZeroGPU Space the GPU is lent to a call of the server's own process only (spaces.GPU): the
    fine-tune runs there, in a thread, with the same stop request as a worker's."""
    from core.finetune.train import train

    yield from train(job.model, dataset, job.settings, job.run_dir, jobs.StopRequest(job.run_dir))


# ZeroGPU borrows a GPU for at most 5 minutes per call (it favours short calls; longer runs belong on a
# dedicated GPU Space). Off a Space, and where `spaces` is not installed, the function is unchanged.
_in_process = spaces_support.gpu(duration=300)(_in_process)


def _progress_of(job: LoraJob, dataset, listening):
    """The trainer's Progress: from a worker process (core.jobs), or in-process where only that gets a GPU."""
    if spaces_support.on_zero_gpu():  # elsewhere a worker process: isolated, capped, killable
        return _in_process(job, dataset)
    kwargs = dict(model_name=job.model, dataset=dataset, settings=job.settings, run_dir=str(job.run_dir))
    return jobs.stream("core.finetune.train:train", kwargs, owner=job.owner, kind="LoRA fine-tune",
                       limits=caps.lora_limits(), stop_arg="stop", stop_dir=job.run_dir, listening=listening)


def _ended(job: LoraJob, progress, failure: str | None):
    """The last (status, curve): what was saved, or that nothing was, and why when the worker failed."""
    from core.finetune import chat

    saved = (job.run_dir / "adapter_config.json").is_file()
    curve = _progress_figure(progress) if progress is not None else gr.skip()
    if failure:
        head = f"**The run ended early.** {failure}"
        return (f"{head} " + (run_summary(job.run_dir.name, chat.run_info(job.run_dir)) if saved
                              else "Nothing was saved.")), curve
    if not saved:
        return "**Stopped before the first step finished**: nothing was saved.", curve
    return run_summary(job.run_dir.name, chat.run_info(job.run_dir)), curve


@shows_errors
def train_lab(job: LoraJob | None, dataset, listening=None):
    """Generator: (status line, loss curve). Ends with a normal final yield when Stop writes the run's
    stop request: the trainer finishes the step, saves the adapter and reports 'stopped'. A failed worker
    (crash, memory, time limit) is said once in the status line; what it saved stays listed."""
    if job is None:
        return
    if job.stop_requested:  # Stop pressed while the job waited in the queue
        _drop_if_empty(job.run_dir)
        yield "**Stopped before training began**: nothing was saved.", gr.skip()
        return
    last, progress, failure = 0.0, None, None
    try:
        for progress in _progress_of(job, dataset, listening):
            now = time.perf_counter()
            if progress.phase == "training" and now - last < UPDATE_EVERY_S:
                continue
            last = now
            yield progress.status(), _progress_figure(progress)
    except jobs.JobError as err:
        failure = str(err)
    finally:
        _drop_if_empty(job.run_dir)
    yield _ended(job, progress, failure)


def request_stop(job: LoraJob | None):
    """Stop: the run folder's stop request, which the worker honours at the end of the current step (no
    cancel, so no Error badge; the curve and the saved adapter stay)."""
    if job is None or not stop_requests.request_stop(job.run_dir):
        return gr.Button(value=STOP_LABEL, interactive=False)
    return gr.Button(value="Stopping…", interactive=False)


def end_training(user_id, job: LoraJob | None, current):
    """After the run (finished, stopped or failed): buttons back, the job cleared, the new run listed."""
    pick = str(job.run_dir) if job is not None and job.run_dir.is_dir() else current  # a path: shown as its id
    return (None, gr.Button(value=TRAIN_LABEL, interactive=True), gr.Button(value=STOP_LABEL, interactive=False),
            checkpoint_dropdown("lora", user_id, pick))


def show_run(user_id, adapter, job: LoraJob | None):
    """A picked run's saved loss curve and summary (after a reload too); never over a live run."""
    from core.finetune import chat

    if job is not None or not adapter:
        return gr.skip(), gr.skip()
    try:
        ckpt = registry.resolve("lora", adapter, user_id)
    except ValueError:
        return gr.skip(), gr.skip()  # a stale pick: the list refreshes on its own, nothing to say
    info = chat.run_info(ckpt.path)
    if not info.get("steps"):
        return f"`{html.escape(ckpt.name)}` has no saved loss history.", loss_figure()
    curve = loss_figure(info["steps"], info.get("losses", []), info.get("eval_steps", []), info.get("eval_losses", []))
    return ("Shipped run: " if ckpt.shipped else "") + run_summary(ckpt.name, info), curve


# ---------- 3 · talk to it ----------

def refresh_adapters(user_id, current):
    return checkpoint_dropdown("lora", user_id, current)


def _adapter_dir(user_id, adapter) -> Path:
    if not adapter:
        raise learner_error("Train a run first (section 2) or pick an adapter from the list.")
    return registry.resolve("lora", adapter, user_id).path


# chat runs in the server process (not a worker): on a ZeroGPU Space it borrows the GPU for the call
@spaces_support.gpu(duration=CHAT_GPU_SECONDS)
@shows_errors
def compare_chat(user_id, adapter, prompt, max_new_tokens, temperature, seed):
    from core.finetune import chat

    if len(prompt or "") > MAX_PROMPT_CHARS:
        raise learner_error(f"The prompt has {len(prompt)} characters; keep it under {MAX_PROMPT_CHARS}.")
    if not (prompt or "").strip():
        raise learner_error("Type a question first, e.g. What is a token?")
    adapted = chat.load_adapted(_adapter_dir(user_id, adapter))
    yield from chat.compare(adapted, prompt, max_new_tokens=int(max_new_tokens), temperature=float(temperature),
                            seed=int(seed))


@shows_errors
def predict_taught_form(guess, user_id, adapter, prompt, max_new_tokens, seed) -> dict:
    """Reveal: both answers at temperature 0 (the lab's own comparison, which borrows the GPU on a ZeroGPU
    Space), and which follow the built-in data's form "Answer: … [done]"."""
    from core.finetune import data

    Q.require_pick(guess)  # before any work
    base = tuned = ""
    for base, tuned in compare_chat(user_id, adapter, prompt, max_new_tokens, 0.0, seed):
        pass
    verdict = {(False, True): 0, (True, True): 1, (False, False): 2, (True, False): 3}
    actual = TAUGHT_CHOICES[verdict[data.follows_taught_form(base), data.follows_taught_form(tuned)]]
    reason = ("every built-in answer reads \"Answer: … [done]\" and the adapter was scored on exactly those tokens; the "
              "base model never saw the form. At temperature 0 both answers are greedy, so any difference comes from "
              "the adapter alone (an adapter trained on your own data learns that data's form instead).")
    return {"feedback": Q.compare_choice(guess, actual, reason), "base": base, "tuned": tuned, "temperature": 0}


# ---------- 4 · take it with you ----------

def _downloads(user_id) -> Path:
    folder = sessions.user_dir(user_id) / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@shows_errors
def download_adapter(user_id, adapter):
    from core.finetune import chat

    folder = _adapter_dir(user_id, adapter)
    return str(chat.zip_adapter(folder, _downloads(user_id) / f"lora-{folder.name}.zip"))


@shows_errors
def merge_adapter(user_id, adapter):
    from core.finetune import chat

    folder = _adapter_dir(user_id, adapter)
    out = chat.merge_and_save(folder, sessions.new_run_dir(user_id, "merged", folder.name))
    size = sum(p.stat().st_size for p in out.iterdir())
    if size > 200 * 2**20:
        gr.Info(f"Merged model saved as {out.name} ({size / 2**20:.0f} MB, too big to download here).")
        return None
    gr.Info("Merged: the adapter is folded into the weights; load the folder with AutoModelForCausalLM alone.")
    return str(chat.zip_adapter(out, _downloads(user_id) / f"merged-{folder.name}.zip"))


@shows_errors
def export_script(user_id, adapter):
    """The run as a script that trains elsewhere: a .py for a Hub base, a zip with the base bundled otherwise."""
    from core.finetune import export

    return str(export.export_run(_adapter_dir(user_id, adapter), _downloads(user_id)))


@shows_errors
def predict_merged_size(guess, user_id, adapter) -> dict:
    """Reveal: the merged model's size. Merging adds (α/r)·B·A, which has W's own shape, into W and drops A
    and B, so the merged model holds the base's parameters (tests merge for real and count)."""
    from core import alignment
    from core.finetune import chat

    Q.require_pick(guess)  # before any work
    folder = _adapter_dir(user_id, adapter)
    four_bit = bool(chat.run_info(folder).get("settings", {}).get("four_bit"))
    base = models.count_parameters(models.load_model(chat.base_model_of(folder), four_bit=four_bit).model)
    lora = alignment.adapter_size(folder)
    reason = (f"the base holds {base:,} parameters and this adapter {lora:,} (its A and B matrices). Merging computes "
              f"W + (α/r)·B·A for each adapted layer: B·A has W's own shape, so it is added into W and A and B are "
              f"dropped. The merged model holds {base:,}, the base's count, and runs exactly as fast as the base.")
    return {"feedback": Q.compare_choice(guess, MERGE_CHOICES[0], reason)}


# ---------- first open ----------

def _default_model(env) -> tuple[str, str]:
    """The setting's default model, loaded; the pocket model when it cannot be (and the text says so)."""
    try:
        return env.default_model, models.load_model(env.default_model).describe()
    except ValueError as err:  # e.g. a GPU machine whose Hub model is not downloadable: fall back, say why
        note = f"`{env.default_model}` could not be loaded ({err}); using the bundled pocket model. "
        return models.POCKET, note + models.load_model(models.POCKET).describe()


def first_open(user_id, rank, alpha, dropout, targets, max_length) -> dict:
    """Everything the tab shows before a click, by name (the builder maps names to components):
    the setting, the default model and data, the first example, the LoRA summary for the controls'
    values, and the learner's runs with the picked one's saved curve (what a reload brings back)."""
    from core.finetune import data

    env_text, _, four_bit = on_load()
    name, model_text = _default_model(models.detect_environment())
    dataset = data.builtin()
    data_text, example = describe_data(dataset)
    lora_text, memory_plot = lora_summary(name, rank, alpha, dropout, targets)
    adapters = checkpoint_dropdown("lora", user_id)
    picked = checkpoint_pick("lora", user_id)  # the run the list pre-selects
    status, loss_plot = show_run(user_id, picked, None)
    if picked is None:
        status, loss_plot = "Press Fine-tune to start.", loss_figure()
    return dict(environment=env_text, model=gr.Dropdown(value=name, allow_custom_value=True), four_bit=four_bit,
                model_info=model_text, loaded=name, dataset=dataset, data_info=data_text, example=example,
                preview=preview_html(name, dataset, 0, max_length), lora_text=lora_text, memory_plot=memory_plot,
                adapter=adapters, status=status, loss_plot=loss_plot)


# ---------- layout: one builder per lab ----------

def _model_and_data_lab() -> dict:
    """Model picker and data on the left; what loaded, the data and one example as tokens on the right.
    Two States: the last model that loaded (what every lab below uses) and the data in use."""
    markdown("### 1 · A model and its data")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            model = gr.Dropdown([(label, value) for value, label in models.PRESETS], value=models.POCKET,
                                allow_custom_value=True, label="Model",
                                info="A preset, or type any Hub id, model folder, or .gguf file path.")
            load_button = gr.Button("Load model", variant="secondary")
            source = gr.Radio([BUILTIN, UPLOAD, HUB], value=BUILTIN, label="Data")
            upload = gr.File(label="JSONL (messages or instruction/input/output)", file_types=[".jsonl"],
                             type="filepath")
            with gr.Row():
                hub_id = gr.Textbox(label="Hub dataset id", placeholder="owner/name", max_lines=1)
                hub_split = gr.Textbox(label="Split", value="train[:200]", max_lines=1)
            example = gr.Slider(0, 137, value=0, step=1, label="Example to preview")
            share = prediction("over ALL the examples, what percent of the tokens will the loss be computed on?",
                               unit="%", elem_id="predict-answer-share")
        with gr.Column(scale=2):
            model_info = markdown("", elem_id="lora-model-info")
            data_info = markdown("", elem_id="lora-data-info")
            preview = gr.HTML(label="As the model sees it", elem_id="lora-preview")
    try_this("Pick another example: the grey tokens (chat template and question) are only context; the loss falls "
             "on the coloured answer, ending with the end-of-turn token that teaches the model to stop.",
             "Upload a JSONL file with one broken line: it is skipped and reported by its line number.")
    return dict(model=model, load_button=load_button, source=source, upload=upload, hub_id=hub_id,
                hub_split=hub_split, example=example, share=share, model_info=model_info, data_info=data_info, preview=preview,
                loaded=gr.State(None), dataset=gr.State(None))


def _wire_model_and_data(lab: dict, max_length: gr.Slider, after_load) -> None:
    """Load: check the name (no outputs) → load (model text, loaded name) → what depends on the model;
    a failed load says which model is still in use. Data: read (into its State) → summary → preview."""
    preview_inputs = [lab["loaded"], lab["dataset"], lab["example"], max_length]
    loading = lab["load_button"].click(check_model, lab["model"], None, api_name=False).success(
        load_and_describe, lab["model"], [lab["model_info"], lab["loaded"]], api_name=False)
    loading.failure(kept_model, lab["loaded"], lab["model_info"], api_name=False)
    after_load(loading.success(preview_html, preview_inputs, lab["preview"], api_name=False))
    lab["model"].change(model_pending, [lab["model"], lab["loaded"]], lab["model_info"], api_name=False)
    data_inputs = [lab["source"], lab["upload"], lab["hub_id"], lab["hub_split"]]
    for trigger in (lab["source"].change, lab["upload"].upload, lab["hub_id"].submit, lab["hub_split"].submit):
        trigger(read_data, data_inputs, lab["dataset"], api_name=False).success(
            describe_data, [lab["dataset"], lab["source"], lab["upload"], lab["hub_id"]],
            [lab["data_info"], lab["example"]], api_name=False).success(
            preview_html, preview_inputs, lab["preview"], api_name=False)
    for trigger in (lab["example"].change, max_length.change):
        trigger(preview_html, preview_inputs, lab["preview"], api_name=False)
    share = lab["share"]
    share.reveal(named_event(predict_answer_share, {"guess": share.guess, "loaded_name": lab["loaded"],
                                                    "dataset": lab["dataset"], "max_length": max_length},
                             {"feedback": share.feedback}))


def _lora_settings_column() -> dict:
    rank = gr.Slider(1, 64, value=8, step=1, label="Rank r", info="Width of the low-rank update B·A.")
    alpha = gr.Slider(1, 128, value=16, step=1, label="Alpha α", info="The update is scaled by α/r.")
    dropout = gr.Slider(0, 0.5, value=0.05, step=0.01, label="LoRA dropout",
                        info="Randomly zeroes the adapter's input while training, against memorizing.")
    preset = gr.Radio(list(lora_mod.PRESETS), value="all linear", label="Target preset")
    targets = gr.CheckboxGroup(list(lora_mod.ATTENTION + lora_mod.MLP), value=lora_mod.PRESETS["all linear"],
                               label="Target modules", info="Linear layers that get an adapter.")
    lr = gr.Number(2e-3, label="Learning rate", minimum=1e-6, maximum=0.5,
                   info="Larger steps than full fine-tuning: 1e-4 to 2e-4 for 1B–13B models (QLoRA paper); a tiny model like this one learns at ~2e-3 (Part 8: small models take larger steps).")
    with gr.Row():
        unit = gr.Radio(["steps", "epochs"], value="steps", label="Train for")
        amount = gr.Number(60, label="How many", minimum=0.1, maximum=2000)
    with gr.Row():
        batch = gr.Slider(1, 32, value=8, step=1, label="Batch size", info="Examples per step.")
        accum = gr.Slider(1, 16, value=1, step=1, label="Gradient accumulation",
                          info="Steps summed before one update: batch × this, in less memory.")
    max_length = gr.Slider(32, 1024, value=256, step=32, label="Max sequence length (tokens)",
                           info="Longer examples are cut; memory grows with it.")
    eval_fraction = gr.Slider(0, 0.3, value=0.1, step=0.05, label="Held out for evaluation",
                              info="Examples never trained on; their loss is the orange curve.")
    four_bit = gr.Checkbox(False, label="Load the base in 4-bit (QLoRA)", interactive=False)
    checkpointing = gr.Checkbox(False, label="Gradient checkpointing",
                                info="Recompute activations in the backward pass: less memory, ~30% slower.")
    return dict(rank=rank, alpha=alpha, dropout=dropout, preset=preset, targets=targets, lr=lr, unit=unit,
                amount=amount, batch=batch, accum=accum, max_length=max_length, eval_fraction=eval_fraction,
                four_bit=four_bit, checkpointing=checkpointing)


def _train_lab() -> dict:
    markdown("### 2 · LoRA settings and training")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            lab = _lora_settings_column()
        with gr.Column(scale=2):
            lab["lora_text"] = markdown("", elem_id="lora-params")
            lab["double"] = prediction("if you double the rank r, how many parameters will LoRA train?",
                                       unit="parameters", elem_id="predict-double-rank")
            # the start button, its status line and its chart together, in view at once on 1280×800
            with gr.Row(elem_id="lora-train-buttons"):
                lab["train_button"] = gr.Button(TRAIN_LABEL, variant="primary", elem_id="lora-train")
                lab["stop_button"] = gr.Button(STOP_LABEL, variant="stop", interactive=False, elem_id="lora-stop")
            lab["status"] = markdown("Press Fine-tune to start.", elem_id="lora-status")
            # the empty chart as plain data: a go.Figure here would build plotly's template at start-up
            lab["loss_plot"] = gr.Plot(chart(LOSS_TITLE, "step", LOSS_AXIS), show_label=False, elem_id="lora-loss")
            lab["memory_plot"] = gr.Plot(show_label=False)
    try_this("Switch the preset to attention only and watch the trainable share and memory drop; then train and "
             "compare the final loss.",
             "Set the rank to 1: the update B·A is then a single outer product per layer, yet the format is still learned.",
             "Hold out 0.3 of the data: the held-out curve shows whether the model learns the format or memorizes answers.")
    lab["job"] = gr.State(None)
    return lab


def _wire_summary(lab: dict, loaded: gr.State):
    """Rank, alpha, dropout and targets, typed or dragged (.change), update the trainable share and the
    formula: check first (no outputs, so a refusal leaves the last good summary unbadged), then compute.
    Returns how to refresh the summary after another event (a new model loaded)."""
    inputs = [lab["rank"], lab["alpha"], lab["dropout"], lab["targets"]]

    def refresh(event):
        return event.success(lora_summary, [loaded] + inputs, [lab["lora_text"], lab["memory_plot"]], api_name=False)

    lab["preset"].change(apply_preset, lab["preset"], lab["targets"], api_name=False)
    double = lab["double"]
    double.reveal(named_event(predict_double_rank, {"guess": double.guess, "loaded_name": loaded, "rank": lab["rank"],
                                                    "alpha": lab["alpha"], "dropout": lab["dropout"],
                                                    "targets": lab["targets"]},
                              {"feedback": double.feedback, "rank": lab["rank"]}))
    for control in inputs:
        refresh(control.change(check_lora, inputs, None, api_name=False))
    return refresh


def _wire_training(ctx: LessonContext, lab: dict, model_lab: dict, adapter: gr.Dropdown) -> None:
    """Start (validate, make the job) → train (stream) → end (buttons back, list the run); Stop sets the flag."""
    settings = [lab[k] for k in ("rank", "alpha", "dropout", "targets", "lr", "unit", "amount", "batch", "accum",
                                 "max_length", "eval_fraction", "four_bit", "checkpointing")]
    buttons = [lab["train_button"], lab["stop_button"]]
    start = lab["train_button"].click(
        functools.partial(start_training, demo=ctx.demo), [model_lab["loaded"], model_lab["dataset"], ctx.user_id] + settings, [lab["job"]] + buttons,
        api_name=False)
    def train_event(job, dataset, request: gr.Request):  # the request tells whether a browser still listens
        from lessons import watched

        yield from train_lab(job, dataset, listening=watched(ctx.demo, request))

    start.success(train_event, [lab["job"], model_lab["dataset"]], [lab["status"], lab["loss_plot"]],
                  api_name=False, show_progress="minimal", concurrency_limit=threads.training_slots(),
                  concurrency_id=threads.TRAINING_CONCURRENCY_ID).then(
        end_training, [ctx.user_id, lab["job"], adapter], [lab["job"]] + buttons + [adapter], api_name=False)
    lab["stop_button"].click(request_stop, lab["job"], lab["stop_button"], api_name=False, concurrency_limit=None)
    # a pick by the learner (.input): first_open and the end of a run already show the run they list
    adapter.input(show_run, [ctx.user_id, adapter, lab["job"]], [lab["status"], lab["loss_plot"]], api_name=False)


def _chat_lab() -> dict:
    markdown("### 3 · Talk to it: base versus base + adapter")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            adapter = gr.Dropdown([], label="Adapter (your runs and shipped ones)", elem_id="lora-adapter")
            prompt = gr.Textbox("What is a token?", label="Prompt", lines=2)
            max_new = gr.Slider(8, 200, value=100, step=1, label="New tokens")
            temperature = gr.Slider(0, 1.5, value=0.0, step=0.05, label="Temperature",
                                    info="0 = always the most likely token.")
            seed = gr.Number(0, label="Seed", precision=0)
            taught = prediction("at temperature 0, which answer will take the built-in data's form “Answer: … [done]”?",
                                choices=TAUGHT_CHOICES, elem_id="predict-taught")
            chat_button = gr.Button("Ask both", variant="primary")
        with gr.Column(scale=2):
            with gr.Row():
                base_out = gr.Textbox(label="Base model", lines=8, elem_id="lora-base-answer")
                tuned_out = gr.Textbox(label="Base + adapter", lines=8, elem_id="lora-tuned-answer")
    try_this("Ask something the data never covered: the adapter still answers in its taught form "
             "('Answer: … [done]') because LoRA learned the format more than the facts.",
             "Raise the temperature: both models use the same seed, so a difference comes from the adapter alone.")
    return dict(adapter=adapter, prompt=prompt, max_new=max_new, temperature=temperature, seed=seed,
                chat_button=chat_button, base_out=base_out, tuned_out=tuned_out, taught=taught)


def _wire_chat(ctx: LessonContext, lab: dict) -> None:
    inputs = [ctx.user_id, lab["adapter"], lab["prompt"], lab["max_new"], lab["temperature"], lab["seed"]]
    for trigger in (lab["chat_button"].click, lab["prompt"].submit):
        trigger(compare_chat, inputs, [lab["base_out"], lab["tuned_out"]], api_name=False, show_progress="minimal")
    ctx.tab.select(refresh_adapters, [ctx.user_id, lab["adapter"]], lab["adapter"], api_name=False)
    taught = lab["taught"]
    taught.reveal(named_event(predict_taught_form, {"guess": taught.guess, "user_id": ctx.user_id, "adapter": lab["adapter"],
                                                    "prompt": lab["prompt"], "max_new_tokens": lab["max_new"],
                                                    "seed": lab["seed"]},
                              {"feedback": taught.feedback, "base": lab["base_out"], "tuned": lab["tuned_out"],
                               "temperature": lab["temperature"]}), show_progress="minimal")


def _export_lab(ctx: LessonContext, adapter: gr.Dropdown) -> None:
    """Download, merge and export: each keeps its own link, so one does not replace another."""
    markdown("### 4 · Take it with you")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            merged_size = prediction("merged into the base, how many parameters will the model have?",
                                     choices=MERGE_CHOICES, elem_id="predict-merged")
            zip_button = gr.Button("Download adapter (zip)")
            merge_button = gr.Button("Merge into the base and save")
            export_button = gr.Button("Export as an accelerate script")
        with gr.Column(scale=2):
            zip_file = gr.File(label="Adapter (zip)", elem_id="lora-zip-file", interactive=False)
            merged_file = gr.File(label="Merged model (zip)", elem_id="lora-merged-file", interactive=False)
            script_file = gr.File(label="Training script (.py; a zip with the base model, or a DPO run's reproduce zip)",
                                  elem_id="lora-script-file", interactive=False)
    try_this("Open the exported script: the same model, data and settings; `accelerate launch finetune_lora.py` "
             "runs it on one or many GPUs. For the pocket model the zip carries the model beside the script.")
    for button, handler, out in ((zip_button, download_adapter, zip_file), (merge_button, merge_adapter, merged_file),
                                 (export_button, export_script, script_file)):
        button.click(handler, [ctx.user_id, adapter], out, api_name=False)
    merged_size.reveal(named_event(predict_merged_size, {"guess": merged_size.guess, "user_id": ctx.user_id,
                                                         "adapter": adapter}, {"feedback": merged_size.feedback}))


def build(ctx: LessonContext) -> None:
    lesson_text("part07_lora")
    environment = markdown("Checking what this machine offers…", elem_id="lora-environment")
    model_lab = _model_and_data_lab()
    training = _train_lab()
    chat_lab = _chat_lab()
    _export_lab(ctx, chat_lab["adapter"])

    refresh_summary = _wire_summary(training, model_lab["loaded"])
    _wire_model_and_data(model_lab, training["max_length"], after_load=refresh_summary)
    _wire_training(ctx, training, model_lab, chat_lab["adapter"])
    _wire_chat(ctx, chat_lab)
    _wire_first_open(ctx, environment, model_lab, training, chat_lab["adapter"])
    end_of_tab_check("part07")


def _wire_first_open(ctx, environment, model_lab: dict, lab: dict, adapter: gr.Dropdown) -> None:
    """On page load, in one event (each event of a chain waits its turn in the queue): first_open's
    named values, each to its component."""
    targets = dict(environment=environment, adapter=adapter, four_bit=lab["four_bit"],
                   status=lab["status"], loss_plot=lab["loss_plot"], lora_text=lab["lora_text"],
                   memory_plot=lab["memory_plot"],
                   **{k: model_lab[k] for k in ("model", "model_info", "loaded", "dataset", "data_info", "example",
                                                "preview")})
    inputs = [ctx.user_id, lab["rank"], lab["alpha"], lab["dropout"], lab["targets"], lab["max_length"]]

    def on_page_load(*values):
        return {targets[name]: value for name, value in first_open(*values).items()}

    ctx.on_open(on_page_load, inputs, list(targets.values()), api_name=False)

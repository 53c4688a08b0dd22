"""Tab: LoRA fine-tuning with Hugging Face (Part 7). UI only: every number comes from core.finetune."""
from __future__ import annotations

import html
import time
from pathlib import Path

import gradio as gr
import plotly.graph_objects as go

from core import registry, sessions, threads
from core.finetune import lora as lora_mod
from core.finetune import models
from lessons.common import LessonContext, checkpoint_dropdown, lesson_text, markdown, try_this
from lessons.plots import PALETTE, TRAIN, figure, loss_curves
from lessons.tokens import tokens_html

try:  # Hugging Face ZeroGPU: import before torch touches CUDA; absent elsewhere
    import spaces
except ImportError:
    spaces = None

BUILTIN, UPLOAD, HUB = "Built-in Q&A (138 examples)", "Upload JSONL", "Hub dataset"
PRESET_LABELS = {value: label for value, label in models.PRESETS}
MAX_PROMPT_CHARS = 1000
MAX_ID_CHARS = 300
UPDATE_EVERY_S = 0.5  # the loss curve streams: redraw at most twice a second, not every step


def _error(err: Exception) -> gr.Error:
    return gr.Error(str(err))


def _model_name(choice: str | None) -> str:
    choice = (choice or "").strip()
    if len(choice) > MAX_ID_CHARS:
        raise gr.Error(f"The model name is {len(choice)} characters long; give a Hub id or path under {MAX_ID_CHARS}.")
    return choice


# ---------- 1 · model and data ----------

def on_load():
    """Detect the setting once (cached per process) and choose the default model for it."""
    env = models.detect_environment()
    reason = env.four_bit_unavailable
    four_bit = gr.Checkbox(value=False, interactive=reason is None,
                           info=reason or "QLoRA: the frozen base in NF4 4-bit, LoRA in 16-bit.")
    return env.describe(), gr.Dropdown(value=env.default_model, allow_custom_value=True), four_bit


def load_and_describe(choice: str):
    """Generator: says what is loading first (a Hub model can take a while), then time and memory."""
    name = _model_name(choice)
    yield f"Loading `{name}`… (the first load of a Hub model downloads it)"
    try:
        loaded = models.load_model(name)
    except ValueError as err:
        raise _error(err) from err
    yield loaded.describe()


def read_data(source: str, upload, hub_id: str, hub_split: str):
    from core.finetune import data

    # choosing a source before giving its file or id is not an error yet: say what comes next
    if source == UPLOAD and upload is None:
        return gr.skip(), "Choose a .jsonl file to upload; until then the current data stays.", gr.skip()
    if source == HUB and not (hub_id or "").strip():
        return gr.skip(), "Type a Hub dataset id (owner/name) and press Enter; until then the current data stays.", gr.skip()
    try:
        if source == UPLOAD:
            dataset = data.read_jsonl(upload)
        elif source == HUB:
            if len(hub_id) > MAX_ID_CHARS or len(hub_split) > 100:
                raise ValueError("Give a Hub dataset id (owner/name) and a split such as train[:200].")
            dataset = data.from_hub(hub_id.strip(), hub_split.strip() or "train[:200]", models.detect_environment().hub)
        else:
            dataset = data.builtin()
    except ValueError as err:
        raise _error(err) from err
    if dataset.problems:
        gr.Warning(f"Skipped {len(dataset.problems)} malformed line(s): {dataset.problems_text()}")
    summary = f"**{len(dataset.examples)} examples** from {html.escape(dataset.source)}."
    if dataset.problems:
        summary += f" Skipped {len(dataset.problems)}: {html.escape(dataset.problems_text())}"
    # a one-example dataset still needs a slider with minimum < maximum
    return dataset, summary, gr.Slider(maximum=max(1, len(dataset.examples) - 1), value=0)


def preview_html(choice: str, dataset, index: int, max_length: int) -> str:
    """The example after the chat template, answer tokens (the ones trained on) coloured."""
    from core.finetune import data

    if dataset is None:
        return ""
    try:
        loaded = models.load_model(_model_name(choice))
    except ValueError as err:
        raise _error(err) from err
    index = min(int(index), len(dataset.examples) - 1)
    view = data.preview(loaded.tokenizer, dataset.examples[index], int(max_length))
    head = (f"<p>{len(view.ids)} tokens; the loss is computed on the <b>{view.n_trained} coloured answer tokens</b>, "
            f"grey tokens are context only.</p>")
    return head + tokens_html(view.pieces, view.ids, muted=[not t for t in view.trained])


# ---------- 2 · LoRA settings and training ----------

def _settings(rank, alpha, dropout, targets, lr, unit, amount, batch, accum, max_length, eval_fraction, four_bit, checkpointing):
    from core.finetune.train import TrainSettings

    settings = TrainSettings(
        lora=lora_mod.LoraSettings(int(rank), int(alpha), float(dropout), list(targets or [])),
        learning_rate=float(lr), max_steps=int(amount) if unit == "steps" else 1,
        epochs=float(amount) if unit == "epochs" else 0.0, batch_size=int(batch), grad_accum=int(accum),
        max_length=int(max_length), eval_fraction=float(eval_fraction), four_bit=bool(four_bit),
        gradient_checkpointing=bool(checkpointing))
    try:
        settings.validate()
    except ValueError as err:
        raise _error(err) from err
    return settings


def lora_summary(choice, rank, alpha, dropout, targets):
    """Trainable parameters, the update formula with real shapes, and the memory estimate."""
    try:
        loaded = models.load_model(_model_name(choice))
        settings = lora_mod.LoraSettings(int(rank), int(alpha), float(dropout), list(targets or []))
        count = lora_mod.parameter_count(loaded.model, settings)
        layer = lora_mod.example_layer(loaded.model, settings)
        memory = lora_mod.memory_estimate(loaded.model, settings)
    except ValueError as err:
        raise _error(err) from err
    text = (f"**Trainable: {count.trainable:,} of {count.total:,} parameters = {count.percent:.3f}%** "
            f"({count.layers} adapted layers, each adds r·(in + out) numbers).\n\n"
            f"One adapted layer, `{layer.name}`:\n\n$${layer.formula()}$$")
    unit, scale = ("GB", 1e9) if memory.full >= 1e9 else ("MB", 1e6)  # the pocket model needs megabytes
    fig = figure("Training memory: weights + gradients + Adam states (activations extra)", "", unit, height=300)
    labels = [label for label, _ in memory.rows()]
    values = [b / scale for _, b in memory.rows()]
    fig.add_trace(go.Bar(x=labels, y=values, marker_color=[PALETTE[7], TRAIN, PALETTE[2]],
                         hovertemplate=f"%{{x}}: %{{y:.3f}} {unit}<extra></extra>"))
    return text, fig


def apply_preset(preset: str):
    return gr.CheckboxGroup(value=lora_mod.PRESETS[preset])


def loss_figure(progress=None):
    if progress is None:
        return loss_curves("Loss on the answer tokens", "loss (nats per token)")
    return loss_curves("Loss on the answer tokens", "loss (nats per token)", list(zip(progress.steps, progress.losses)),
                       list(zip(progress.eval_steps, progress.eval_losses)), val_name="held-out")


def train_lab(choice, dataset, user_id, rank, alpha, dropout, targets, lr, unit, amount, batch, accum, max_length,
              eval_fraction, four_bit, checkpointing):
    """Generator: status line, loss curve, this run's stop flag, the adapter list."""
    from core.finetune.train import StopFlag, train

    name = _model_name(choice)
    if dataset is None:
        raise gr.Error("Load some data first (section 1).")
    settings = _settings(rank, alpha, dropout, targets, lr, unit, amount, batch, accum, max_length, eval_fraction,
                         four_bit, checkpointing)
    if four_bit and models.detect_environment().four_bit_unavailable:
        raise gr.Error(models.detect_environment().four_bit_unavailable)
    run_dir = sessions.new_run_dir(user_id, "lora")
    stop = StopFlag()
    last = 0.0
    progress = None
    try:
        for progress in train(name, dataset, settings, run_dir, stop):
            now = time.perf_counter()
            if progress.phase == "training" and now - last < UPDATE_EVERY_S:
                continue
            last = now
            yield progress.status(), loss_figure(progress), stop, gr.skip()
    except ValueError as err:
        raise _error(err) from err
    yield (f"**{progress.status()}** Run folder: `{run_dir.name}`", loss_figure(progress), stop,
           checkpoint_dropdown("lora", user_id, str(run_dir)))


if spaces is not None:
    # On a ZeroGPU Space the fine-tune borrows a GPU for at most 5 minutes per call (ZeroGPU favours
    # short calls; longer runs belong on a dedicated GPU Space, where `spaces` is a no-op).
    train_lab = spaces.GPU(duration=300)(train_lab)


def stop_training(stop):
    if stop is not None:
        stop.set()


def after_stop(user_id):
    """After Stop cancels the training event, the trainer finishes its current step and saves the
    adapter learned so far (core.finetune.train closes cleanly); wait for that, then say so."""
    from core.finetune import chat

    folders = sorted((p for p in (sessions.user_dir(user_id) / "lora").glob("*") if p.is_dir()),
                     key=lambda p: p.stat().st_mtime) if sessions.is_valid_user_id(user_id) else []
    folder = folders[-1] if folders else None  # the run being stopped is the newest folder
    if folder is None:
        return "Stopped before training began.", gr.skip()
    for _ in range(120):  # at most a minute: one training step plus the save
        if (folder / "adapter_config.json").is_file():
            info = chat.run_info(folder)
            step = info["steps"][-1] if info.get("steps") else 0
            text = (f"**Stopped at step {step}**; the adapter learned so far is saved in `{folder.name}`."
                    if info.get("stopped_early") else f"Nothing was training; your latest run is `{folder.name}`.")
            return text, checkpoint_dropdown("lora", user_id, str(folder))
        time.sleep(0.5)
    return "Stopped before the first step finished: nothing was saved.", gr.skip()


# ---------- 3 · talk to it ----------

def refresh_adapters(user_id, current):
    return checkpoint_dropdown("lora", user_id, current)


def _adapter_dir(user_id, adapter) -> Path:
    if not adapter:
        raise gr.Error("Train a run first (section 2) or pick an adapter from the list.")
    try:
        return registry.resolve("lora", adapter, user_id).path
    except ValueError as err:
        raise _error(err) from err


def compare_chat(user_id, adapter, prompt, max_new_tokens, temperature, seed):
    from core.finetune import chat

    if len(prompt or "") > MAX_PROMPT_CHARS:
        raise gr.Error(f"The prompt has {len(prompt)} characters; keep it under {MAX_PROMPT_CHARS}.")
    if not (prompt or "").strip():
        raise gr.Error("Type a question first, e.g. What is a token?")
    folder = _adapter_dir(user_id, adapter)
    try:
        adapted = chat.load_adapted(folder)
        for base, tuned in chat.compare(adapted, prompt, max_new_tokens=int(max_new_tokens),
                                        temperature=float(temperature), seed=int(seed)):
            yield base, tuned
    except ValueError as err:
        raise _error(err) from err


# ---------- 4 · take it with you ----------

def _downloads(user_id) -> Path:
    folder = sessions.user_dir(user_id) / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def download_adapter(user_id, adapter):
    from core.finetune import chat

    folder = _adapter_dir(user_id, adapter)
    return str(chat.zip_adapter(folder, _downloads(user_id) / f"lora-{folder.name}.zip"))


def merge_adapter(user_id, adapter):
    from core.finetune import chat

    folder = _adapter_dir(user_id, adapter)
    try:
        out = chat.merge_and_save(folder, sessions.new_run_dir(user_id, "merged", folder.name))
    except ValueError as err:
        raise _error(err) from err
    size = sum(p.stat().st_size for p in out.iterdir())
    if size > 200 * 2**20:
        gr.Info(f"Merged model saved in {out} ({size / 2**20:.0f} MB, too big to download here).")
        return None
    gr.Info("Merged: the adapter is folded into the weights; load the folder with AutoModelForCausalLM alone.")
    return str(chat.zip_adapter(out, _downloads(user_id) / f"merged-{folder.name}.zip"))


def export_script(user_id, adapter):
    from core.finetune import export

    folder = _adapter_dir(user_id, adapter)
    try:
        return str(export.write_from_run(folder, _downloads(user_id) / "finetune_lora.py"))
    except ValueError as err:
        raise _error(err) from err


# ---------- layout ----------

def build(ctx: LessonContext) -> None:
    lesson_text("part07_lora")
    environment = markdown("Checking what this machine offers…", elem_id="lora-environment")
    dataset = gr.State(None)
    stop_flag = gr.State(None)

    markdown("### 1 · A model and its data")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            model = gr.Dropdown([(label, value) for value, label in models.PRESETS], value=models.POCKET,
                                allow_custom_value=True, label="Model",
                                info="A preset, or type any Hub id, model folder, or .gguf file path.")
            load_button = gr.Button("Load model", variant="secondary")
            source = gr.Radio([BUILTIN, UPLOAD, HUB], value=BUILTIN, label="Data")
            upload = gr.File(label="JSONL (messages or instruction/input/output)", file_types=[".jsonl"], type="filepath")
            with gr.Row():
                hub_id = gr.Textbox(label="Hub dataset id", placeholder="owner/name", max_lines=1)
                hub_split = gr.Textbox(label="Split", value="train[:200]", max_lines=1)
            example = gr.Slider(0, 137, value=0, step=1, label="Example to preview")
        with gr.Column(scale=2):
            model_info = markdown("")
            data_info = markdown("")
            preview = gr.HTML(label="As the model sees it", elem_id="lora-preview")
    try_this("Pick another example: the grey tokens (chat template and question) are only context; the loss falls "
             "on the coloured answer, ending with the end-of-turn token that teaches the model to stop.",
             "Upload a JSONL file with one broken line: it is skipped and reported by its line number.")

    markdown("### 2 · LoRA settings and training")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            rank = gr.Slider(1, 64, value=8, step=1, label="Rank r", info="Width of the low-rank update B·A.")
            alpha = gr.Slider(1, 128, value=16, step=1, label="Alpha α", info="The update is scaled by α/r.")
            dropout = gr.Slider(0, 0.5, value=0.05, step=0.01, label="LoRA dropout",
                                info="Randomly zeroes the adapter's input while training, against memorizing.")
            preset = gr.Radio(list(lora_mod.PRESETS), value="all linear", label="Target preset")
            targets = gr.CheckboxGroup(list(lora_mod.ATTENTION + lora_mod.MLP), value=lora_mod.PRESETS["all linear"],
                                       label="Target modules", info="Linear layers that get an adapter.")
            lr = gr.Number(2e-3, label="Learning rate", minimum=1e-6, maximum=0.5,
                           info="LoRA takes larger steps than full fine-tuning: 1e-4 to 5e-3 is usual.")
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
            with gr.Row():
                train_button = gr.Button("Fine-tune", variant="primary")
                stop_button = gr.Button("Stop", variant="stop")
        with gr.Column(scale=2):
            lora_text = markdown("", elem_id="lora-params")
            memory_plot = gr.Plot(label="Memory estimate")
            status = markdown("Press Fine-tune to start.", elem_id="lora-status")
            loss_plot = gr.Plot(loss_figure(), label="Loss")
    try_this("Switch the preset to attention only and watch the trainable share and memory drop; then train and "
             "compare the final loss.",
             "Set the rank to 1: the update B·A is then a single outer product per layer, yet the format is still learned.",
             "Hold out 0.3 of the data: the held-out curve shows whether the model learns the format or memorizes answers.")

    markdown("### 3 · Talk to it: base versus base + adapter")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            adapter = gr.Dropdown([], label="Adapter (your runs and shipped ones)")
            prompt = gr.Textbox("What is a token?", label="Prompt", lines=2)
            max_new = gr.Slider(8, 200, value=100, step=1, label="New tokens")
            temperature = gr.Slider(0, 1.5, value=0.0, step=0.05, label="Temperature", info="0 = always the most likely token.")
            seed = gr.Number(0, label="Seed", precision=0)
            chat_button = gr.Button("Ask both", variant="primary")
        with gr.Column(scale=2):
            with gr.Row():
                base_out = gr.Textbox(label="Base model", lines=8, elem_id="lora-base-answer")
                tuned_out = gr.Textbox(label="Base + adapter", lines=8, elem_id="lora-tuned-answer")
    try_this("Ask something the data never covered: the adapter still answers in its taught form "
             "('Answer: … [done]') because LoRA learned the format more than the facts.",
             "Raise the temperature: both models use the same seed, so a difference comes from the adapter alone.")

    markdown("### 4 · Take it with you")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            zip_button = gr.Button("Download adapter (zip)")
            merge_button = gr.Button("Merge into the base and save")
            export_button = gr.Button("Export as an accelerate script")
        with gr.Column(scale=2):
            files = gr.File(label="Files", elem_id="lora-files")
    try_this("Open the exported script: the same model, data and settings; `accelerate launch finetune_lora.py` "
             "runs it on one or many GPUs.")

    # ---- wiring ----
    summary_inputs = [model, rank, alpha, dropout, targets]
    ctx.demo.load(on_load, outputs=[environment, model, four_bit], api_name=False).then(
        load_and_describe, model, model_info, api_name=False).then(
        read_data, [source, upload, hub_id, hub_split], [dataset, data_info, example], api_name=False).then(
        preview_html, [model, dataset, example, max_length], preview, api_name=False).then(
        lora_summary, summary_inputs, [lora_text, memory_plot], api_name=False).then(
        refresh_adapters, [ctx.user_id, adapter], adapter, api_name=False)

    load_button.click(load_and_describe, model, model_info, api_name=False).then(
        preview_html, [model, dataset, example, max_length], preview, api_name=False).then(
        lora_summary, summary_inputs, [lora_text, memory_plot], api_name=False)
    for trigger in (source.change, upload.upload, hub_id.submit, hub_split.submit):
        trigger(read_data, [source, upload, hub_id, hub_split], [dataset, data_info, example], api_name=False).then(
            preview_html, [model, dataset, example, max_length], preview, api_name=False)
    example.release(preview_html, [model, dataset, example, max_length], preview, api_name=False)
    preset.change(apply_preset, preset, targets, api_name=False)
    for control in (rank, alpha, dropout):
        control.release(lora_summary, summary_inputs, [lora_text, memory_plot], api_name=False)
    targets.change(lora_summary, summary_inputs, [lora_text, memory_plot], api_name=False)

    train_inputs = [model, dataset, ctx.user_id, rank, alpha, dropout, targets, lr, unit, amount, batch, accum,
                    max_length, eval_fraction, four_bit, checkpointing]
    training = train_button.click(train_lab, train_inputs, [status, loss_plot, stop_flag, adapter],
                                  api_name=False, show_progress="minimal", concurrency_limit=threads.training_slots(),
                                  concurrency_id=threads.TRAINING_CONCURRENCY_ID)
    stop_button.click(stop_training, stop_flag, None, cancels=[training], api_name=False).then(
        after_stop, ctx.user_id, [status, adapter], api_name=False)

    chat_button.click(compare_chat, [ctx.user_id, adapter, prompt, max_new, temperature, seed], [base_out, tuned_out],
                      api_name=False, show_progress="minimal")
    ctx.tab.select(refresh_adapters, [ctx.user_id, adapter], adapter, api_name=False)
    zip_button.click(download_adapter, [ctx.user_id, adapter], files, api_name=False)
    merge_button.click(merge_adapter, [ctx.user_id, adapter], files, api_name=False)
    export_button.click(export_script, [ctx.user_id, adapter], files, api_name=False)

"""Tab: MiniGPT: a GPT built and trained from scratch (Part 4). UI only; core.minigpt computes."""
from __future__ import annotations

import time
from pathlib import Path

import gradio as gr
import plotly.graph_objects as go

from core import registry, sessions, threads
from core.minigpt import checkpoint, data, sample, train
from core.minigpt.config import LIMITS, GPTConfig
from lessons.common import LessonContext, checkpoint_choices, checkpoint_dropdown, lesson_text, markdown, try_this
from lessons.plots import PALETTE, loss_curves

BUILTIN, PASTE, UPLOAD = "Built-in corpus", "Paste text", "Upload a .txt file"
PRESET_LABELS = {"default": "Guide's model, memorise fast (Muon)",
                 "adamw": "Guide's model, classic AdamW (2000 steps, a few minutes)",
                 "speedrun": "Speedrun (fastest to val loss 1.9 on Tiny Shakespeare)"}
OPTIMIZER_LABELS = [("AdamW", "adamw"), ("Muon (matrices) + AdamW (the rest)", "muon")]
MAX_PASTE_CHARS = data.MAX_CORPUS_CHARS
MAX_PROMPT_CHARS = 2000
STREAM_EVERY_S = 0.05  # push streamed text to the browser at most ~20 times a second


# ---------- corpus and settings ----------

def corpus_text(source: str, pasted: str | None, upload: str | None) -> str:
    if source == PASTE:
        pasted = pasted or ""
        if len(pasted) > MAX_PASTE_CHARS:
            raise gr.Error(f"The pasted text has {len(pasted):,} characters; the limit is {MAX_PASTE_CHARS:,}.")
        if not pasted.strip():
            raise gr.Error("The paste box is empty: paste some text, or pick the built-in corpus.")
        return pasted
    if source == UPLOAD:
        if not upload:
            raise gr.Error("No file uploaded yet: upload a UTF-8 .txt file, or pick the built-in corpus.")
        try:
            return data.read_text_file(upload)
        except ValueError as err:
            raise gr.Error(str(err)) from None
    return data.builtin_corpus()


def vocab_size_of(source: str, pasted: str | None, upload: str | None) -> int | None:
    """Distinct characters of the chosen corpus, or None while it cannot be read."""
    try:
        text = corpus_text(source, pasted, upload)
    except gr.Error:
        return None
    return len(set(text)) or None


def model_config(n_layer, n_head, n_embd, block_size, dropout, vocab_size=65) -> GPTConfig:
    try:
        return GPTConfig(vocab_size=max(2, int(vocab_size)), block_size=int(block_size), n_layer=int(n_layer),
                         n_head=int(n_head), n_embd=int(n_embd), dropout=float(dropout))
    except ValueError as err:
        raise gr.Error(str(err)) from None


def megabytes(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def size_summary(source, pasted, upload, n_layer, n_head, n_embd, block_size, dropout, batch_size, optimizer="adamw") -> str:
    """Live parameter count and training-memory estimate for the chosen shape and corpus."""
    vocab = vocab_size_of(source, pasted, upload)
    try:
        config = GPTConfig(vocab_size=vocab or 65, block_size=int(block_size), n_layer=int(n_layer),
                           n_head=int(n_head), n_embd=int(n_embd), dropout=float(dropout))
    except ValueError as err:
        return f"⚠️ {err}"
    mem = config.memory_estimate(int(batch_size), optimizer)
    state = "Muon momentum + AdamW moments" if optimizer == "muon" else "AdamW moments"
    vocab_note = f"vocabulary of {vocab} characters" if vocab else "vocabulary of 65 characters (no corpus yet)"
    return (f"**{config.num_params():,} parameters** ({vocab_note}) · training memory ≈ **{megabytes(mem['total'])}**: "
            f"weights {megabytes(mem['weights'])}, gradients {megabytes(mem['gradients'])}, "
            f"{state} {megabytes(mem['optimizer'])}, activations {megabytes(mem['activations'])} "
            f"at batch {int(batch_size)} × context {int(block_size)}")


def preset_values(name: str):
    m, t = train.preset(name)
    return (m.n_layer, m.n_head, m.n_embd, m.block_size, t.batch_size, t.learning_rate, t.steps, m.dropout, t.bf16,
            t.optimizer, t.short_window)


# ---------- charts ----------

def loss_figure(progress: train.Progress | None, title: str = "Loss while training") -> go.Figure:
    if progress is None:
        return loss_curves(title, "loss (nats per character)")
    fig = loss_curves(title, "loss (nats per character)", progress.train_curve, progress.val_curve)
    ln_v = progress.initial_loss
    fig.add_hline(y=ln_v, line=dict(color=PALETTE[7], dash="dash", width=1),
                  annotation_text=f"ln({progress.vocab_size}) = {ln_v:.2f}: uniform guessing",
                  annotation_position="bottom left")
    fig.update_xaxes(range=[0, max(progress.total_steps, 1)])
    fig.update_yaxes(rangemode="tozero")
    return fig


# ---------- checkpoints ----------

def refresh_checkpoints(user_id, current=None):
    return checkpoint_dropdown("minigpt", user_id, current)


def load_checkpoint(path, user_id) -> checkpoint.Loaded:
    if not path:
        raise gr.Error("No checkpoint selected: train a model first or pick the shipped default.")
    try:
        return checkpoint.load(registry.resolve("minigpt", path, user_id).path)
    except (ValueError, FileNotFoundError) as err:
        raise gr.Error(str(err)) from None


# ---------- handlers ----------

def show_shipped_curve():
    """On page load: the shipped model's own training curve, so the chart is never empty."""
    shipped = registry.shipped_checkpoints("minigpt")
    progress = train.read_run(shipped[0].path) if shipped else None
    if progress is None:
        return "Press **Train** to train your own MiniGPT.", loss_figure(None), ""
    status = (f"This is how the shipped model **{shipped[0].name}** learned ({progress.num_params:,} parameters, "
              f"{progress.step} steps, final train loss {progress.train_loss:.3f}). Press **Train** to train your own.")
    samples = (shipped[0].path / train.SAMPLES_TXT).read_text(encoding="utf-8") if (shipped[0].path / train.SAMPLES_TXT).is_file() else ""
    return status, loss_figure(progress, f"Loss of the shipped model '{shipped[0].name}'"), samples


def run_training(user_id, source, pasted, upload, n_layer, n_head, n_embd, block_size, batch_size, learning_rate,
                 steps, dropout, bf16, optimizer, short_window, preset_name):
    """Generator: trains into the learner's own run folder, streaming status, chart and samples."""
    text = corpus_text(source, pasted, upload)
    config = model_config(n_layer, n_head, n_embd, block_size, dropout, vocab_size=max(2, len(set(text))))
    try:
        data.check_corpus(text, config.block_size)
    except ValueError as err:
        raise gr.Error(str(err)) from None
    _, recipe = train.preset(preset_name if preset_name in train.PRESETS else "default")
    cfg = recipe.with_steps(int(steps))
    cfg.batch_size, cfg.learning_rate, cfg.bf16 = int(batch_size), float(learning_rate), bool(bf16)
    cfg.optimizer, cfg.short_window = optimizer, int(short_window or 0)
    cfg, note = train.fit_short_window(cfg, config.block_size)
    if note:
        gr.Warning(note)
    cfg.log_every = max(1, min(10, cfg.steps // 20))
    if source != BUILTIN:
        cfg.sample_prompt = ""  # the first words of the learner's own text
    try:
        cfg.validate()
        run_dir = sessions.new_run_dir(user_id, "minigpt")
    except ValueError as err:
        raise gr.Error(str(err)) from None

    samples = ""
    for progress in train.train(text, config, cfg, out_dir=run_dir):
        if progress.new_sample:
            samples = f"— step {progress.step} —\n{progress.new_sample}\n\n" + samples
        status = progress.status_line()
        if progress.step == 0:
            status += f" · {progress.num_params:,} parameters · initial loss ≈ ln({progress.vocab_size}) = {progress.initial_loss:.2f}"
        dropdown = refresh_checkpoints(user_id, str(run_dir)) if progress.step == 0 or progress.done else gr.update()
        download = gr.update()
        if progress.done:
            status += f" · saved as **{run_dir.name}** (pick it under Generate)"
            download = gr.update(value=str(train.zip_run(run_dir)), visible=True)
        yield status, loss_figure(progress), samples, dropdown, str(run_dir), download


def after_stop(user_id, run_dir, status_line):
    """The stopped run keeps its last saved weights: list it and say so (the ETA no longer applies)."""
    status_line = (status_line or "").split(" · ETA")[0]
    status_line = f"{status_line} · stopped" if status_line else "Stopped."
    if run_dir and (Path(run_dir) / checkpoint.CONFIG).is_file():
        gr.Info(f"Stopped. The run {Path(run_dir).name} keeps its latest saved weights: pick it under Generate.")
        return refresh_checkpoints(user_id, run_dir), status_line
    return gr.update(), status_line


def download_run(run_dir):
    if not run_dir:
        raise gr.Error("Train a model first: the download holds your latest run.")
    try:
        return gr.update(value=str(train.zip_run(run_dir)), visible=True)
    except ValueError as err:
        raise gr.Error(str(err)) from None


def _prompt_ids(loaded, prompt: str):
    if len(prompt or "") > MAX_PROMPT_CHARS:
        raise gr.Error(f"The prompt has {len(prompt):,} characters; keep it under {MAX_PROMPT_CHARS:,}.")
    ids, unknown = sample.prompt_ids(loaded.tokenizer, prompt or "", drop_unknown=True)
    if unknown:
        gr.Warning(f"Dropped {len(unknown)} character(s) this model never saw: {' '.join(map(repr, unknown[:10]))}")
    if not ids:
        raise gr.Error("The prompt is empty (or only has characters the model never saw): type a few words.")
    if len(ids) > loaded.config.block_size:
        gr.Warning(f"The prompt is longer than the model's context ({loaded.config.block_size} characters): it sees only the end.")
    return ids


def _settings(temperature, top_k, top_p, seed):
    temperature, top_k, top_p = float(temperature), int(top_k or 0), float(top_p)
    if temperature == 0 and (top_k or top_p < 1):
        gr.Warning("Temperature 0 means greedy decoding: top-k and top-p are ignored.")
    return dict(temperature=temperature, top_k=top_k or None, top_p=top_p,
                seed=int(seed) if seed is not None and seed != "" else None)


def run_generate(user_id, path, prompt, tokens, temperature, top_k, top_p, seed, use_cache):
    """Generator: streams the continuation, then reports the speed."""
    loaded = load_checkpoint(path, user_id)
    ids = _prompt_ids(loaded, prompt)
    settings = _settings(temperature, top_k, top_p, seed)
    text = loaded.tokenizer.decode(ids)
    start = last_push = time.perf_counter()
    count = 0
    try:
        for token in sample.generate_ids(loaded.model, ids, int(tokens), use_cache=bool(use_cache), **settings):
            text += loaded.tokenizer.decode([token])
            count += 1
            if time.perf_counter() - last_push > STREAM_EVERY_S:
                last_push = time.perf_counter()
                yield text, f"generating… {count}/{int(tokens)}"
    except ValueError as err:
        raise gr.Error(str(err)) from None
    elapsed = time.perf_counter() - start
    yield text, (f"{count} characters in {elapsed:.2f} s ({count / elapsed:,.0f} characters/s) "
                 f"{'with' if use_cache else 'without'} the KV cache")


def first_generation(user_id, path, *args):
    """On page load: a first continuation from the default checkpoint (nothing if none is shipped)."""
    if not path:
        return "", "No checkpoint yet: train one in Lab 1."
    *_, last = run_generate(user_id, path, *args)
    return last


def compare_cache(user_id, path, prompt, tokens, temperature, top_k, top_p, seed):
    """Time the same generation with and without the KV cache and check the texts are identical."""
    loaded = load_checkpoint(path, user_id)
    ids = _prompt_ids(loaded, prompt)
    settings = _settings(temperature, top_k, top_p, seed)
    if settings["seed"] is None:
        settings["seed"] = 0  # both runs must draw the same random numbers
    cached, t_cache = sample.time_generation(loaded.model, ids, int(tokens), True, **settings)
    plain, t_plain = sample.time_generation(loaded.model, ids, int(tokens), False, **settings)
    same = "identical" if cached == plain else "DIFFERENT (a bug: please report it)"
    n = int(tokens)
    return (f"| {n} characters | time | characters/s |\n|---|---|---|\n"
            f"| with KV cache | {t_cache:.2f} s | {n / t_cache:,.0f} |\n"
            f"| without (full context every step) | {t_plain:.2f} s | {n / t_plain:,.0f} |\n\n"
            f"**{t_plain / t_cache:.1f}× faster** with the cache; the two texts are {same}.")


# ---------- layout ----------

def build(ctx: LessonContext) -> None:
    lesson_text("part04_minigpt")

    markdown("### Lab 1 · Train a MiniGPT\nPick a corpus and a model size, press **Train**, and watch the loss fall from "
             "ln(V) (pure guessing) towards zero while samples turn from noise into words.")
    defaults = preset_values("default")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            source = gr.Radio([BUILTIN, PASTE, UPLOAD], value=BUILTIN, label="Corpus")
            pasted = gr.Textbox(label="Your text", lines=6, visible=False, max_length=MAX_PASTE_CHARS,
                                placeholder="Paste at least a few thousand characters of plain text…")
            upload = gr.File(label="UTF-8 .txt file (up to 5 MB)", file_types=[".txt"], type="filepath", visible=False)
            preset_name = gr.Radio([(label, name) for name, label in PRESET_LABELS.items()], value="default", label="Preset")
            with gr.Accordion("Hyperparameters", open=True):
                n_layer = gr.Slider(*LIMITS["n_layer"], value=defaults[0], step=1, label="Layers (blocks)")
                n_head = gr.Slider(*LIMITS["n_head"], value=defaults[1], step=1, label="Attention heads")
                n_embd = gr.Slider(*LIMITS["n_embd"], value=defaults[2], step=16, label="Embedding size")
                block_size = gr.Slider(*LIMITS["block_size"], value=defaults[3], step=8, label="Context (characters)")
                batch_size = gr.Slider(1, 128, value=defaults[4], step=1, label="Batch size")
                learning_rate = gr.Slider(1e-4, 2e-2, value=defaults[5], step=1e-4, label="Learning rate",
                                          info=f"AdamW's rate; with Muon, the blocks' matrices use Muon's own "
                                               f"({train.preset('default')[1].muon_lr} in the default preset)")
                steps = gr.Slider(10, 5000, value=defaults[6], step=10, label="Training steps")
                dropout = gr.Slider(*LIMITS["dropout"], value=defaults[7], step=0.05, label="Dropout")
                bf16 = gr.Checkbox(value=defaults[8], label="bfloat16 autocast (faster on CPUs with AVX-512 BF16)")
                optimizer = gr.Radio(OPTIMIZER_LABELS, value=defaults[9], label="Optimizer",
                                     info="Muon orthogonalises each weight matrix's update (see the lesson)")
                short_window = gr.Slider(0, 128, value=defaults[10], step=8, label="Short windows every other step (0 = off)",
                                         info="more practice at the first characters of a window, where context is short")
            size = markdown("", elem_id="minigpt-size")
            with gr.Row():
                train_btn = gr.Button("Train", variant="primary")
                stop_btn = gr.Button("Stop", variant="stop")
        with gr.Column(scale=3):
            status = markdown("", elem_id="minigpt-status")
            with gr.Row(equal_height=False):
                chart = gr.Plot(label="Loss", scale=3, min_width=320)
                samples = gr.Textbox(label="Samples (newest first)", lines=14, max_lines=14, scale=2, min_width=260,
                                     interactive=False, elem_id="minigpt-samples")
            with gr.Row():
                download_btn = gr.Button("Download the run (.zip)", size="sm")
                download = gr.File(label="Run: weights, config, loss history, samples", visible=False, interactive=False)
    try_this(
        "Train the default preset on the built-in corpus (about a minute with 2 cores to itself; "
        "a server that shares its cores between learners takes longer): the train loss falls below 0.1 "
        "while the validation loss climbs back up. That gap is memorisation (overfitting): the samples recite the corpus.",
        "Switch the optimizer to AdamW and train the same 480 steps: compare where the loss ends. The classic AdamW "
        "preset needs 2000 steps for the same result.",
        "Set the layers to 1 and the embedding size to 32 (~17k parameters): the loss stalls much higher. Capacity matters.",
        "Set the learning rate to 0.02 with batch size 4: the curve becomes jagged. Then try 0.0005: it learns, slowly.",
    )

    markdown("### Lab 2 · Generate text\nContinue a prompt with the shipped model or one you trained. "
             "Each character is drawn from the model's prediction, shaped by temperature, top-k and top-p.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            ckpt = gr.Dropdown(label="Checkpoint", choices=checkpoint_choices("minigpt", None), interactive=True)
            prompt = gr.Textbox(label="Prompt", value="Python is", max_length=MAX_PROMPT_CHARS)
            n_tokens = gr.Slider(1, 1000, value=300, step=1, label="Characters to generate")
            temperature = gr.Slider(0, 2, value=0.8, step=0.05, label="Temperature (0 = greedy)")
            top_k = gr.Slider(0, 100, value=0, step=1, label="Top-k (0 = off)")
            top_p = gr.Slider(0.05, 1, value=1.0, step=0.05, label="Top-p (1 = off)")
            seed = gr.Number(value=42, precision=0, label="Seed (empty = random)")
            use_cache = gr.Checkbox(value=True, label="Use the KV cache")
            with gr.Row():
                gen_btn = gr.Button("Generate", variant="primary")
                compare_btn = gr.Button("KV cache vs no cache")
        with gr.Column(scale=3):
            output = gr.Textbox(label="Prompt + continuation", lines=12, interactive=False, elem_id="minigpt-output")
            speed = markdown("", elem_id="minigpt-speed")
            comparison = markdown("", elem_id="minigpt-compare")
    try_this(
        "Generate with temperature 0 (greedy), then 1.5: safe repetition versus adventurous misspellings.",
        "Set top-p to 0.5 at temperature 1.2: the nucleus cuts off the unlikely tail and the text is clean again.",
        "Press **KV cache vs no cache** with 500 characters: the same text, several times faster with the cache.",
    )

    # ---- wiring ----
    def show_source(choice):
        return gr.update(visible=choice == PASTE), gr.update(visible=choice == UPLOAD)

    source.change(show_source, source, [pasted, upload], api_name=False)
    size_inputs = [source, pasted, upload, n_layer, n_head, n_embd, block_size, dropout, batch_size, optimizer]
    for component in [source, upload, n_layer, n_head, n_embd, block_size, dropout, batch_size, optimizer]:
        component.change(size_summary, size_inputs, size, api_name=False, show_progress="hidden")
    pasted.blur(size_summary, size_inputs, size, api_name=False, show_progress="hidden")
    hyper = [n_layer, n_head, n_embd, block_size, batch_size, learning_rate, steps, dropout, bf16, optimizer, short_window]
    preset_name.input(preset_values, preset_name, hyper, api_name=False)

    run_dir = gr.State(None)
    train_event = train_btn.click(
        run_training, [ctx.user_id, source, pasted, upload, *hyper, preset_name],
        [status, chart, samples, ckpt, run_dir, download], api_name=False, show_progress="minimal",
        concurrency_limit=threads.training_slots(), concurrency_id=threads.TRAINING_CONCURRENCY_ID,
    )
    stop_btn.click(None, cancels=[train_event], api_name=False).then(
        after_stop, [ctx.user_id, run_dir, status], [ckpt, status], api_name=False)
    download_btn.click(download_run, run_dir, download, api_name=False)

    gen_inputs = [ctx.user_id, ckpt, prompt, n_tokens, temperature, top_k, top_p, seed]
    gen_btn.click(run_generate, gen_inputs + [use_cache], [output, speed], api_name=False, show_progress="minimal")
    compare_btn.click(compare_cache, gen_inputs, comparison, api_name=False, show_progress="minimal")
    ctx.tab.select(refresh_checkpoints, [ctx.user_id, ckpt], ckpt, api_name=False)

    ctx.demo.load(show_shipped_curve, outputs=[status, chart, samples], api_name=False)
    ctx.demo.load(size_summary, size_inputs, size, api_name=False)
    ctx.demo.load(refresh_checkpoints, [ctx.user_id, ckpt], ckpt, api_name=False).then(
        first_generation, gen_inputs + [use_cache], [output, speed], api_name=False)

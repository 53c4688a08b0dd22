"""Tab: Cost and compute (Part 10). UI only; core.compute computes.

Three labs, one builder each:
1. `_calculator_lab`: N parameters and D tokens -> training FLOPs (6ND and the attention term), the
   Chinchilla tokens, time on this machine (its matmul FLOP/s measured when the page opens) or a GPU
   at a chosen MFU, N GPUs, cost. N and D are typed boxes (lessons.inputs: checked once, then the lab).
2. `_memory_lab`: a stacked bar per setting (inference, full fine-tune, LoRA, QLoRA) for the model of
   lab 1, with batch, checkpointing, ZeRO/FSDP over the GPUs of lab 1.
3. `_measure_lab`: predict a short MiniGPT run's time and memory on this machine, then run it as a
   training job (core.jobs worker, the training queue, Stop) and show predicted vs measured.

Importing this module does not import torch: the measurements import it inside their handlers.
"""
from __future__ import annotations

import functools

import gradio as gr

from core import caps, compute, jobs, text_input, threads
from core import quiz as Q
from core.minigpt.config import LIMITS, GPTConfig
from lessons.check import end_of_tab_check, prediction
from lessons.common import LessonContext, learner_error, lesson_text, markdown, named_event, shows_errors, try_this
from lessons.inputs import Checked, checker, on_typed
from lessons.plots import PALETTE, Chart, chart

DEFAULT_PRESET = "tinyllama-1.1b"
DEFAULT_GPU = "A100"
HARDWARE = [compute.THIS_MACHINE, *compute.GPUS]
PART_LABELS = {"weights": "weights", "gradients": "gradients", "optimizer": "optimizer state",
               "activations": "activations (inference: KV cache)"}
PART_COLOURS = {"weights": PALETTE[0], "gradients": PALETTE[1], "optimizer": PALETTE[2], "activations": PALETTE[5]}
RUN_LABEL, RUNNING_LABEL, STOP_LABEL = "Predict, then measure", "Measuring…", "Stop"
MEASURE_DEFAULTS = dict(n_layer=2, n_head=4, n_embd=128, block_size=64, batch=8, steps=20)


# ---------- formatting ----------

def _bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:,.2f} {unit}"
    return f"{n:,.0f} B"


def _duration(seconds: float) -> str:
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:,.1f} {unit}"
    return f"{seconds:,.2f} s"


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _flops(x: float) -> str:
    """1.98e+22 as 1.98 × 10²²."""
    if x < 1e4:
        return f"{x:,.0f}"
    mantissa, exponent = f"{x:.3g}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


# ---------- lab 1: compute, time and cost ----------

def count_text(x: float) -> str:
    """A count as a learner would type it: 1.1B, 3T, 835k (compute.parse_count reads it back)."""
    for suffix, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= size:
            return f"{x / size:.4g}{suffix}"
    return f"{x:g}"


def _count(text, what, maximum):
    return compute.parse_count(text, what, maximum)


def parse_run(params_text, tokens_text):
    """The two typed boxes as numbers (ValueError worded for the learner)."""
    return (_count(params_text, "number of parameters", compute.MAX_PARAMS),
            _count(tokens_text, "number of training tokens", compute.MAX_TOKENS))


check_run = checker(parse_run)


def _shape(n_layer, d_model, n_head, n_kv_head, d_ff, vocab_size, context, glu) -> compute.Shape:
    values = dict(n_layer=n_layer, d_model=d_model, n_head=n_head, n_kv_head=n_kv_head, d_ff=d_ff,
                  vocab_size=vocab_size, context=context)
    empty = [name for name, v in values.items() if v is None]
    if empty:
        raise ValueError(f"Give the shape's {SHAPE_LABELS[empty[0]]} a value (it is empty).")
    shape = compute.Shape(**{k: int(v) for k, v in values.items()}, glu=bool(glu))
    shape.validate()
    return shape


def _hardware(name: str, measured_flops: float | None) -> compute.Gpu:
    if name == compute.THIS_MACHINE:
        if not measured_flops:
            raise learner_error("This machine's speed is still being measured: press **Measure this machine**.")
        return compute.this_machine(measured_flops)
    return compute.gpu(name)


def _summary(est: compute.Estimate) -> str:
    over = est.tokens / est.chinchilla_tokens
    verdict = (f"**{over:,.1f}× the Chinchilla tokens**: over-trained on purpose, a smaller model that is cheaper "
               "to run, paid for with more training compute." if over > 1.5 else
               "about compute-optimal (Chinchilla)." if over >= 0.67 else
               f"**{1 / over:,.1f}× fewer tokens than Chinchilla-optimal**: the same compute would train a smaller "
               "model further, to a lower loss.")
    hw = est.hardware
    return (f"| quantity | value |\n|---|---|\n"
            f"| Training compute 6·N·D | **{_flops(est.flops_6nd)} FLOPs** |\n"
            f"| Attention 12·L·d·T per token, × D (not in 6ND) | {_flops(est.attention_flops)} FLOPs "
            f"({est.attention_flops / est.flops_6nd:.1%} more) |\n"
            f"| Chinchilla-optimal tokens 20·N | {_flops(est.chinchilla_tokens)} (6ND there: "
            f"{_flops(est.chinchilla_flops)} FLOPs) |\n"
            f"| Tokens per parameter | {est.tokens_per_param:,.0f}: {verdict} |\n"
            f"| Time on {est.gpus:,} × {hw.name} ({hw.peak_flops / 1e12:,.3g} TFLOP/s {hw.dtype} each) at "
            f"{est.mfu:.0%} MFU | **{_duration(est.seconds)}** ({est.gpu_hours:,.1f} GPU-hours) |\n"
            f"| Cost at USD {est.price:g} per GPU-hour | **USD {est.cost_usd:,.0f}** |")


def _hardware_chart(est: compute.Estimate, measured_flops: float | None) -> Chart:
    """Days for this run on every hardware in the table, at the chosen MFU and number of GPUs."""
    names, days, colours = [], [], []
    for name in HARDWARE:
        if name == compute.THIS_MACHINE and not measured_flops:
            continue
        hw = _hardware(name, measured_flops)
        names.append(name)
        days.append(compute.run_time(est.training_flops, hw, est.gpus, est.mfu) / 86400)
        colours.append(PALETTE[1] if name == est.hardware.name else PALETTE[0])
    fig = chart(f"The same run on {est.gpus:,} of each at {est.mfu:.0%} MFU", "days (log scale)", "", height=300)
    fig.add("bar", x=days, y=names, orientation="h", marker=dict(color=colours),
            hovertemplate="%{y}: %{x:,.3g} days<extra></extra>")
    return fig.axes(x=dict(type="log"), y=dict(autorange="reversed", automargin=True))


@shows_errors
def calculator(state: Checked, n_layer, d_model, n_head, n_kv_head, d_ff, vocab_size, context, glu,
               hardware, gpus, mfu_percent, price, measured_flops):
    """(summary table, hardware chart) from the last good boxes and the controls."""
    params, tokens = parse_run(*state.good)
    shape = _shape(n_layer, d_model, n_head, n_kv_head, d_ff, vocab_size, context, glu)
    est = compute.estimate(params, tokens, _hardware(hardware, measured_flops), gpus,
                           compute.check_mfu(None if mfu_percent is None else mfu_percent / 100), price, shape)
    return _summary(est), _hardware_chart(est, measured_flops)


def preset_values(name: str) -> dict:
    """A preset's N, D (its published run) and shape, for the widgets of the same names, and the new state."""
    p = compute.preset(name)
    tokens = p.tokens or compute.chinchilla_tokens(p.params)
    params_text, tokens_text = f"{p.params:,}", count_text(tokens)  # N exact, as tab 1 counts it
    s = p.shape
    return {"params": params_text, "tokens": tokens_text, "n_layer": s.n_layer, "d_model": s.d_model,
            "n_head": s.n_head, "n_kv_head": s.n_kv_head, "d_ff": s.d_ff, "vocab_size": s.vocab_size,
            "context": s.context, "glu": s.glu, "note": f"*{p.label}: {p.params:,} parameters "
            f"(core.architecture). {p.note}.*", "state": Checked.start(params_text, tokens_text)}


@shows_errors
def measure_machine() -> dict:
    """This server's float32 matmul FLOP/s, with the threads one training job gets, measured now (the button)."""
    return _machine_view(compute.measure_matmul_flops(), "measured just now")


def machine_on_open() -> dict:
    """The figure a page opens with: measured once per server process (in the warm-up, or by the first page
    view), not by every learner's page load: 30 page loads would be 30 × 0.15 s of busy matmuls."""
    return _machine_view(_server_flops(), "measured when the server started; press the button to measure again")


@functools.lru_cache(maxsize=1)
def _server_flops() -> float:
    return compute.measure_matmul_flops()


def warm_up() -> None:
    _server_flops()


def _machine_view(flops: float, when: str) -> dict:
    return {"measured": flops, "machine": f"This machine: **{flops / 1e9:,.1f} GFLOP/s** (float32 512×512 matmuls, "
                                          f"{threads.default_threads()} thread(s), best of 0.15 s of repeats; {when})."}


@shows_errors
def predict_chinchilla(guess, state: Checked, n_layer, d_model, n_head, n_kv_head, d_ff, vocab_size, context, glu,
                       hardware, gpus, mfu_percent, price, measured_flops) -> dict:
    """Reveal: the GPU-hours of this model trained on its Chinchilla-optimal 20·N tokens, the lab's estimate."""
    Q.parse_guess(guess)
    params, tokens = parse_run(*state.good)
    shape = _shape(n_layer, d_model, n_head, n_kv_head, d_ff, vocab_size, context, glu)
    mfu = compute.check_mfu(None if mfu_percent is None else mfu_percent / 100)
    hw = _hardware(hardware, measured_flops)
    optimal = compute.estimate(params, compute.chinchilla_tokens(params), hw, gpus, mfu, price, shape)
    typed = compute.estimate(params, tokens, hw, gpus, mfu, price, shape)
    reason = (f"20·N = {_flops(optimal.tokens)} tokens instead of {_flops(typed.tokens)}: the time scales with D, "
              f"so {typed.gpu_hours:,.1f} GPU-hours × {optimal.tokens / typed.tokens:.3g} = {optimal.gpu_hours:,.1f} "
              f"on {hw.name} at {mfu:.0%} MFU (USD {optimal.cost_usd:,.0f}).")
    return {"feedback": Q.compare_guess(guess, optimal.gpu_hours, reason, unit="GPU-hours")}


# ---------- lab 2: memory ----------

def memory_settings(batch, context, inference_dtype, checkpointing, fused_attention, dropout, lora_rank,
                    lora_targets, gpus, zero_stage) -> compute.MemorySettings:
    if batch is None or lora_rank is None or gpus is None:
        raise ValueError("Give the batch, the LoRA rank and the GPUs a value.")
    return compute.MemorySettings(batch=int(batch), context=int(context) if context else None,
                                  inference_dtype=inference_dtype, checkpointing=bool(checkpointing),
                                  fused_attention=bool(fused_attention), dropout=bool(dropout),
                                  lora_rank=int(lora_rank), lora_targets=lora_targets, gpus=int(gpus),
                                  zero_stage=int(zero_stage))


def _memory_chart(table: dict, settings: compute.MemorySettings, capacity: float | None, name: str) -> Chart:
    labels = [compute.SETTING_LABELS[s].replace(" (", "<br>(") for s in table]
    title = f"Memory per GPU ({settings.gpus} GPU{'s' if settings.gpus > 1 else ''}, ZeRO stage {settings.zero_stage})"
    fig = chart(title, "", "GB", height=360, barmode="stack")
    for part in compute.PARTS:
        values = [table[s][part] / 1e9 for s in table]
        fig.add("bar", x=labels, y=values, name=PART_LABELS[part], marker=dict(color=PART_COLOURS[part]),
                hovertemplate=f"%{{x}}<br>{PART_LABELS[part]}: %{{y:,.3f}} GB<extra></extra>")
    if capacity:
        fig.layout["shapes"] = [dict(type="line", xref="x domain", x0=0, x1=1, yref="y", y0=capacity / 1e9,
                                     y1=capacity / 1e9, line=dict(color=PALETTE[3], dash="dash"))]
        fig.layout["annotations"] = [dict(text=f"{name}: {capacity / 1e9:g} GB", xref="x domain", x=1, xanchor="right",
                                          yref="y", y=capacity / 1e9, yanchor="bottom", showarrow=False)]
    return fig


def _memory_text(table: dict, capacity: float | None, name: str) -> str:
    rows = ["| setting | weights | gradients | optimizer | activations | total | fits one " + name + "? |",
            "|---|---:|---:|---:|---:|---:|---|"]
    for setting, parts in table.items():
        fits = "—" if not capacity else ("yes" if parts["total"] <= capacity else "**no**")
        rows.append(f"| {compute.SETTING_LABELS[setting]} | " + " | ".join(_bytes(parts[k]) for k in compute.PARTS)
                    + f" | **{_bytes(parts['total'])}** | {fits} |")
    return "\n".join(rows)


@shows_errors
def memory_lab(state: Checked, n_layer, d_model, n_head, n_kv_head, d_ff, vocab_size, context, glu, hardware,
               gpus, batch, inference_dtype, checkpointing, fused_attention, dropout, lora_rank, lora_targets,
               zero_stage):
    """(table, stacked bars) for the model of lab 1."""
    params, _ = parse_run(*state.good)
    shape = _shape(n_layer, d_model, n_head, n_kv_head, d_ff, vocab_size, context, glu)
    settings = memory_settings(batch, None, inference_dtype, checkpointing, fused_attention, dropout, lora_rank,
                               lora_targets, gpus, zero_stage)
    table = compute.memory_table(shape, params, settings)
    capacity = compute.GPUS[hardware].memory_bytes if hardware in compute.GPUS else None
    name = hardware if capacity else "GPU"
    return _memory_text(table, capacity, name), _memory_chart(table, settings, capacity, name)


@shows_errors
def predict_checkpointing(guess, state: Checked, n_layer, d_model, n_head, n_kv_head, d_ff, vocab_size, context, glu,
                          gpus, batch, inference_dtype, fused_attention, dropout, lora_rank, lora_targets,
                          zero_stage) -> dict:
    """Reveal: full fine-tuning's GB per GPU with activation checkpointing on; ticks it so the lab shows it."""
    Q.parse_guess(guess)
    params, _ = parse_run(*state.good)
    shape = _shape(n_layer, d_model, n_head, n_kv_head, d_ff, vocab_size, context, glu)
    parts = {}
    for on in (False, True):
        settings = memory_settings(batch, None, inference_dtype, on, fused_attention, dropout, lora_rank,
                                   lora_targets, gpus, zero_stage)
        parts[on] = compute.memory(shape, params, "full_finetune", settings)
    reason = (f"checkpointing keeps each layer's input only: the activations go from {_bytes(parts[False]['activations'])} "
              f"to {_bytes(parts[True]['activations'])}; the weights, gradients and Adam state "
              f"({_bytes(parts[True]['total'] - parts[True]['activations'])}) do not change.")
    return {"feedback": Q.compare_guess(guess, parts[True]["total"] / 1e9, reason, unit="GB"), "checkpointing": True}


# ---------- lab 3: predict, then measure ----------

@shows_errors
def prepare_measure(user_id, n_layer, n_head, n_embd, block_size, batch, steps, mfu_percent) -> dict:
    """Check the run before it queues: one job per learner, the shape, the step range and the server's caps."""
    from core.minigpt.train import TrainConfig

    jobs.check_free(user_id)
    values = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size, batch=batch, steps=steps)
    if any(v is None for v in values.values()) or mfu_percent is None:
        raise ValueError("Give every setting a value.")
    text = text_input.builtin_corpus()
    config = GPTConfig(vocab_size=len(set(text)), block_size=int(block_size), n_layer=int(n_layer),
                       n_head=int(n_head), n_embd=int(n_embd))
    compute.predict_run(config, int(batch), int(steps), 1.0, compute.check_mfu(mfu_percent / 100))  # its checks
    caps.check_minigpt(config, TrainConfig(steps=int(steps), batch_size=int(batch)))
    model = {k: config.to_dict()[k] for k in ("n_layer", "n_head", "n_embd", "block_size")}
    return {"plan": dict(model_config=model, batch=int(batch), steps=int(steps), assumed_mfu=mfu_percent / 100)}


def busy() -> dict:
    return {"run_btn": gr.Button(RUNNING_LABEL, interactive=False), "stop_btn": gr.Button(STOP_LABEL, interactive=True)}


def idle() -> dict:
    return {"run_btn": gr.Button(RUN_LABEL, interactive=True), "stop_btn": gr.Button(STOP_LABEL, interactive=False),
            "plan": None}


def request_stop(user_id) -> dict:
    """Stop: the job's marker file, which the training loop checks after every step."""
    jobs.request_stop(user_id)
    return {"stop_btn": gr.Button("Stopping…", interactive=False)}


def _comparison(report: dict) -> str:
    """Predicted next to measured, for every number the run gives."""
    pred, mem = report["predicted"], report.get("measured_memory")
    run = report.get("measured")
    rows = ["| | predicted | measured |", "|---|---:|---:|",
            f"| this machine's matmul speed (the peak the prediction uses) | | {report['flops_per_s'] / 1e9:,.1f} GFLOP/s |",
            f"| model FLOPs of the run, (6N + 12LdT) × tokens | {_flops(pred['flops'])} | |"]
    if run:
        share = run["step"] / report["steps"]
        rows.append(f"| training time of {run['step']} steps | {_duration(pred['seconds'] * share)} at "
                    f"{report['assumed_mfu']:.0%} MFU | **{_duration(run['train_time'])}** |")
        rows.append(f"| MFU | {report['assumed_mfu']:.0%} (assumed) | **{run['achieved_mfu']:.0%}** (achieved) |")
    if mem:
        p = pred["memory"]
        for part, label in (("weights", "weights (float32)"), ("gradients", "gradients (float32)"),
                            ("optimizer", "AdamW's two moments (float32)")):
            rows.append(f"| {label} | {_bytes(p[part])} | {_bytes(mem[part])} |")
        rows.append(f"| activations kept for the backward pass | {_bytes(p['activations'])} | "
                    f"{_bytes(mem['saved_bytes'])} (autograd's saved tensors) |")
        peak = mem["peak_rss_increase"]
        rows.append(f"| training step's peak memory | **{_bytes(p['total'])}** | "
                    f"**{_bytes(peak) if peak else 'not measurable here'}** (rise of the worker's peak RSS) |")
    return "\n".join(rows)


def _timeline(report: dict, points: list) -> Chart:
    """Cumulative training time against steps: the predictions as lines, the measurement as points."""
    steps, seconds = report["steps"], report["predicted"]["seconds"]
    fig = chart("Training time: predicted vs measured", "step", "seconds of training", height=320)
    fig.add("scatter", x=[0, steps], y=[0, seconds], mode="lines", name=f"predicted at {report['assumed_mfu']:.0%} MFU",
            line=dict(color=PALETTE[0], dash="dash"), hovertemplate="step %{x}<br>%{y:.2f} s<extra></extra>")
    fig.add("scatter", x=[0, steps], y=[0, seconds * report["assumed_mfu"]], mode="lines", name="at 100% MFU",
            line=dict(color=PALETTE[7], dash="dot"), hovertemplate="step %{x}<br>%{y:.2f} s<extra></extra>")
    if points:
        fig.add("scatter", x=[s for s, _ in points], y=[t for _, t in points], mode="lines+markers", name="measured",
                line=dict(color=PALETTE[1]), hovertemplate="step %{x}<br>%{y:.2f} s<extra></extra>")
    return fig


def _measure_status(report: dict) -> str:
    phase, run = report["phase"], report.get("measured")
    if phase == "predicted":
        return "Predicted from the shape. Measuring a training step's memory…"
    if phase == "memory":
        return "Memory measured. Training…"
    line = f"step {run['step']}/{report['steps']} · {run['tokens_per_s']:,.0f} tokens/s · loss {run['loss']:.3f}"
    if phase == "stopped":
        return f"**Stopped at step {run['step']} of {report['steps']}**: the numbers below are for those steps."
    if phase == "done":
        ratio = run["train_time"] / report["predicted"]["seconds"]
        return (f"**Done.** {line} · measured time = {ratio:.2f} × the prediction: this machine ran the model at "
                f"**{run['achieved_mfu']:.0%}** of its matmul speed.")
    return line


@shows_errors
def run_measure(user_id, plan: dict | None, request: gr.Request | None = None, demo: gr.Blocks | None = None):
    """Generator: the measured run as a training job (worker process, caps, Stop), streamed."""
    from lessons import watched

    if plan is None:
        raise learner_error(f"Press **{RUN_LABEL}** to start a run.")
    listening = watched(demo, request) if demo is not None else None
    points: list = []
    kwargs = dict(plan, text=text_input.builtin_corpus())
    try:
        for report in jobs.stream("core.compute:measured_run", kwargs, owner=user_id, kind="measured MiniGPT run",
                                  limits=caps.minigpt_limits(), listening=listening):
            if report.get("measured"):
                points.append((report["measured"]["step"], report["measured"]["train_time"]))
            yield {"status": _measure_status(report), "table": _comparison(report), "chart": _timeline(report, points)}
    except jobs.JobError as err:
        yield {"status": f"**The run ended early.** {err}"}


def measure_prediction(n_layer, n_head, n_embd, block_size, batch, steps, mfu_percent, measured_flops) -> dict:
    """Before a run: the prediction alone, from the page's measured FLOP/s (never raises: shown as a note)."""
    try:
        text_vocab = len(set(text_input.builtin_corpus()))
        config = GPTConfig(vocab_size=text_vocab, block_size=int(block_size), n_layer=int(n_layer),
                           n_head=int(n_head), n_embd=int(n_embd))
        pred = compute.predict_run(config, int(batch), int(steps), measured_flops or 1.0, mfu_percent / 100)
    except (TypeError, ValueError) as err:
        return {"prediction": f"⚠️ {err}" if isinstance(err, ValueError) else "⚠️ Give every setting a value."}
    timeline = _timeline({"steps": int(steps), "predicted": pred, "assumed_mfu": mfu_percent / 100}, [])
    time_text = (f"**{_duration(pred['seconds'])}** at {mfu_percent:g}% of this machine's "
                 f"{measured_flops / 1e9:,.1f} GFLOP/s" if measured_flops else "(measuring this machine…)")
    return {"prediction": f"{config.num_params():,} parameters · {_flops(pred['flops'])} model FLOPs · predicted "
                          f"{time_text} · peak memory ≈ **{_bytes(pred['memory']['total'])}**",
            "chart": timeline if measured_flops else gr.skip()}


PREDICT_BATCH = 32  # the batch the memory prediction asks about


@shows_errors
def predict_batch_memory(guess, n_layer, n_head, n_embd, block_size, batch) -> dict:
    """Reveal: the predicted peak memory of the run at batch PREDICT_BATCH; sets the batch so the lab shows it."""
    Q.parse_guess(guess)
    if any(v is None for v in (n_layer, n_head, n_embd, block_size, batch)):
        raise ValueError("Give every setting a value.")
    config = GPTConfig(vocab_size=len(set(text_input.builtin_corpus())), block_size=int(block_size),
                       n_layer=int(n_layer), n_head=int(n_head), n_embd=int(n_embd))
    now, then = compute.minigpt_memory(config, int(batch)), compute.minigpt_memory(config, PREDICT_BATCH)
    fixed = then["total"] - then["activations"]
    reason = (f"the weights, gradients and AdamW moments ({_bytes(fixed)}) do not depend on the batch; the "
              f"activations do, in proportion: {_bytes(now['activations'])} at batch {int(batch)}, "
              f"{_bytes(then['activations'])} at {PREDICT_BATCH}.")
    return {"feedback": Q.compare_guess(guess, then["total"] / 1e6, reason, unit="MB"), "batch": PREDICT_BATCH}


# ---------- layout ----------

SHAPE_FIELDS = ("n_layer", "d_model", "n_head", "n_kv_head", "d_ff", "vocab_size", "context")
SHAPE_LABELS = {"n_layer": "Layers L", "d_model": "Width d", "n_head": "Heads", "n_kv_head": "Key/value heads",
                "d_ff": "MLP width", "vocab_size": "Vocabulary", "context": "Context T (tokens)"}
MEMORY_FIELDS = ("batch", "inference_dtype", "checkpointing", "fused_attention", "dropout", "lora_rank",
                 "lora_targets", "zero_stage")


def both_labs(state, n_layer, d_model, n_head, n_kv_head, d_ff, vocab_size, context, glu, hardware, gpus, mfu_percent,
              price, measured_flops, batch, inference_dtype, checkpointing, fused_attention, dropout, lora_rank,
              lora_targets, zero_stage):
    """Labs 1 and 2 after a change to the model they share: (summary, chart, memory table, memory chart)."""
    shape = (n_layer, d_model, n_head, n_kv_head, d_ff, vocab_size, context, glu)
    return (*calculator(state, *shape, hardware, gpus, mfu_percent, price, measured_flops),
            *memory_lab(state, *shape, hardware, gpus, batch, inference_dtype, checkpointing, fused_attention, dropout,
                        lora_rank, lora_targets, zero_stage))


def _model_widgets(defaults: dict) -> dict:
    w = {"preset": gr.Dropdown([(p.label, p.name) for p in compute.presets()], value=DEFAULT_PRESET,
                               label="Model preset (parameters from tab 1's counter)")}
    with gr.Row():
        w["params"] = gr.Textbox(defaults["params"], label="Parameters N", max_lines=1, min_width=120, elem_id="compute-params",
                                 info="e.g. 1.1e9 or 1.1B")
        w["tokens"] = gr.Textbox(defaults["tokens"], label="Training tokens D", max_lines=1, min_width=120, elem_id="compute-tokens",
                                 info="e.g. 3e12 or 3T")
    w["note"] = markdown(defaults["note"])
    with gr.Accordion("Shape (attention term, activations, KV cache)", open=False):
        with gr.Row():
            for name in SHAPE_FIELDS:
                w[name] = gr.Number(defaults[name], label=SHAPE_LABELS[name], precision=0, minimum=1,
                                    maximum=10_000_000, min_width=90)
        w["glu"] = gr.Checkbox(defaults["glu"], label="Gated MLP (SwiGLU, Llama style)")
    return w


def _hardware_widgets() -> dict:
    w = {"hardware": gr.Dropdown(HARDWARE, value=DEFAULT_GPU, label="Hardware"),
         "gpus": gr.Slider(1, 4096, value=1, step=1, label="GPUs (data parallel)"),
         "mfu_percent": gr.Slider(1, 100, value=40, step=1, label="Utilisation MFU (%)"),
         "price": gr.Number(2.0, label="Price (USD per GPU-hour)", minimum=0, maximum=compute.MAX_PRICE)}
    with gr.Row():
        w["measure_btn"] = gr.Button("Measure this machine", size="sm", scale=0)
        w["machine"] = markdown("Measuring this machine…", elem_id="compute-machine")
    return w


def _memory_widgets() -> dict:
    return {
        "batch": gr.Slider(1, 64, value=1, step=1, label="Sequences per GPU (batch)"),
        "inference_dtype": gr.Radio(list(compute.BYTES_PER_WEIGHT), value="bf16", label="Inference weights"),
        "checkpointing": gr.Checkbox(False, label="Activation checkpointing (keep each layer's input only)"),
        "fused_attention": gr.Checkbox(False, label="Fused attention (FlashAttention: no T×T matrix kept)"),
        "dropout": gr.Checkbox(False, label="Dropout (its masks and copies, as in Korthikanti's GPT)"),
        "lora_rank": gr.Slider(1, 256, value=8, step=1, label="LoRA rank r"),
        "lora_targets": gr.Radio(list(compute.LORA_TARGETS), value="all linear", label="LoRA on"),
        "zero_stage": gr.Radio([("none", 0), ("1: optimizer", 1), ("2: + gradients", 2), ("3 / FSDP: + weights", 3)],
                               value=0, label="ZeRO sharding over the GPUs"),
    }


def _calculator_lab(ctx: LessonContext) -> dict:
    defaults = preset_values(DEFAULT_PRESET)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            model = _model_widgets(defaults)
            hardware = _hardware_widgets()
        with gr.Column(scale=2):
            results = {"summary": markdown("", elem_id="compute-summary"),
                       "chart": gr.Plot(show_label=False, elem_id="compute-chart")}
            results["chinchilla"] = prediction("how many GPU-hours would this model take trained on its "
                                               "Chinchilla-optimal 20·N tokens, on the hardware chosen here?",
                                               unit="GPU-hours", elem_id="predict-chinchilla")
    try_this("Pick **TinyLlama-1.1B**, A100, 16 GPUs, MFU 59%: about 90 days, the published run (its 24,000 tokens/s "
             "per GPU are 59% of the A100's peak with the attention term, 51% by 6N alone). Its 3T tokens are ~2,700 "
             "per parameter, 136× Chinchilla's 20: over-trained on purpose, for a small model that is cheap to run.",
             "Type 175B parameters and 300B tokens (GPT-3): 6ND ≈ 3.15 × 10²³ FLOPs, the paper's 3.14 × 10²³.",
             "Choose **this machine** and the MiniGPT preset: tab 4's default run in seconds. Then TinyLlama: centuries.")
    return {**model, **hardware, **results, "state": gr.State(Checked.start(defaults["params"], defaults["tokens"])),
            "measured": gr.State(None)}


def _memory_lab() -> dict:
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            widgets = _memory_widgets()
        with gr.Column(scale=2):
            widgets["mem_chart"] = gr.Plot(show_label=False, elem_id="compute-memory-chart")
            widgets["mem_table"] = markdown("", elem_id="compute-memory-table")
            widgets["checkpointed"] = prediction("with activation checkpointing ticked, how many GB per GPU will "
                                                 "full fine-tuning need?", unit="GB", elem_id="predict-checkpointing")
    try_this("TinyLlama, batch 1: full fine-tuning needs ~27 GB, LoRA ~12 GB, QLoRA ~10 GB: the activations now "
             "dominate. Tick **activation checkpointing**, then **fused attention**.",
             "Llama-2-7B on 8 A100s: full fine-tuning does not fit one GPU; ZeRO stage 3 over 8 GPUs leaves each ~1/8 "
             "of the weights, gradients and optimizer state.",
             "Inference with Llama-3-8B at context 8192, batch 16: the KV cache outgrows the weights; its 8 key/value "
             "heads (grouped-query attention) make it 4× smaller than 32 would.")
    return widgets


def _measure_widgets() -> dict:
    d = MEASURE_DEFAULTS
    return {
        "n_layer": gr.Slider(*LIMITS["n_layer"], value=d["n_layer"], step=1, label="Layers"),
        "n_head": gr.Slider(*LIMITS["n_head"], value=d["n_head"], step=1, label="Heads"),
        "n_embd": gr.Slider(*LIMITS["n_embd"], value=d["n_embd"], step=16, label="Width"),
        "block_size": gr.Slider(*LIMITS["block_size"], value=d["block_size"], step=8, label="Context (characters)"),
        "batch": gr.Slider(1, 64, value=d["batch"], step=1, label="Batch"),
        "steps": gr.Slider(*compute.MEASURE_STEPS, value=d["steps"], step=1, label="Steps"),
        "mfu_percent": gr.Slider(1, 100, value=40, step=1, label="Assumed MFU (%) for the prediction"),
    }


def _measure_lab(ctx: LessonContext, measured: gr.State) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            form = _measure_widgets()
            with gr.Row():
                run_btn = gr.Button(RUN_LABEL, variant="primary", elem_id="compute-run")
                stop_btn = gr.Button(STOP_LABEL, variant="stop", interactive=False, elem_id="compute-stop")
        with gr.Column(scale=2):
            forecast = markdown("", elem_id="compute-prediction")
            status = markdown("", elem_id="compute-status")
            timeline = gr.Plot(show_label=False, elem_id="compute-timeline")
            table = markdown("", elem_id="compute-comparison")
            bigger = prediction(f"at batch {PREDICT_BATCH}, what peak memory will the prediction give for this run?",
                                unit="MB", elem_id="predict-batch")
    quiet = dict(api_name=False, show_progress="hidden")
    shape_in = {k: form[k] for k in ("n_layer", "n_head", "n_embd", "block_size", "batch")}
    bigger.reveal(named_event(predict_batch_memory, {"guess": bigger.guess, **shape_in},
                                      {"feedback": bigger.feedback, "batch": form["batch"]}), **quiet)
    buttons, plan = {"run_btn": run_btn, "stop_btn": stop_btn}, gr.State(None)
    gr.on([c.change for c in form.values()] + [measured.change], **named_event(
        measure_prediction, {**form, "measured_flops": measured}, {"prediction": forecast, "chart": timeline}),
        trigger_mode="always_last", show_progress="hidden", api_name=False)
    start = run_btn.click(**named_event(prepare_measure, {"user_id": ctx.user_id, **form}, {"plan": plan}),
                          api_name=False)
    start.success(**named_event(busy, outputs=buttons), api_name=False, show_progress="hidden").success(
        **named_event(_run_measure_in(ctx.demo), {"user_id": ctx.user_id, "plan": plan},
                      {"status": status, "table": table, "chart": timeline}),
        api_name=False, show_progress="minimal", concurrency_limit=threads.training_slots(),
        concurrency_id=threads.TRAINING_CONCURRENCY_ID,
    ).then(**named_event(idle, outputs={**buttons, "plan": plan}), api_name=False, show_progress="hidden")
    stop_btn.click(**named_event(request_stop, {"user_id": ctx.user_id}, {"stop_btn": stop_btn}), api_name=False,
                   show_progress="hidden", queue=False)


def _run_measure_in(demo):
    import functools

    return functools.partial(run_measure, demo=demo)


def _wire_shared(ctx: LessonContext, lab1: dict, lab2: dict) -> None:
    """Labs 1 and 2 share the model: every control redraws what depends on it, typed or dragged."""
    shape = [lab1[k] for k in (*SHAPE_FIELDS, "glu")]
    calc_controls = [lab1[k] for k in ("hardware", "gpus", "mfu_percent", "price")]
    inputs = [lab1["state"], *shape, *calc_controls, lab1["measured"], *[lab2[k] for k in MEMORY_FIELDS]]
    outputs = [lab1["summary"], lab1["chart"], lab2["mem_table"], lab2["mem_chart"]]
    quiet = dict(show_progress="hidden", api_name=False, trigger_mode="always_last")
    on_typed([lab1["params"], lab1["tokens"]], check_run, [], lab1["state"], both_labs, inputs, outputs)
    model_outputs = {k: lab1[k] for k in ("params", "tokens", *SHAPE_FIELDS, "glu", "note", "state")}
    lab1["preset"].input(**named_event(preset_values, {"name": lab1["preset"]}, model_outputs), api_name=False).then(
        both_labs, inputs, outputs, **quiet)
    triggers = [c.input for c in shape] + [c.change for c in calc_controls] + [lab2[k].change for k in MEMORY_FIELDS]
    gr.on(triggers, both_labs, inputs, outputs, **quiet)
    machine = {"measured": lab1["measured"], "machine": lab1["machine"]}
    lab1["measure_btn"].click(**named_event(measure_machine, outputs=machine), api_name=False).then(
        both_labs, inputs, outputs, **quiet)
    _wire_predictions(lab1, lab2)
    ctx.on_open(**named_event(shows_errors(machine_on_open), outputs=machine), api_name=False, show_progress="hidden").then(
        both_labs, inputs, outputs, **quiet)


def _wire_predictions(lab1: dict, lab2: dict) -> None:
    quiet = dict(api_name=False, show_progress="hidden")
    model = {k: lab1[k] for k in ("state", *SHAPE_FIELDS, "glu")}
    box = lab1["chinchilla"]
    calc = {k: lab1[k] for k in ("hardware", "gpus", "mfu_percent", "price")}
    box.reveal(named_event(predict_chinchilla, {"guess": box.guess, **model, **calc,
                                                        "measured_flops": lab1["measured"]},
                                   {"feedback": box.feedback}), **quiet)
    box = lab2["checkpointed"]
    memory = {k: lab2[k] for k in MEMORY_FIELDS if k != "checkpointing"}
    box.reveal(named_event(predict_checkpointing, {"guess": box.guess, **model, "gpus": lab1["gpus"], **memory},
                                   {"feedback": box.feedback, "checkpointing": lab2["checkpointing"]}), **quiet)


def build(ctx: LessonContext) -> None:
    lesson_text("part10_compute", open=False)
    markdown("### Lab 1 · Compute, time and cost\nParameters N and tokens D give the training compute; the hardware, "
             "how many GPUs and how well they are used (MFU) give the time; the hourly price gives the bill.")
    lab1 = _calculator_lab(ctx)
    markdown("### Lab 2 · Will it fit? Memory per GPU\nThe same model: what inference, full fine-tuning, LoRA and "
             "QLoRA keep in GPU memory, part by part.")
    lab2 = _memory_lab()
    _wire_shared(ctx, lab1, lab2)
    markdown("### Lab 3 · Predict, then measure\nPredict a short MiniGPT run on this machine from its FLOPs and the "
             "measured matmul speed, then run it (a training job, in the queue with tab 4's) and compare.")
    _measure_lab(ctx, lab1["measured"])
    try_this("Run the defaults: the achieved MFU is what a CPU gets from a small model (matmuls too small to run at "
             "full speed, plus everything that is not a matmul).",
             "Double the width (256): the FLOPs go up ~4×, the time less than 4×: bigger matmuls use the machine better.",
             "Raise the context to 256 with 1 layer: the attention matrix now dominates the activations.")
    end_of_tab_check("part10")

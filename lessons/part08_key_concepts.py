"""Tab: Key concepts and hyperparameters (Part 8). UI only: core.schedules, core.accumulation and
core.sweeps compute.

Four labs: learning-rate schedules (a quick lab: every slider redraws), batch x context x accumulation
with a live gradient-equivalence proof on a MiniGPT, a learning-rate sweep and an overfitting lab (each
several short MiniGPT runs as ONE training job, like tab 4's: a check that only fills gr.States, then the
job in a worker process through core.jobs.stream in the training concurrency group, Stop through
core.stop_requests), and the hyperparameter reference table computed from what tabs 4 and 7 really use.

Importing this module does not import torch: core.sweeps, core.accumulation and core.hyperparameters
import it inside the functions that need it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import gradio as gr

from core import accumulation, caps, jobs, quotas, schedules, sessions, stop_requests, sweeps, text_input, threads
from core import quiz as Q
from lessons.check import end_of_tab_check, prediction
from lessons.common import (LessonContext, learner_error, lesson_text, markdown, named_event, shows_errors,
                            stop_button_after_press, try_this)
from lessons.plots import PALETTE, TRAIN, VALIDATION, Chart, chart

DEFAULT_SCHEDULES = ["cosine", "warmup_stable_decay", "linear"]
SCHEDULE_CHOICES = [(schedules.LABELS[n], n) for n in schedules.SCHEDULES]
DEFAULT_RATES = list(sweeps.DEFAULT_RATES)
DEFAULT_SWEEP_STEPS, DEFAULT_OVERFIT_STEPS = sweeps.DEFAULT_SWEEP_STEPS, sweeps.DEFAULT_OVERFIT_STEPS
START_LABEL, RUNNING_LABEL, STOP_LABEL, STOPPING_LABEL = "Run", "Running…", "Stop", "Stopping…"


# ---------- Lab 1 · schedules ----------

@shows_errors
def draw_schedules(names, total_steps, warmup_steps, peak_lr, min_lr_ratio, decay_fraction, trainer=False) -> dict:
    """One curve per chosen schedule (and MiniGPT's own, if asked), and the rate at four moments of each."""
    if not names:
        raise learner_error("Tick at least one schedule to plot.")
    total, warmup, peak = int(total_steps), int(warmup_steps), float(peak_lr)
    fig = chart("Learning rate at every optimizer step", "optimizer step", "learning rate", height=340)
    rows = []
    for i, name in enumerate(names):
        options = schedule_options(name, total, float(min_lr_ratio), float(decay_fraction))
        steps, rates = schedules.curve(name, total, peak, warmup, **options)
        fig.add("scatter", x=steps, y=rates, mode="lines", name=schedules.LABELS[name],
                line=dict(color=PALETTE[i % len(PALETTE)], width=2),
                hovertemplate="step %{x}<br>lr %{y:.3g}<extra>" + schedules.LABELS[name] + "</extra>")
        rows.append(_schedule_row(schedules.LABELS[name], rates, warmup))
    if trainer:
        steps, rates = schedules.curve("cosine", total, peak, warmup, trainer=True, min_lr_ratio=float(min_lr_ratio))
        fig.add("scatter", x=steps, y=rates, mode="lines", name="MiniGPT's trainer (tab 4)",
                line=dict(color=PALETTE[7], dash="dot", width=2), hovertemplate="step %{x}<br>lr %{y:.3g}<extra></extra>")
        rows.append(_schedule_row("MiniGPT's trainer (cosine)", rates, warmup))
    table = "| schedule | step 0 | end of warmup | halfway | last step |\n|---|---|---|---|---|\n" + "\n".join(rows)
    return {"chart": fig, "summary": table}


def schedule_options(name: str, total: int, min_lr_ratio: float, decay_fraction: float) -> dict:
    """The lab's sliders as each schedule's own options (the decay of WSD as a fraction of the run)."""
    if name == "cosine":
        return {"min_lr_ratio": min_lr_ratio}
    if name == "warmup_stable_decay":
        return {"min_lr_ratio": min_lr_ratio, "decay_steps": max(1, round(decay_fraction * total))}
    return {}


def _schedule_row(label: str, rates: list, warmup: int) -> str:
    at = [0, min(warmup, len(rates) - 1), len(rates) // 2, len(rates) - 1]
    return f"| {label} | " + " | ".join(f"{rates[s]:.3g}" for s in at) + " |"


# the schedule prediction: settings the lab does not show on open, and a step the table does not list
ASKED_SCHEDULE = dict(total_steps=1000, warmup_steps=100, peak_lr=1e-3, min_lr_ratio=0.1)
ASKED_STEP = 550


@shows_errors
def predict_schedule(guess, names) -> dict:
    """Reveal of the schedule lab's prediction: cosine's rate at ASKED_STEP with ASKED_SCHEDULE, the verdict,
    and the sliders moved there (cosine ticked) so the chart shows it."""
    Q.parse_guess(guess)
    s = ASKED_SCHEDULE
    actual = schedules.learning_rate("cosine", ASKED_STEP, s["total_steps"], s["peak_lr"], s["warmup_steps"],
                                     min_lr_ratio=s["min_lr_ratio"])
    share = schedules.factor("cosine", ASKED_STEP, s["total_steps"], s["warmup_steps"], min_lr_ratio=s["min_lr_ratio"])
    floor = schedules.learning_rate("cosine", s["total_steps"], s["total_steps"], s["peak_lr"], s["warmup_steps"],
                                    min_lr_ratio=s["min_lr_ratio"])
    reason = (f"the cosine starts after the {s['warmup_steps']} warmup steps, so step {ASKED_STEP} is halfway through "
              f"its {s['total_steps'] - s['warmup_steps']} steps of decay. There the cosine term is 0 and the rate sits "
              f"midway between the peak {s['peak_lr']:g} and the floor {floor:g}: "
              f"{share:.0%} of the peak. Hover over the chart at step {ASKED_STEP} to see it.")
    ticked = list(names or [])
    return {"feedback": Q.compare_guess(guess, actual, reason), **s,
            "names": ticked if "cosine" in ticked else ["cosine", *ticked]}


def _schedule_lab() -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            controls = {
                "names": gr.CheckboxGroup(SCHEDULE_CHOICES, value=DEFAULT_SCHEDULES, label="Schedules"),
                "total_steps": gr.Slider(10, 5000, value=480, step=10, label="Total steps"),
                "warmup_steps": gr.Slider(0, 1000, value=30, step=5, label="Warmup steps"),
                "peak_lr": gr.Slider(1e-4, 2e-2, value=5e-3, step=1e-4, label="Peak learning rate"),
                "min_lr_ratio": gr.Slider(0, 1, value=0.1, step=0.05, label="Floor (fraction of the peak)",
                                          info="where cosine and WSD end"),
                "decay_fraction": gr.Slider(0.05, 0.9, value=0.2, step=0.05, label="WSD: decay over the last fraction"),
                "trainer": gr.Checkbox(value=True, label="Overlay MiniGPT's own schedule (what tab 4 trains with)"),
            }
        with gr.Column(scale=3):
            first = draw_schedules(**{k: c.value for k, c in controls.items()})
            outputs = {"chart": gr.Plot(first["chart"], show_label=False, elem_id="schedule-chart"),
                       "summary": markdown(first["summary"], elem_id="schedule-summary")}
    for control in controls.values():
        control.change(**named_event(draw_schedules, controls, outputs), trigger_mode="always_last",
                       show_progress="hidden", api_name=False)
    a = ASKED_SCHEDULE
    box = prediction(f"cosine with a peak of {a['peak_lr']:g}, {a['warmup_steps']} warmup steps and a floor of "
                     f"{a['min_lr_ratio']:.0%}, over {a['total_steps']} steps: what is the learning rate at step "
                     f"{ASKED_STEP}?", elem_id="predict-schedule")
    moved = {k: controls[k] for k in (*ASKED_SCHEDULE, "names")}  # their change events then redraw the chart
    box.reveal(named_event(predict_schedule, inputs={"guess": box.guess, "names": controls["names"]},
                           outputs={"feedback": box.feedback, **moved}))


# ---------- Lab 2 · batch, context, accumulation ----------

@shows_errors
def tokens_summary(micro_batch, context, accum_steps, gpus) -> str:
    t = accumulation.tokens_per_step(int(micro_batch), int(context), int(accum_steps), int(gpus))
    return (f"**{t['tokens']:,} tokens per optimizer step** = micro-batch {int(micro_batch)} × context {int(context)} × "
            f"accumulation {int(accum_steps)} × GPUs {int(gpus)} ({t['sequences']:,} sequences). Memory holds only one "
            f"micro-batch at a time: {t['micro_batch_tokens']:,} tokens per GPU, {t['forward_backward_passes']} "
            "forward + backward passes before each step.")


@shows_errors
def prove(micro_batch, context, accum_steps) -> str:
    """The live proof: the same windows as one big batch and as accumulated micro-batches."""
    threads.set_torch_threads()
    r = accumulation.prove_equivalence(int(micro_batch), int(accum_steps), int(context))
    return (f"A MiniGPT of {r['num_params']:,} parameters, the same {r['windows']} windows of {int(context)} characters:\n\n"
            f"| | loss | gradient |\n|---|---|---|\n"
            f"| one batch of {r['windows']} | {r['big_batch_loss']:.6f} | (reference) |\n"
            f"| {int(accum_steps)} micro-batches of {int(micro_batch)}, each loss ÷ {int(accum_steps)} | "
            f"{r['accumulated_loss']:.6f} | max \\|difference\\| **{r['max_abs_diff']:.1e}** |\n\n"
            f"The largest gradient entry is {r['max_abs_grad']:.3f}: the two gradients agree to float32 rounding "
            f"(its precision is about 1.2e-7 of a value).")


FORGOT_MICRO, FORGOT_STEPS = 8, 4  # the accumulation prediction: 4 micro-batches of 8, the ÷4 forgotten


@shows_errors
def predict_undivided(guess, context) -> dict:
    """Reveal of the accumulation lab's prediction: how many times larger the accumulated gradient is when the
    micro-batch losses are not divided by k; the sliders moved there and the correct proof shown."""
    Q.parse_guess(guess)  # before the model runs
    threads.set_torch_threads()
    r = accumulation.prove_equivalence(FORGOT_MICRO, FORGOT_STEPS, int(context), divide=False)
    reason = (f"each micro-batch's loss is already a *mean* over its {FORGOT_MICRO} windows, and backward() adds "
              f"into .grad: {FORGOT_STEPS} passes without ÷{FORGOT_STEPS} sum {FORGOT_STEPS} mean gradients, "
              f"{FORGOT_STEPS}× the mean over all {r['windows']} (the largest entry is off by "
              f"{r['max_abs_diff']:.3f}). It acts like a learning rate {FORGOT_STEPS}× too large. The proof "
              "below divides, and the gradients agree.")
    return {"feedback": Q.compare_guess(guess, r["norm_ratio"], reason, unit="times", digits=4),
            "micro_batch": FORGOT_MICRO, "accum_steps": FORGOT_STEPS,
            "proof": prove(FORGOT_MICRO, context, FORGOT_STEPS)}


def _accumulation_prediction(controls: dict, proof) -> None:
    box = prediction(f"accumulate {FORGOT_STEPS} micro-batches of {FORGOT_MICRO} but **forget** to divide each loss "
                     f"by {FORGOT_STEPS}: how many times larger (in norm) is the gradient than one batch of "
                     f"{FORGOT_STEPS * FORGOT_MICRO}'s?", unit="times", elem_id="predict-undivided")
    box.reveal(named_event(predict_undivided, inputs={"guess": box.guess, "context": controls["context"]},
                           outputs={"feedback": box.feedback, "micro_batch": controls["micro_batch"],
                                    "accum_steps": controls["accum_steps"], "proof": proof}))


def _accumulation_lab(ctx: LessonContext) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            controls = {
                "micro_batch": gr.Slider(*accumulation.LIMITS["micro_batch"], value=4, step=1, label="Micro-batch (sequences)"),
                "context": gr.Slider(*accumulation.LIMITS["context"], value=64, step=8, label="Context (tokens)"),
                "accum_steps": gr.Slider(*accumulation.LIMITS["accumulation"], value=4, step=1,
                                         label="Gradient accumulation steps"),
                "gpus": gr.Slider(1, 64, value=1, step=1, label="GPUs (data parallel)"),
            }
            prove_btn = gr.Button("Prove it on a MiniGPT", variant="primary", elem_id="accum-prove")
        with gr.Column(scale=3):
            summary = markdown(tokens_summary(4, 64, 4, 1), elem_id="accum-summary")
            proof = markdown("", elem_id="accum-proof")
    for control in controls.values():
        control.change(tokens_summary, inputs_kwargs=controls, outputs=summary, trigger_mode="always_last",
                       show_progress="hidden", api_name=False)
    proof_inputs = {k: controls[k] for k in ("micro_batch", "context", "accum_steps")}
    prove_btn.click(prove, inputs_kwargs=proof_inputs, outputs=proof, api_name=False, show_progress="minimal")
    # once, when the tab is first opened (it imports torch and runs a model); the button re-runs it
    ctx.on_open(prove, inputs_kwargs=proof_inputs, outputs=proof, api_name=False, show_progress="hidden")
    _accumulation_prediction(controls, proof)


# ---------- Labs 3 and 4 · several short runs as one training job ----------

@dataclass(frozen=True)
class SeriesPlan:
    """A checked job, handed from its prepare step to run_series through a gr.State."""

    target: str  # "module:function" of the core.sweeps generator
    kwargs: dict
    kind: str  # what core.jobs calls it ("learning-rate sweep")
    run_dir: str


def _check_job(user_id, model_config, recipes: list) -> None:
    """The server's caps for the whole job (its steps added up), then the learner's disk quota."""
    from dataclasses import replace

    caps.check_minigpt(model_config, replace(recipes[0], steps=sum(r.steps for r in recipes)))
    quotas.check_room(user_id)


@shows_errors
def prepare_sweep(user_id, rates, steps) -> dict:
    """Check the sweep (rates, steps, caps, quota, no other job of this learner) and make its folder."""
    jobs.check_free(user_id)
    text = text_input.learner_text(text_input.BUILTIN, None, None)
    rates, model_config, recipes = sweeps.check_sweep(text, rates or [], int(steps))
    _check_job(user_id, model_config, recipes)
    run_dir = str(sessions.new_run_dir(user_id, "sweep"))
    kwargs = dict(text=text, learning_rates=rates, steps=int(steps), out_dir=run_dir)
    return {"plan": SeriesPlan("core.sweeps:learning_rate_sweep", kwargs, "learning-rate sweep", run_dir), "job": run_dir}


@shows_errors
def prepare_overfit(user_id, steps, train_chars, dropout) -> dict:
    jobs.check_free(user_id)
    text = text_input.learner_text(text_input.BUILTIN, None, None)
    sweeps.check_overfit(text, int(steps), int(train_chars), float(dropout))
    recipe = sweeps.overfit_recipe(int(steps), 0.1)
    _check_job(user_id, sweeps.overfit_shape(len(set(text)), float(dropout)), [recipe] * 3)
    run_dir = str(sessions.new_run_dir(user_id, "overfitting"))
    kwargs = dict(text=text, steps=int(steps), train_chars=int(train_chars), dropout=float(dropout), out_dir=run_dir)
    return {"plan": SeriesPlan("core.sweeps:overfitting_runs", kwargs, "overfitting runs", run_dir), "job": run_dir}


def busy() -> dict:
    return {"start_btn": gr.Button(RUNNING_LABEL, interactive=False), "stop_btn": gr.Button(STOP_LABEL, interactive=True)}


def idle() -> dict:
    return {"start_btn": gr.Button(START_LABEL, interactive=True), "stop_btn": gr.Button(STOP_LABEL, interactive=False),
            "plan": None, "job": None}


def request_stop(job) -> dict:
    return {"stop_btn": stop_button_after_press(job)}


@shows_errors
def run_series(user_id, plan: SeriesPlan | None, request: gr.Request | None = None, demo: gr.Blocks | None = None):
    """Generator: the checked job in a worker process (core.jobs), streaming its status, chart and table."""
    from pathlib import Path

    from lessons import watched

    if plan is None:
        raise learner_error("Press Run to start.")
    run_dir = Path(plan.run_dir)
    if stop_requests.withdrawn_before_start(run_dir):
        yield {"status": "Stopped before it started: nothing was trained."}
        return
    listening = watched(demo, request) if demo is not None else None
    try:
        for series in jobs.stream(plan.target, plan.kwargs, owner=user_id, kind=plan.kind, limits=caps.minigpt_limits(),
                                  stop_dir=run_dir, listening=listening):
            yield series_view(series)
    except jobs.JobError as err:
        saved = sweeps.read_series(run_dir)
        yield {**(series_view(saved) if saved else {}), "status": f"**The job ended early.** {err}"}
    finally:
        stop_requests.clear(run_dir)


def series_view(series: sweeps.Series) -> dict:
    if series.kind == "sweep":
        return {"status": _series_status(series), "chart": sweep_chart(series), "table": sweep_table(series)}
    return {"status": _series_status(series), "chart": overfit_chart(series), "table": overfit_table(series)}


def _series_status(series: sweeps.Series) -> str:
    line = series.status_line()
    size = f" · {series.num_params:,} parameters per model" if series.num_params else ""
    return f"**{line}**{size}" if series.done else line + size


def sweep_chart(series: sweeps.Series) -> Chart:
    fig = chart("Training loss at each learning rate", "step", "training loss (nats per character)", height=360)
    for i, run in enumerate(series.runs):
        if run.train_curve:
            steps, losses = zip(*run.train_curve)
            name = run.label + (" (diverged)" if run.diverged else "")
            fig.add("scatter", x=list(steps), y=list(losses), mode="lines", name=name,
                    line=dict(color=PALETTE[i % len(PALETTE)]), hovertemplate="step %{x}<br>loss %{y:.3f}<extra>"
                    + run.label + "</extra>")
    return fig.axes(x=dict(range=[0, series.steps]), y=dict(rangemode="tozero"))


def sweep_table(series: sweeps.Series) -> str:
    rows = [f"| {r.label} | {_loss(r.final_loss)} | {_loss(r.final_val_loss)} | {v} |"
            for r, v in zip(series.runs, sweeps.verdicts(series))]
    return "| learning rate | final train loss | validation loss | the curve says |\n|---|---|---|---|\n" + "\n".join(rows)


def overfit_chart(series: sweeps.Series) -> Chart:
    fig = chart("Training (solid) vs validation (dashed) loss", "step", "loss (nats per character)", height=360)
    for i, run in enumerate(series.runs):
        colour = [TRAIN, VALIDATION, PALETTE[2]][i % 3]
        for curve, kind, dash in ((run.train_curve, "train", "solid"), (run.val_curve, "validation", "dash")):
            if curve:
                steps, losses = zip(*curve)
                fig.add("scatter", x=list(steps), y=list(losses), mode="lines", name=f"{run.label}: {kind}",
                        line=dict(color=colour, dash=dash), hovertemplate="step %{x}<br>" + kind
                        + " loss %{y:.3f}<extra>" + run.label + "</extra>")
    return fig.axes(x=dict(range=[0, series.steps]), y=dict(rangemode="tozero"))


def overfit_table(series: sweeps.Series) -> str:
    rows = []
    for run, gap in zip(series.runs, sweeps.generalisation_gaps(series)):
        best = min((loss for _, loss in run.val_curve), default=None)
        rows.append(f"| {run.label} | {_loss(run.final_loss)} | {_loss(run.final_val_loss)} | {_loss(best)} | "
                    f"{_loss(gap)} |")
    return ("| run | final train loss | final validation loss | best validation loss | gap (val − train) |\n"
            "|---|---|---|---|---|\n" + "\n".join(rows))


def _loss(value) -> str:
    return "–" if value is None else f"{value:.3f}"


@shows_errors
def show_last(user_id, kind: str) -> dict:
    """After a reload: the learner's newest series of this kind, whole; before any, what pressing Run does."""
    saved = sweeps.latest_series(sessions.user_dir(user_id), kind) if sessions.is_valid_user_id(user_id) else None
    if saved is not None:
        return series_view(saved)
    what = "a sweep" if kind == "sweep" else "the three runs"
    example = sweeps.shipped_series(kind)
    if example is not None:  # no empty chart on first open: the same runs at the defaults, made before shipping
        return {**series_view(example), "status": f"**An example, shipped with the app**: these defaults, trained by "
                f"`python -m core sweep --kind {kind}`. Press **Run** to train {what} "
                "yourself (the same seed gives these curves again; change a setting to see what it does)."}
    empty = chart("Press Run to train " + what, "step", "loss (nats per character)", height=360)
    return {"status": f"Press **Run** to train {what} (one job: it waits for a free training slot like tab 4's).",
            "chart": empty, "table": ""}


def _job_view(prefix: str) -> dict:
    status = markdown("", elem_id=f"{prefix}-status")
    plot = gr.Plot(show_label=False, elem_id=f"{prefix}-chart")
    table = markdown("", elem_id=f"{prefix}-table")
    return {"status": status, "chart": plot, "table": table}


def _job_buttons(prefix: str) -> dict:
    with gr.Row():
        start = gr.Button(START_LABEL, variant="primary", elem_id=f"{prefix}-run")
        stop = gr.Button(STOP_LABEL, variant="stop", interactive=False, elem_id=f"{prefix}-stop")
    return {"start_btn": start, "stop_btn": stop}


def _wire_job(ctx: LessonContext, prepare, form: dict, view: dict, buttons: dict, kind: str):
    """Check (outputs: two states, so a refused start badges nothing) → busy → the job → idle; Stop; reload.
    Returns the last step of a started job (after idle), for what must follow a finished run."""
    plan, job = gr.State(None), gr.State(None)
    states = {"plan": plan, "job": job}
    start = buttons["start_btn"].click(**named_event(prepare, {**form, "user_id": ctx.user_id}, states), api_name=False)
    ended = start.success(**named_event(busy, outputs=buttons), api_name=False, show_progress="hidden").success(
        **named_event(functools.partial(run_series, demo=ctx.demo), {"user_id": ctx.user_id, "plan": plan}, view),
        api_name=False, show_progress="minimal", concurrency_limit=threads.training_slots(),
        concurrency_id=threads.TRAINING_CONCURRENCY_ID,
    ).then(**named_event(idle, outputs={**buttons, **states}), api_name=False, show_progress="hidden")
    buttons["stop_btn"].click(**named_event(request_stop, {"job": job}, {"stop_btn": buttons["stop_btn"]}),
                              api_name=False, show_progress="hidden", queue=False)
    ctx.on_open(**named_event(functools.partial(show_last, kind=kind), {"user_id": ctx.user_id}, view), api_name=False)
    return ended


# the sweep prediction: a sweep the shipped example does not show (it needs a run: the reveal never trains)
ASKED_RATES, ASKED_SWEEP_STEPS = (1e-3, 3e-3, 1e-2, 3e-2), 300
SWEEP_CHOICES = [f"{r:g}" for r in ASKED_RATES]


@dataclass(frozen=True)
class SweepGuess:
    """A locked-in sweep prediction waiting for its run: the rate guessed, and the sweep it is about."""

    rate: float
    rates: tuple = ASKED_RATES
    steps: int = ASKED_SWEEP_STEPS


def sweep_verdict(pending: SweepGuess | None, series: sweeps.Series | None) -> str | None:
    """The verdict once `series` is the finished sweep the guess is about; None while it is not."""
    if pending is None or series is None or series.kind != "sweep" or series.steps != pending.steps \
            or tuple(sorted(r.learning_rate for r in series.runs)) != tuple(sorted(pending.rates)):
        return None
    best = sweeps.lowest_rate(series)
    if best is None:  # stopped, or a run unfinished
        return None
    figures = ", ".join(f"{r.label} → {_loss(r.final_loss)}" + (" (diverged)" if r.diverged else "") for r in series.runs)
    reason = (f"after {series.steps} steps: {figures}. A rate too low is still descending when the run ends; one "
              "too high overshoots and stalls higher (or diverges). The best sits between, often close to the "
              "largest rate that still trains smoothly, and near it the differences are small.")
    return Q.compare_choice(f"{pending.rate:g}", f"{best:g}", reason)


@shows_errors
def predict_sweep(guess, user_id) -> dict:
    """Lock in the sweep prediction. If this learner has already run the asked sweep, the verdict at once;
    else the asked rates and steps are set and the guess waits (pending) for the Run to finish."""
    Q.require_pick(guess)
    if guess not in SWEEP_CHOICES:
        raise learner_error(f"Pick one of the sweep's rates: {', '.join(SWEEP_CHOICES)}.")
    pending = SweepGuess(float(guess))
    mine = sweeps.latest_series(sessions.user_dir(user_id), "sweep") if sessions.is_valid_user_id(user_id) else None
    verdict = sweep_verdict(pending, mine)
    if verdict is not None:
        return {"feedback": verdict, "pending": None}
    return {"feedback": (f"**Locked in: lr {pending.rate:g}.** The rates and steps are set: press **Run** (it trains "
                         f"{len(pending.rates)} models; the status line gives the ETA). The verdict appears here when "
                         "the sweep ends."),
            "pending": pending, "rates": list(pending.rates), "steps": pending.steps}


@shows_errors
def sweep_finished(pending: SweepGuess | None, user_id) -> dict:
    """After a sweep: the waiting guess's verdict if the run was the one it is about; else it keeps waiting."""
    if pending is None:  # nothing locked in: nothing changes
        return {}
    verdict = sweep_verdict(pending, sweeps.latest_series(sessions.user_dir(user_id), "sweep"))
    if verdict is None:
        return {"feedback": (f"**Still waiting: lr {pending.rate:g}.** That sweep was not the predicted one (or did not "
                             f"finish): tick {', '.join(f'{r:g}' for r in pending.rates)}, {pending.steps} steps, "
                             "and press **Run**.")}
    return {"feedback": verdict, "pending": None}


def _sweep_prediction(ctx: LessonContext, form: dict, ended) -> None:
    box = prediction(f"sweep {', '.join(f'{r:g}' for r in ASKED_RATES)} for {ASKED_SWEEP_STEPS} steps each: which "
                     "rate will end with the lowest training loss?", choices=SWEEP_CHOICES,
                     elem_id="predict-sweep")
    pending = gr.State(None)
    box.reveal(named_event(predict_sweep, inputs={"guess": box.guess, "user_id": ctx.user_id},
                           outputs={"feedback": box.feedback, "pending": pending, **form}))
    ended.then(**named_event(sweep_finished, {"pending": pending, "user_id": ctx.user_id},
                             {"feedback": box.feedback, "pending": pending}), api_name=False, show_progress="hidden")


def _sweep_lab(ctx: LessonContext) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            form = {"rates": gr.CheckboxGroup([(f"{r:g}", r) for r in sweeps.SWEEP_RATES], value=DEFAULT_RATES,
                                              label="Learning rates (2 to 6)", elem_id="sweep-rates"),
                    "steps": gr.Slider(*sweeps.LIMITS["sweep_steps"], value=DEFAULT_SWEEP_STEPS, step=10,
                                       label="Steps per run", elem_id="sweep-steps")}
            buttons = _job_buttons("sweep")
            markdown("Each run: a 2-layer MiniGPT, 64 wide, context 64, batch 16, AdamW with warmup + cosine "
                     "and clipping at 1.0, the same seed and batches: only the learning rate differs.")
        with gr.Column(scale=3):
            view = _job_view("sweep")
    _sweep_prediction(ctx, form, _wire_job(ctx, prepare_sweep, form, view, buttons, "sweep"))


@shows_errors
def predict_passes(guess, steps, train_chars) -> dict:
    """Reveal of the overfitting lab's prediction: how many times the first run sees each training character."""
    Q.parse_guess(guess)
    p = sweeps.passes_over_text(int(steps), int(train_chars))
    reason = (f"{int(steps)} steps × {p['batch_size']} windows × {p['context']} characters = {p['predicted']:,} "
              f"predictions, over a text of {int(train_chars):,} characters. Pre-training sees most text about once "
              "and fine-tuning 1 to 3 times; this many passes let a 0.8M-parameter model learn the text by heart, "
              "so its training loss falls far below the validation loss.")
    return {"feedback": Q.compare_guess(guess, p["passes"], reason, unit="passes", digits=4)}


def _overfit_lab(ctx: LessonContext) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            form = {"train_chars": gr.Slider(*sweeps.LIMITS["train_chars"], value=sweeps.DEFAULT_TRAIN_CHARS, step=500,
                                             label="Characters to train on", elem_id="overfit-chars"),
                    "dropout": gr.Slider(0.05, sweeps.LIMITS["dropout"][1], value=sweeps.DEFAULT_DROPOUT, step=0.05,
                                         label="Dropout of the second run"),
                    "steps": gr.Slider(*sweeps.LIMITS["overfit_steps"], value=DEFAULT_OVERFIT_STEPS, step=50,
                                       label="Steps per run", elem_id="overfit-steps")}
            buttons = _job_buttons("overfit")
            markdown(f"Three runs of a 4-layer MiniGPT, 128 wide (~0.8M parameters), all validated on the same "
                     f"last {sweeps.HELD_OUT_CHARS:,} characters of the built-in corpus: on the small text as is, "
                     "with dropout, and on 4× more text.")
        with gr.Column(scale=3):
            view = _job_view("overfit")
    _wire_job(ctx, prepare_overfit, form, view, buttons, "overfitting")
    box = prediction("with the steps and characters set on the left, how many times will the first run see each "
                     "of its training characters (passes over the text, or epochs)?", unit="passes",
                     elem_id="predict-passes")
    box.reveal(named_event(predict_passes, inputs={"guess": box.guess, "steps": form["steps"],
                                                   "train_chars": form["train_chars"]},
                           outputs={"feedback": box.feedback}))


# ---------- the reference table ----------

def reference_table() -> str:
    from core import hyperparameters

    return hyperparameters.reference_markdown()


def build(ctx: LessonContext) -> None:
    lesson_text("part08_key_concepts", open=False)
    with gr.Accordion("Lab 1 · Learning-rate schedules", open=True):
        _schedule_lab()
        try_this("Set the warmup to 0 and the peak to 0.02: that is the first step a random model takes at full size.",
                 "Compare cosine and warmup-stable-decay at the halfway step: WSD is still at the peak, cosine has "
                 f"fallen to {schedules.factor('cosine', 240, 480, 30, min_lr_ratio=0.1):.0%} of it (see the table). WSD lets you stop or extend a run from the flat part.",
                 "Untick everything but cosine: the dotted MiniGPT curve lies on it, one warmup step ahead.")
    with gr.Accordion("Lab 2 · Batch, context and gradient accumulation", open=True):
        _accumulation_lab(ctx)
        try_this("Set accumulation to 1: the two ways are the same computation, and the difference is exactly 0.",
                 "Raise accumulation to 16 with a micro-batch of 4: 64 sequences per step from the memory of 4.")
    with gr.Accordion("Lab 3 · Learning-rate sweep", open=True):
        _sweep_lab(ctx)
        try_this("Run the default sweep: after 150 steps 1e-4 is still far above the others, 1e-3 and 1e-2 end "
                 "close together, and 0.03 and 0.1 stall higher.",
                 "Tick only 3e-3 and 1e-2 with 400 steps: near the best rate, the difference is small.")
    with gr.Accordion("Lab 4 · Overfitting made visible", open=True):
        _overfit_lab(ctx)
        try_this("Predict first: which of the three runs ends with the largest gap between validation and "
                 "training loss, and which with the smallest? Then run them and read the table.",
                 "Watch the first run's dashed curve: it is lowest early (around step 50 with the defaults) and then "
                 "climbs while the training loss keeps falling. That turn is where training should have stopped.",
                 "Run with 1,000 characters, then with 7,000: compare the gaps, and where each validation curve is lowest.")
    with gr.Accordion("Reference · typical values, and what goes wrong", open=True):
        table = markdown("", elem_id="hyper-table")
    ctx.on_open(reference_table, outputs=table, api_name=False, show_progress="hidden")
    end_of_tab_check("part08")

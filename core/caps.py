"""Per-job caps a teacher sets from the environment, with class defaults that fit a 16 GB Space.

The sliders alone allow a MiniGPT of 14M parameters at batch 256 x context 256 for 20,000 steps:
~50-67 hours and 6-10 GB for one learner. A class server needs a ceiling per job, checked before the
job starts (a clear message naming the cap and the variable that raises it) and enforced while it
runs (core.jobs.Limits: wall clock and memory).

    caps.check_minigpt(model_config, train_config)   # ValueError if over a cap
    limits = caps.minigpt_limits()                    # jobs.Limits for core.jobs.stream

Defaults, for two trainings at once on a 16 GB / 2-vCPU machine next to ~30 learners' quick labs:
  PLAYGROUND_MAX_STEPS=5000          MiniGPT steps per run (the "adamw" preset uses 2000)
  PLAYGROUND_MAX_MINUTES=20          wall-clock minutes per run, then it stops and saves
  PLAYGROUND_MAX_STEP_WORK=2e10      parameters x batch x context per step (the default preset: 2.6e9)
  PLAYGROUND_MAX_JOB_MB=2500         memory per MiniGPT job: the estimate + torch's ~400 MB must fit
  PLAYGROUND_MAX_LORA_STEPS=300      LoRA steps per run
  PLAYGROUND_MAX_LORA_MB=4000        memory per LoRA job (SmolLM2-135M peaks near 2.7 GB)
Every value is read when a job starts (nothing cached), so a test or a restart sees the new value.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

# torch, the interpreter and the data in a training child before the model's own tensors
TORCH_OVERHEAD_MB = 400

DEFAULTS = {
    "PLAYGROUND_MAX_STEPS": 5000,
    "PLAYGROUND_MAX_MINUTES": 20,
    "PLAYGROUND_MAX_STEP_WORK": 2e10,
    "PLAYGROUND_MAX_JOB_MB": 2500,
    "PLAYGROUND_MAX_LORA_STEPS": 300,
    "PLAYGROUND_MAX_LORA_MB": 4000,
}


def _read(name: str) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return float(DEFAULTS[name])
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number (ask the teacher to fix the server's setting).") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={raw!r} must be a positive number (ask the teacher to fix the server's setting).")
    return value


@dataclass(frozen=True)
class Caps:
    max_steps: int
    max_minutes: float
    max_step_work: float
    max_job_mb: int
    max_lora_steps: int
    max_lora_mb: int

    @classmethod
    def from_env(cls) -> "Caps":
        return cls(max_steps=int(_read("PLAYGROUND_MAX_STEPS")), max_minutes=_read("PLAYGROUND_MAX_MINUTES"),
                   max_step_work=_read("PLAYGROUND_MAX_STEP_WORK"), max_job_mb=int(_read("PLAYGROUND_MAX_JOB_MB")),
                   max_lora_steps=int(_read("PLAYGROUND_MAX_LORA_STEPS")), max_lora_mb=int(_read("PLAYGROUND_MAX_LORA_MB")))


def _over(what: str, value: str, cap: str, env: str) -> ValueError:
    return ValueError(f"{what} is {value}, over this server's cap of {cap}. Choose less, or ask the teacher "
                      f"to raise {env}.")


def check_minigpt(model_config, train_config, caps: Caps | None = None) -> None:
    """ValueError if a MiniGPT run would exceed a cap: steps, work per step, or estimated memory."""
    caps = caps or Caps.from_env()
    if train_config.steps > caps.max_steps:
        raise _over("The number of steps", f"{train_config.steps:,}", f"{caps.max_steps:,}", "PLAYGROUND_MAX_STEPS")
    params = model_config.num_params()
    work = params * train_config.batch_size * model_config.block_size
    if work > caps.max_step_work:
        raise _over(f"Parameters x batch x context ({params:,} x {train_config.batch_size} x {model_config.block_size})",
                    f"{work:.2g}", f"{caps.max_step_work:.2g}", "PLAYGROUND_MAX_STEP_WORK")
    estimate_mb = model_config.memory_estimate(train_config.batch_size, train_config.optimizer)["total"] / 2**20
    if estimate_mb + TORCH_OVERHEAD_MB > caps.max_job_mb:
        raise _over("The estimated training memory (with PyTorch itself)", f"{estimate_mb + TORCH_OVERHEAD_MB:,.0f} MB",
                    f"{caps.max_job_mb:,} MB", "PLAYGROUND_MAX_JOB_MB")


def check_lora(settings, n_examples: int | None = None, caps: Caps | None = None) -> None:
    """ValueError if a LoRA run would take more steps than the cap (epochs count with `n_examples`)."""
    caps = caps or Caps.from_env()
    steps = settings.max_steps
    if settings.epochs > 0 and n_examples:
        per_step = settings.batch_size * settings.grad_accum
        steps = math.ceil(settings.epochs * math.ceil(n_examples / per_step))
    if steps > caps.max_lora_steps:
        raise _over("The number of LoRA steps", f"{steps:,}", f"{caps.max_lora_steps:,}", "PLAYGROUND_MAX_LORA_STEPS")


def minigpt_limits(caps: Caps | None = None):
    """The running limits of a MiniGPT job (core.jobs.Limits): memory, wall clock, and the torch threads
    core.threads gives each of the training slots (so the jobs that may run at once never oversubscribe)."""
    from core import jobs, threads

    caps = caps or Caps.from_env()
    return jobs.Limits(memory_mb=caps.max_job_mb, wall_s=caps.max_minutes * 60, threads=threads.default_threads())


def lora_limits(caps: Caps | None = None):
    from core import jobs, threads

    caps = caps or Caps.from_env()
    return jobs.Limits(memory_mb=caps.max_lora_mb, wall_s=caps.max_minutes * 60, threads=threads.default_threads())


def describe(caps: Caps | None = None) -> str:
    """One line for the teacher's view and the README: the caps in force."""
    caps = caps or Caps.from_env()
    return (f"MiniGPT: {caps.max_steps:,} steps, {caps.max_step_work:.2g} params x batch x context, "
            f"{caps.max_job_mb:,} MB; LoRA: {caps.max_lora_steps:,} steps, {caps.max_lora_mb:,} MB; "
            f"{caps.max_minutes:g} min per run")


def check_dpo(settings, caps: Caps | None = None) -> None:
    """ValueError if a DPO run (core.finetune.dpo.DPOSettings) would take more steps than the LoRA cap:
    a DPO step on the pocket model costs about what a LoRA step does (two models' forward passes, one backward)."""
    caps = caps or Caps.from_env()
    if settings.max_steps > caps.max_lora_steps:
        raise _over("The number of DPO steps", f"{settings.max_steps:,}", f"{caps.max_lora_steps:,}", "PLAYGROUND_MAX_LORA_STEPS")

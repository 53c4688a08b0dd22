"""Learning-rate schedules: the learning rate at every optimizer step, as one plain function.

    learning_rate("cosine", step=100, total_steps=1000, peak_lr=3e-4, warmup_steps=50)

`learning_rate(name, ...)` equals, step by step, what transformers' `get_scheduler(name, optimizer,
num_warmup_steps, num_training_steps, scheduler_specific_kwargs)` sets on an optimizer whose learning
rate is `peak_lr` (tests/core/test_schedules.py checks it) for the names

- "constant_with_warmup": linear warmup from 0, then the peak for ever;
- "linear": linear warmup, then a straight line down to 0 at total_steps;
- "cosine": linear warmup, then half a cosine down to peak * min_lr_ratio at total_steps (option
  `min_lr_ratio`, default 0; transformers calls the variant with a floor "cosine_with_min_lr" and its
  option `min_lr_rate`);
- "warmup_stable_decay" (WSD): warmup, a long flat stretch at the peak, then a short decay over the last
  `decay_steps` steps (option; default a fifth of the run) to peak * min_lr_ratio, along `decay_type`
  "cosine" (default), "linear" or "1-sqrt". It lets a run be extended from the flat part, and is what
  several recent open models were trained with (MiniCPM, SmolLM2, DeepSeek).

plus "step" (not a transformers name; torch's `StepLR` after the warmup): the peak multiplied by
`gamma` (default 0.1) every `step_size` steps (default a third of what follows the warmup).

Why warmup at all: Adam divides by a running average of squared gradients that starts from few samples,
and random weights give large, badly aimed gradients; full-size steps then can throw the model far off.

The MiniGPT trainer (core.minigpt.train) uses "cosine" through `trainer_learning_rate`: the same schedule,
except that warmup step s trains at the rate of step s + 1 (a first step at learning rate 0 would teach
nothing).
"""
from __future__ import annotations

import math

SCHEDULES = ("constant_with_warmup", "linear", "cosine", "warmup_stable_decay", "step")
LABELS = {"constant_with_warmup": "constant (after warmup)", "linear": "linear decay", "cosine": "cosine",
          "warmup_stable_decay": "warmup-stable-decay", "step": "step (÷10 at intervals)"}
DECAY_TYPES = ("cosine", "linear", "1-sqrt")
MAX_STEPS = 1_000_000  # a plot of more steps than this is not a lesson any more
OPTIONS = {"constant_with_warmup": (), "linear": (), "cosine": ("min_lr_ratio",),
           "warmup_stable_decay": ("decay_steps", "decay_type", "min_lr_ratio"), "step": ("step_size", "gamma")}


def _check(name: str, step: int, total_steps: int, peak_lr: float, warmup_steps: int, options: dict) -> None:
    if name not in SCHEDULES:
        raise ValueError(f"Unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}.")
    unknown = set(options) - set(OPTIONS[name])
    if unknown:
        raise ValueError(f"The {name} schedule has no option {sorted(unknown)[0]!r} "
                         f"(it takes {', '.join(OPTIONS[name]) or 'none'}).")
    if not 1 <= total_steps <= MAX_STEPS:
        raise ValueError(f"The total number of steps must be from 1 to {MAX_STEPS:,}, not {total_steps}.")
    if not 0 <= warmup_steps <= MAX_STEPS:  # longer than the run is allowed (as in transformers): it never ends
        raise ValueError(f"The warmup must be from 0 to {MAX_STEPS:,} steps, not {warmup_steps}.")
    if not 0 <= step <= total_steps:
        raise ValueError(f"Step {step} is outside the run (0 to {total_steps}).")
    if not (math.isfinite(peak_lr) and peak_lr > 0):
        raise ValueError(f"The peak learning rate must be a positive number, not {peak_lr}.")
    ratio = options.get("min_lr_ratio", 0.0)
    if not 0 <= ratio <= 1:
        raise ValueError(f"min_lr_ratio must be from 0 to 1 (a fraction of the peak), not {ratio}.")


def _warmup(step: int, warmup_steps: int) -> float:
    return step / max(1, warmup_steps)


def _cosine(progress: float, floor: float) -> float:
    """Half a cosine from 1 (progress 0) to `floor` (progress 1)."""
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def _wsd(step: int, total: int, warmup: int, decay_steps: int | None, decay_type: str, floor: float) -> float:
    decay_steps = max(1, round(total / 5)) if decay_steps is None else int(decay_steps)
    if not 1 <= decay_steps <= total - warmup:
        raise ValueError(f"The decay ({decay_steps} steps) must fit after the warmup: 1 to {total - warmup} steps.")
    if decay_type not in DECAY_TYPES:
        raise ValueError(f"Unknown decay type {decay_type!r}; choose one of {', '.join(DECAY_TYPES)}.")
    if step < warmup:  # transformers' WSD warms up from the floor, not from 0
        return floor + (1 - floor) * _warmup(step, warmup)
    decay_start = total - decay_steps
    if step < decay_start:
        return 1.0
    progress = (step - decay_start) / decay_steps
    shape = {"cosine": 0.5 * (1 + math.cos(math.pi * progress)), "linear": 1 - progress,
             "1-sqrt": 1 - math.sqrt(progress)}[decay_type]
    return floor + (1 - floor) * shape


def _step_decay(step: int, total: int, warmup: int, step_size: int | None, gamma: float) -> float:
    step_size = max(1, (total - warmup) // 3) if step_size is None else int(step_size)
    if step_size < 1:
        raise ValueError(f"step_size must be at least 1 step, not {step_size}.")
    if not 0 < gamma <= 1:
        raise ValueError(f"gamma must be in (0, 1]: the factor applied at every drop, not {gamma}.")
    if step < warmup:
        return _warmup(step, warmup)
    return gamma ** ((step - warmup) // step_size)


def factor(name: str, step: int, total_steps: int, warmup_steps: int = 0, **options) -> float:
    """The learning rate at `step` as a fraction of the peak (what torch's LambdaLR multiplies by)."""
    _check(name, step, total_steps, 1.0, warmup_steps, options)
    floor = float(options.get("min_lr_ratio", 0.0))
    if name == "warmup_stable_decay":
        return _wsd(step, total_steps, warmup_steps, options.get("decay_steps"), options.get("decay_type", "cosine"), floor)
    if name == "step":
        return _step_decay(step, total_steps, warmup_steps, options.get("step_size"), float(options.get("gamma", 0.1)))
    if step < warmup_steps:
        return _warmup(step, warmup_steps)
    if name == "constant_with_warmup":
        return 1.0
    if name == "linear":  # written as transformers does, so a warmup as long as the run ends the same way
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return _cosine((step - warmup_steps) / max(1, total_steps - warmup_steps), floor)


def learning_rate(name: str, step: int, total_steps: int, peak_lr: float, warmup_steps: int = 0, **options) -> float:
    """The learning rate of schedule `name` at optimizer step `step` (0 = the first step) of `total_steps`."""
    _check(name, step, total_steps, peak_lr, warmup_steps, options)
    return peak_lr * factor(name, step, total_steps, warmup_steps, **options)


def trainer_learning_rate(name: str, step: int, total_steps: int, peak_lr: float, warmup_steps: int = 0,
                          **options) -> float:
    """The rate MiniGPT's trainer uses at its step `step` (0-based): the schedule's, except that a warmup step
    takes the rate of the step after it, so the first step already learns (peak / warmup instead of 0)."""
    return learning_rate(name, step + 1 if step < warmup_steps else step, total_steps, peak_lr, warmup_steps, **options)


def curve(name: str, total_steps: int, peak_lr: float, warmup_steps: int = 0, trainer: bool = False,
          **options) -> tuple[list[int], list[float]]:
    """Steps 0..total_steps - 1 (every optimizer step of the run) and their learning rates."""
    rate = trainer_learning_rate if trainer else learning_rate
    steps = list(range(total_steps))
    return steps, [rate(name, s, total_steps, peak_lr, warmup_steps, **options) for s in steps]

"""Class throughput: N learners press Train (default preset, a short run) at once on the running app.

    python bench/class_train.py [--students 30] [--steps 40] [--port 7861]

Starts `app.py` on 127.0.0.1:--port with a fresh runs folder (and stops it at the end). First one lone
MiniGPT job with 2 torch threads runs in this process's own worker (core.jobs, the app idle): its
tokens/s is the reference. Then each learner, in a session of its own, does what the browser does
after a page load and a click on Train: the preset's `input` event (the default preset's values come
back), then Train's chain as Gradio's client runs it (the check step, the busy buttons, the training
stream: `POST /gradio_api/queue/join` + the session's SSE stream, dependencies followed through their
`trigger_after`). `--steps` replaces only the run length (the steps slider), so every run is the default
preset's recipe scaled to that length.

Prints the time until the last job finished, the class's summed throughput (tokens trained / that time),
the mean tokens/s each job reported, the lone job's tokens/s (while training, and over its wall time: the
class's throughput is compared with the latter, as both include each job's start, evaluations and saves),
and, from /proc/stat and os.getloadavg() sampled every 0.5 s, whether the CPU was ever idle while jobs
waited and whether training slots x threads per job exceeds the cores (oversubscription). Do not run it at full size on a shared machine.
"""
from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import class_load  # noqa: E402  (the queue protocol client)

TOKENS_PER_S = re.compile(r"([\d,]+) tokens/s")


@dataclass
class Learner:
    started: float | None = None  # first progress message of its training
    finished: float | None = None
    tokens_per_s: float | None = None
    error: str | None = None


@dataclass
class CpuSamples:
    busy: list[float] = field(default_factory=list)  # fraction of all cores busy over each interval
    load: list[float] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)  # learners whose training had not started yet


def cpu_times() -> tuple[float, float]:
    with open("/proc/stat", encoding="ascii") as f:
        values = [float(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values), idle


def sample_cpu(stop: threading.Event, learners: list[Learner], out: CpuSamples) -> None:
    total0, idle0 = cpu_times()
    while not stop.wait(0.5):
        total1, idle1 = cpu_times()
        if total1 > total0:
            out.busy.append(1 - (idle1 - idle0) / (total1 - total0))
            out.load.append(os.getloadavg()[0])
            out.waiting.append(sum(1 for lr in learners if lr.started is None and lr.error is None))
        total0, idle0 = total1, idle1


def chain(config: dict, first: int) -> list[dict]:
    """The dependency `first` and those Gradio's client runs after it (trigger_after), in order."""
    deps = {d["id"]: d for d in config["dependencies"]}
    out = [deps[first]]
    while True:
        nxt = [d for d in config["dependencies"] if d.get("trigger_after") == out[-1]["id"]]
        if not nxt:
            return out
        out.append(nxt[0])


def preset_dep(config: dict) -> dict:
    """Tab 4's preset radio `input` event: the browser's way to get the preset's hyperparameters."""
    components = {c["id"]: c for c in config["components"]}
    for dep in config["dependencies"]:
        for target, event in dep["targets"]:
            comp = components.get(target, {})
            if event == "input" and comp.get("type") == "radio" and comp["props"].get("label") == "Preset":
                return dep
    raise SystemExit("tab 4's preset radio was not found")


def value_of(output):
    return output.get("value") if isinstance(output, dict) and "__type__" in output else output


def train_inputs(port: int, config: dict, session: str, user_id: str, steps: int) -> list:
    """Train's inputs as the browser holds them after the default preset filled the sliders."""
    components = {c["id"]: c for c in config["components"]}
    preset = preset_dep(config)
    data = [class_load.input_value(components[i], None, user_id, moved=False) for i in preset["inputs"]]
    event = class_load.join(port, preset["id"], data, session, preset["targets"][0][0])
    filled = class_load.read_until_completed(port, session, event, time.monotonic() + 120)["output"]["data"]
    values = {cid: value_of(v) for cid, v in zip(preset["outputs"], filled)}
    train = class_load.find_training(config)
    inputs = []
    for comp in train.inputs:
        value = values.get(comp["id"], class_load.input_value(comp, None, user_id, moved=False))
        if comp["type"] == "slider" and comp["props"].get("label") == "Training steps":
            value = steps
        inputs.append(value)
    return inputs


def learner(port: int, config: dict, steps: int, go: threading.Event, me: Learner) -> None:
    session, user_id = secrets.token_hex(6), secrets.token_hex(16)
    components = {c["id"]: c for c in config["components"]}
    try:
        data = train_inputs(port, config, session, user_id, steps)
        go.wait()
        train = class_load.find_training(config)
        for dep in chain(config, train.fn_index):
            inputs = data if dep["id"] == train.fn_index else [
                class_load.input_value(components[i], None, user_id, moved=False) for i in dep["inputs"]]
            _run_event(port, dep, inputs, session, train.trigger, me)
    except (OSError, RuntimeError, TimeoutError, ValueError) as err:
        me.error = f"{type(err).__name__}: {err}"[:300]


class _Marks(list):
    """The stream's message kinds; the first streamed progress marks when the learner's training started."""

    def __init__(self, me: Learner) -> None:
        super().__init__()
        self.me = me

    def append(self, msg) -> None:
        if msg == "process_generating" and self.me.started is None:
            self.me.started = time.monotonic()
        super().append(msg)


def _run_event(port: int, dep: dict, inputs: list, session: str, trigger: int, me: Learner) -> None:
    event = class_load.join(port, dep["id"], inputs, session, trigger)
    message = class_load.read_until_completed(port, session, event, time.monotonic() + 3600, seen=_Marks(me))
    if not message.get("success"):
        raise RuntimeError(f"{dep.get('api_name') or dep['id']}: {(message.get('output') or {}).get('error')}")
    text = " ".join(str(value_of(v)) for v in (message.get("output") or {}).get("data", []))
    found = TOKENS_PER_S.findall(text)
    if found and "done" in text:
        me.tokens_per_s, me.finished = float(found[-1].replace(",", "")), time.monotonic()


def lone_job(steps: int) -> tuple[float, float]:
    """One default-preset job of the same length, 2 torch threads, in a worker of this process: the
    tokens/s it reports (training steps only) and its wall time from submit to its end (also the worker's
    start, the evaluations, samples and saves that every learner's job does too)."""
    from core import jobs, text_input
    from core.minigpt import train

    model, cfg = train.preset("default")
    cfg = cfg.with_steps(steps)
    last, start = None, time.monotonic()
    for last in jobs.stream("core.minigpt.train:train", dict(text=text_input.learner_text(text_input.BUILTIN),
                                                               model_config=model, cfg=cfg),
                            owner="bench-lone", limits=jobs.Limits(threads=2, nice=0)):
        pass
    return last.tokens_per_s, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--port", type=int, default=7861)
    args = parser.parse_args()
    from core import threads
    from core.minigpt import train

    model, cfg = train.preset("default")
    os.environ.setdefault("PLAYGROUND_RUNS_DIR", tempfile.mkdtemp(prefix="class-train-runs-"))
    lone_rate, lone_wall = lone_job(args.steps)
    lone = args.steps * model.block_size * cfg.batch_size / lone_wall  # tokens per wall second, as the class's
    print(f"lone job, 2 threads, app idle: {lone_rate:,.0f} tokens/s while training; {lone_wall:.1f} s from submit "
          f"to end = {lone:,.0f} tokens/s of wall time")
    slots, per_job, cores = threads.training_slots(), threads.default_threads(), threads.cpu_count()
    app = class_load.ensure_app(args.port)
    try:
        config = class_load.get_json(args.port, "/config")
        learners, go = [Learner() for _ in range(args.students)], threading.Event()
        workers = [threading.Thread(target=learner, args=(args.port, config, args.steps, go, lr), daemon=True)
                   for lr in learners]
        for w in workers:
            w.start()
        time.sleep(2 + 0.1 * args.students)  # every learner has its preset values: now they all press Train
        stop, samples = threading.Event(), CpuSamples()
        sampler = threading.Thread(target=sample_cpu, args=(stop, learners, samples), daemon=True)
        start = time.monotonic()
        sampler.start()
        go.set()
        for w in workers:
            w.join(3600)
        stop.set()
        report(learners, start, samples, args, lone, (slots, per_job, cores), model.block_size * cfg.batch_size)
    finally:
        if app is not None:
            app.terminate()
            app.wait(30)


def report(learners, start, samples: CpuSamples, args, lone: float, shape: tuple, tokens_per_step: int) -> None:
    slots, per_job, cores = shape
    done = [lr for lr in learners if lr.finished is not None]
    errors = [lr.error for lr in learners if lr.error]
    makespan = max(lr.finished for lr in done) - start if done else float("nan")
    total_tokens = len(done) * args.steps * tokens_per_step
    print(f"{args.students} learners x default preset, {args.steps} steps: {len(done)} finished, {len(errors)} failed")
    for e in errors[:3]:
        print("  error:", e)
    print(f"time until the last job finished: {makespan:,.1f} s")
    print(f"class throughput ≈ {total_tokens / makespan:,.0f} tokens/s (tokens trained / that time); "
          f"jobs reported {statistics.mean(lr.tokens_per_s for lr in done):,.0f} tokens/s each on average"
          if done else "no job finished")
    if done:
        print(f"lone 2-thread job, wall time: {lone:,.0f} tokens/s -> the class gets {total_tokens / makespan / lone:.2f}x "
              f"of it (1.00 = the class costs what its jobs alone one after another would); the lone job alone for all "
              f"{len(done)}: {len(done) * args.steps * tokens_per_step / lone:,.0f} s")
    print(f"training slots {slots} x {per_job} threads per job = {slots * per_job} on {cores} cores: "
          f"{'oversubscribed' if slots * per_job > cores else 'not oversubscribed'}")
    waiting = [b for b, w in zip(samples.busy, samples.waiting) if w > 0]
    if waiting:
        print(f"CPU while jobs waited ({len(waiting)} samples of 0.5 s): busy mean {statistics.mean(waiting):.0%}, "
              f"min {min(waiting):.0%}; idle (< 50% busy) in {sum(b < 0.5 for b in waiting)} samples")
    if samples.load:
        print(f"load average (1 min): max {max(samples.load):.1f} on {cores} cores")


if __name__ == "__main__":
    main()

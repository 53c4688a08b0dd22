"""A class of N students on the running app, speaking the browser's queue protocol.

    python bench/class_load.py [--port 7860] [--students 30] [--seconds 60] [--trainings 2] [--seed 0] [--settle 20]

Talks only to 127.0.0.1. If nothing answers on --port it starts `app.py` there itself (and stops it
at the end), and waits --settle seconds before the class starts: a class joins a server that has been
up a while, and its first ~10 s go to the warm-up (torch, the shipped model, tab 5's maps; app.py).
With --settle 0 the class meets that warm-up: a few events per lab then wait 1-1.3 s.

Like the browser's JavaScript client it reads the page config (`/config`), and each
student, in a session of its own, moves a quick-lab control of tabs 3, 5 and 6 (a dependency
triggered by `change`/`input`/`release` of a control in those tabs, with its real fn_index and a
value within the control's own bounds/choices), sends `POST /gradio_api/queue/join`, reads the
session's SSE stream (`GET /gradio_api/queue/data?session_hash=...`) until `process_completed`,
then reads for 0.5-2 s (think time) before the next. `--trainings K` first starts K MiniGPT
trainings (tab 4's Train, default inputs, their own learners: the click's check, then the training
event chained after it, as the browser runs it) that run, listened to, while the class works, and are
cancelled (stream closed) at the end. Stops by itself after --seconds.

Prints events/s, p50/p95 per lab (tab and trigger) and errors.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # never anywhere else
QUICK_TABS = ("3 ", "5 ", "6 ")
QUICK_TRIGGERS = ("change", "input", "release")


@dataclass
class Lab:
    fn_index: int
    name: str  # "3 · Core math: slider 'Temperature' change"
    trigger: int
    inputs: list[dict]  # the input components' config entries


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    messages: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, name: str, seconds: float | None, error: str | None = None) -> None:
        with self.lock:
            if error is None or error.startswith("message: "):
                self.latencies[name].append(seconds)  # a refused input is still an answered event
            if error is not None:
                (self.messages if error.startswith("message: ") else self.errors)[name].append(error)


# ---- the page config, read as the browser reads it ----------------------------------------------

def get_json(port: int, path: str, timeout: float = 60) -> dict:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}")
        return json.loads(response.read())
    finally:
        conn.close()


def _parents(layout: dict) -> dict[int, int | None]:
    parents: dict[int, int | None] = {}
    stack = [(layout, None)]
    while stack:
        node, parent = stack.pop()
        parents[node["id"]] = parent
        stack += [(child, node["id"]) for child in node.get("children", [])]
    return parents


def _tab_label(component_id: int, parents: dict, components: dict) -> str | None:
    while component_id is not None:
        comp = components.get(component_id)
        if comp and comp["type"] == "tabitem":
            return comp["props"].get("label")
        component_id = parents.get(component_id)
    return None


def find_labs(config: dict, tabs=QUICK_TABS, triggers=QUICK_TRIGGERS) -> list[Lab]:
    components = {c["id"]: c for c in config["components"]}
    parents = _parents(config["layout"])
    labs = []
    for dep in config["dependencies"]:
        for target, event in dep["targets"]:
            tab = _tab_label(target, parents, components)
            comp = components.get(target)
            # a gr.State is no control: its change follows another event (e.g. a tab's first open), never a learner
            if tab and tab.startswith(tabs) and event in triggers and dep.get("backend_fn") and comp["type"] != "state":
                label = comp["props"].get("label") or comp["type"]
                labs.append(Lab(dep["id"], f"{tab}: {comp['type']} '{label}' {event}", target,
                                [components[i] for i in dep["inputs"]]))
    return labs


def find_training(config: dict) -> Lab | None:
    """Tab 4's Train button: the click dependency of a button labelled 'Train' in the MiniGPT tab."""
    components = {c["id"]: c for c in config["components"]}
    parents = _parents(config["layout"])
    for dep in config["dependencies"]:
        for target, event in dep["targets"]:
            comp = components.get(target) or {"type": "page", "props": {}}
            if (event == "click" and comp["type"] == "button" and str(comp["props"].get("value", "")).startswith("Train")
                    and (_tab_label(target, parents, components) or "").startswith("4 ")):
                return Lab(dep["id"], "4 · MiniGPT: Train", target, [components[i] for i in dep["inputs"]])
    return None


# ---- realistic inputs ---------------------------------------------------------------------------

def _choice_values(props: dict) -> list:
    return [c[1] if isinstance(c, (list, tuple)) else c for c in props.get("choices") or []]


def input_value(component: dict, rng: random.Random, user_id: str, moved: bool):
    """What the browser would send for this input: the default, or (for the moved control) a new value."""
    kind, props = component["type"], component["props"]
    if kind == "browserstate":
        return user_id
    if kind == "state":
        return None  # the server keeps state; the browser sends null
    if not moved:
        return props.get("value")
    if kind == "slider":
        low, high, step = props.get("minimum", 0), props.get("maximum", 100), props.get("step") or 1
        return min(high, low + step * rng.randint(0, int(round((high - low) / step))))
    if kind in ("dropdown", "radio") and _choice_values(props):
        return rng.choice(_choice_values(props))
    if kind == "checkbox":
        return not props.get("value")
    return props.get("value")


def lab_inputs(lab: Lab, rng: random.Random, user_id: str) -> list:
    return [input_value(c, rng, user_id, moved=c["id"] == lab.trigger) for c in lab.inputs]


# ---- the queue protocol -------------------------------------------------------------------------

def join(port: int, fn_index: int, data: list, session: str, trigger: int) -> str:
    body = json.dumps({"data": data, "fn_index": fn_index, "session_hash": session, "trigger_id": trigger,
                       "event_data": None})
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("POST", "/gradio_api/queue/join", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"join: HTTP {response.status} {payload[:200]!r}")
        return json.loads(payload)["event_id"]
    finally:
        conn.close()


def read_until_completed(port: int, session: str, event_id: str, deadline: float, stop: threading.Event | None = None,
                         seen: list | None = None) -> dict:
    """Read the session's SSE stream until this event's process_completed; returns that message."""
    conn = http.client.HTTPConnection(HOST, port, timeout=max(1.0, deadline - time.monotonic()))
    try:
        conn.request("GET", f"/gradio_api/queue/data?session_hash={session}", headers={"Accept": "text/event-stream"})
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"stream: HTTP {response.status}")
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            line = response.fp.readline()
            if not line:
                raise RuntimeError("stream closed before the event completed")
            if not line.startswith(b"data:"):
                continue
            message = json.loads(line[5:])
            if seen is not None and message.get("event_id") == event_id:
                seen.append(message.get("msg"))
            if message.get("event_id") == event_id and message.get("msg") == "process_completed":
                return message
        raise TimeoutError("no result before the deadline")
    finally:
        conn.close()  # closing the stream is how a browser tab leaves: Gradio cancels what is left


def one_event(port: int, lab: Lab, data: list, session: str, deadline: float) -> tuple[float, str | None]:
    start = time.perf_counter()
    event_id = join(port, lab.fn_index, data, session, lab.trigger)
    message = read_until_completed(port, session, event_id, deadline)
    elapsed = time.perf_counter() - start
    if not message.get("success"):
        error = (message.get("output") or {}).get("error")
        # a gr.Error carries its message (the learner's input was refused: an answer, not a failure);
        # an unexpected exception arrives without one
        return elapsed, f"message: {error}"[:200] if error else "server error (no message)"
    return elapsed, None


# ---- students and trainings ---------------------------------------------------------------------

def student(port: int, labs: list[Lab], seed: int, end: float, results: Results) -> None:
    rng = random.Random(seed)
    session, user_id = secrets.token_hex(6), secrets.token_hex(16)
    time.sleep(rng.uniform(0, 2))  # a class does not click in the same millisecond
    while time.monotonic() < end:
        lab = rng.choice(labs)
        try:
            elapsed, error = one_event(port, lab, lab_inputs(lab, rng, user_id), session, end + 30)
            results.add(lab.name, elapsed, error)
        except (OSError, RuntimeError, TimeoutError, ValueError) as err:
            results.add(lab.name, None, f"{type(err).__name__}: {err}"[:200])
        time.sleep(rng.uniform(0.5, 2.0))  # reading the result


def next_steps(config: dict, dep_id: int, succeeded: bool) -> list[dict]:
    """The dependencies the browser runs after `dep_id` ends (`.then`, and `.success` when it succeeded)."""
    return [d for d in config["dependencies"] if d.get("trigger_after") == dep_id
            and (succeeded or not d.get("trigger_only_on_success"))]


def training(port: int, config: dict, lab: Lab, stop: threading.Event, log: list) -> None:
    """A learner pressing Train, as the browser runs it: the click's check, then each `.success`/`.then` in
    turn (busy buttons, the training itself, idle), in one session (the server keeps its States)."""
    components = {c["id"]: c for c in config["components"]}
    session, user_id = secrets.token_hex(6), secrets.token_hex(16)
    fn_index, inputs, seen, started = lab.fn_index, lab.inputs, [], time.monotonic()
    try:
        while True:
            data = [input_value(c, random.Random(0), user_id, moved=False) for c in inputs]
            event_id = join(port, fn_index, data, session, lab.trigger)
            message = read_until_completed(port, session, event_id, time.monotonic() + 3600, stop, seen)
            following = next_steps(config, fn_index, bool(message.get("success")))
            if not following:
                break
            fn_index, inputs = following[0]["id"], [components[i] for i in following[0]["inputs"]]
        updates = seen.count("process_generating")
        log.append(f"finished after {time.monotonic() - started:.0f} s ({updates} progress updates)"
                   if message.get("success") else f"failed: {message.get('output')}")
    except TimeoutError:
        log.append(f"cancelled at the end of the bench after {seen.count('process_generating')} progress updates")
    except (OSError, RuntimeError, ValueError) as err:
        log.append(f"error: {err}")


def report(results: Results, seconds: float, students: int, trainings: int) -> None:
    done = sum(len(v) for v in results.latencies.values())
    errors = sum(len(v) for v in results.errors.values())
    messages = sum(len(v) for v in results.messages.values())
    print(f"{students} students, {trainings} trainings, {seconds:.0f} s: {done} quick-lab events, "
          f"{done / seconds:.1f} events/s, {errors} errors ({messages} answered with a learner message)")
    every = sorted(t for v in results.latencies.values() for t in v)
    if every:
        print(f"all labs: p50 {1000 * statistics.median(every):.0f} ms, p95 {1000 * percentile(every, 95):.0f} ms")
    for name in sorted(set(results.latencies) | set(results.errors)):
        times = sorted(results.latencies.get(name, []))
        stats = f"p50 {1000 * statistics.median(times):6.0f} ms  p95 {1000 * percentile(times, 95):6.0f} ms" if times else "no result"
        print(f"  {len(times):4d} x {stats}  errors {len(results.errors.get(name, [])):3d}  "
              f"messages {len(results.messages.get(name, [])):3d}  {name}")
    for kind, table in (("error", results.errors), ("message", results.messages)):
        for name, texts in table.items():
            print(f"  first {kind} of {name}: {texts[0]}")


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def ensure_app(port: int, timeout: float = 300) -> subprocess.Popen | None:
    """The app on 127.0.0.1:port, started here if nothing answers there."""
    with socket.socket() as s:
        if s.connect_ex((HOST, port)) == 0:
            return None
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    proc = subprocess.Popen([sys.executable, "app.py", "--host", HOST, "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            get_json(port, "/config", timeout=5)
            return proc
        except (OSError, RuntimeError):
            time.sleep(0.5)
    proc.terminate()
    raise TimeoutError("the app did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--trainings", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settle", type=float, default=20,
                        help="seconds between starting the app here and the class (its warm-up); 0 to measure it")
    args = parser.parse_args()
    app = ensure_app(args.port)
    try:
        if app is not None and args.settle:
            print(f"the app is up; {args.settle:g} s for its warm-up before the class starts")
            time.sleep(args.settle)
        config = get_json(args.port, "/config")
        labs = find_labs(config)
        if not labs:
            raise SystemExit("no quick-lab events found in tabs 3, 5, 6")
        print(f"{len(labs)} quick-lab events in tabs 3/5/6")
        stop_trainings, training_log, threads = threading.Event(), [], []
        train_lab = find_training(config) if args.trainings else None
        if args.trainings and train_lab is None:
            raise SystemExit("tab 4's Train button was not found")
        for _ in range(args.trainings):
            threads.append(threading.Thread(target=training, args=(args.port, config, train_lab, stop_trainings, training_log), daemon=True))
            threads[-1].start()
        time.sleep(3 if args.trainings else 0)  # let the trainings get going first
        start = time.monotonic()
        results = Results()
        students = [threading.Thread(target=student, args=(args.port, labs, args.seed * 1000 + i, start + args.seconds, results),
                                     daemon=True) for i in range(args.students)]
        for t in students:
            t.start()
        for t in students:
            t.join(args.seconds + 60)
        elapsed = time.monotonic() - start
        stop_trainings.set()
        for t in threads:
            t.join(30)
        report(results, elapsed, args.students, args.trainings)
        if args.trainings:
            print("trainings:", "; ".join(training_log) or "still running (cancelled)")
    finally:
        if app is not None:
            app.terminate()
            app.wait(30)


if __name__ == "__main__":
    main()

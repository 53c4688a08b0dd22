"""Training jobs in worker processes, one per learner at a time.

Why a process and not a thread: a training step holds the CPU for tens of milliseconds and, in the
server's own interpreter, competes with every learner's slider for it. A child process at a lower
CPU priority (`os.nice`) leaves the server responsive, can be killed outright (Stop, a closed tab),
can be watched for memory, and cannot take the server down when it crashes.

    for snap in jobs.stream("core.minigpt.train:train", dict(text=..., model_config=..., cfg=...),
                            owner=user_id, limits=jobs.Limits(memory_mb=2000)):
        ...  # each `snap` is the training generator's yield, pickled across a Pipe (a fresh copy)

`stream` runs `module:function(**kwargs)` (a generator) in a "spawn" child: the server has
threads, and forking a threaded process can deadlock the child. The child gets a stop request it
can poll (`should_stop()` for MiniGPT, `stop.is_set()` for LoRA: pass `stop_arg=`).

There is ONE stop mechanism: core.stop_requests' marker file in the job's folder (`stop_dir=`, the
run folder; a temporary folder when none is given). A Stop button writes it with
`stop_requests.request_stop(run_dir)` (or `jobs.request_stop(owner)`), the child checks it after
every step (one stat() call) and ends with its own last "stopped" snapshot. The parent writes the same
marker when it ends a job: stop request -> `grace_s` for the child to save and return -> SIGTERM
-> SIGKILL. That happens when the job ends, the consumer closes the generator (Gradio's `cancels=`,
a closed tab), the wall-clock limit passes, the memory limit is exceeded (killed at once), or
nobody listens any more (`listening()` returns False).

The job table (`_JOBS`) is process-wide on purpose: it *is* the server's table of running jobs,
the thing that lets one learner have at most one job, whichever tab or session starts it. It is
guarded by a lock because Gradio runs handlers in several threads. A start that must wait in Gradio's
queue for a training slot claims its place at once with `reserve()` (its check step), so two starts of
one learner queued together cannot both pass the check; the job takes the reservation over when it runs.
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from core import stop_requests

# Polling the child's pipe: short enough that a kill or a memory check happens promptly,
# long enough to cost nothing (a poll is a select() call).
POLL_S = 0.1


class JobError(ValueError):
    """A job could not start or did not end well; the message is written for the learner."""


@dataclass(frozen=True)
class Limits:
    """What one job may use. None = no limit."""

    memory_mb: int | None = None  # the child's RLIMIT_DATA, and its resident memory watched from the parent
    wall_s: float | None = None  # wall-clock seconds, then it is asked to stop (and saves)
    nice: int = 10  # added CPU niceness: the server's own events come first
    threads: int | None = None  # torch threads in the child; None = core.threads.default_threads()
    grace_s: float = 10.0  # after a stop request, how long the child has to save before SIGTERM


@dataclass
class _Job:
    owner: str
    kind: str
    started: float
    stop_dir: Path  # where the stop request's marker file goes (core.stop_requests)
    pid: int | None = None
    finished: threading.Event | None = None  # set once the child is gone
    # A reservation (reserve()): the learner's start was checked and waits in the queue for a training slot.
    queued: bool = False
    still_wanted: Callable[[], bool] | None = None  # False once the queued start is gone (tab closed, cancelled)


_JOBS: dict[str, _Job] = {}
_LOCK = threading.Lock()
_CTX = multiprocessing.get_context("spawn")


class StopRequest:
    """A job's view of its stop request (the marker file in `stop_dir`), in both spellings the trainers use:
    `should_stop()` (MiniGPT) and `stop.is_set()` (LoRA). Also what a trainer gets that runs in-process."""

    def __init__(self, stop_dir: str) -> None:
        self._dir = stop_dir

    def __call__(self) -> bool:
        return stop_requests.stop_requested(self._dir)

    def is_set(self) -> bool:
        return stop_requests.stop_requested(self._dir)

    def set(self) -> None:
        stop_requests.request_stop(self._dir)


def _resolve(target: str) -> Callable:
    module_name, _, name = target.partition(":")
    if not module_name or not name:
        raise ValueError(f"target must look like 'package.module:function', not {target!r}")
    return getattr(importlib.import_module(module_name), name)


def _limit_data(memory_mb: int | None) -> None:
    """RLIMIT_DATA: an allocation past the limit fails at once in the child (torch raises "can't allocate")
    instead of the machine swapping. Tried with torch 2.13 on Linux: importing torch and training work
    under it, a larger tensor is refused (RLIMIT_AS worked too, but counts reserved address space)."""
    if memory_mb:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _out_of_memory(err: BaseException) -> bool:
    return isinstance(err, MemoryError) or (isinstance(err, RuntimeError) and "can't allocate" in str(err))


def _child_main(target: str, kwargs: dict, conn, stop_dir: str, stop_arg: str | None, nice: int, threads: int,
                memory_mb: int | None = None) -> None:
    """Runs in the child: lower priority, set threads, then forward every yield to the parent."""
    os.nice(nice)
    _limit_data(memory_mb)
    # Before torch is imported: OpenMP reads these once, core.threads.default_threads() reads the last.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "PLAYGROUND_TORCH_THREADS"):
        os.environ[var] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C on the server is the parent's to handle
    try:
        function = _resolve(target)
        if stop_arg:
            kwargs = {**kwargs, stop_arg: StopRequest(stop_dir)}
        for item in function(**kwargs):
            conn.send(("item", item))
        conn.send(("done", None))
    except (BrokenPipeError, EOFError):
        pass  # the parent stopped listening (and will stop this process): nobody to tell
    except BaseException as err:  # reported to the parent as text: the learner sees it, nothing is lost
        if _out_of_memory(err):
            err = ValueError(f"The run needed more than this server's limit of {memory_mb:,} MB per job and was "
                             "stopped: try a smaller model, batch or context.")
        try:
            conn.send(("error", (isinstance(err, ValueError), type(err).__name__, str(err))))
        except (BrokenPipeError, EOFError):
            pass
    finally:
        conn.close()


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB, from /proc (None where /proc is missing or it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def _busy_message(job: _Job) -> str:
    if job.queued:
        return (f"You already have a run waiting for a free training slot ({job.kind}, queued "
                f"{time.time() - job.started:.0f} s ago), perhaps in another browser tab: stop it first.")
    return (f"You already have a run going ({job.kind}, started {time.time() - job.started:.0f} s ago), "
            "perhaps in another browser tab: stop it first.")


# A reservation younger than this is never dropped as stale: between a tab's check step and its training
# event joining the queue, the browser holds no event of that session for a moment.
RESERVATION_GRACE_S = 30.0


def _stale(job: _Job, now: float) -> bool:
    """A reservation whose start will never come: Stop was pressed while it waited (the marker in its run
    folder), its folder is gone, or (past the grace period) its queued event left the queue."""
    if not job.queued:
        return False
    if not job.stop_dir.is_dir() or stop_requests.stop_requested(job.stop_dir):
        return True
    return job.still_wanted is not None and now - job.started > RESERVATION_GRACE_S and not job.still_wanted()


def _current(owner: str) -> _Job | None:
    """The owner's job or live reservation; a stale reservation is dropped here. Call with _LOCK held."""
    job = _JOBS.get(owner)
    if job is not None and _stale(job, time.time()):
        del _JOBS[owner]
        job.finished.set()
        return None
    return job


def check_free(owner: str) -> None:
    """JobError when `owner` already has a job or a queued start: a tab's check step calls it first, so a
    second start is refused before anything changes on the page. Only reserve() or stream() claims the slot."""
    with _LOCK:
        current = _current(owner)
    if current is not None:
        raise JobError(_busy_message(current))


def reserve(owner: str, kind: str, stop_dir: str | os.PathLike, still_wanted: Callable[[], bool] | None = None) -> None:
    """Claim `owner`'s one job slot now, atomically, for a start that will wait in the queue: a second start
    (another tab, a client joining the queue twice) is refused here, not when the first one begins to run.
    `stream(..., stop_dir=stop_dir)` takes the reservation over. It is released by release_reservation(),
    by a stop request in `stop_dir` (Stop while queued), or when `still_wanted()` turns False."""
    with _LOCK:
        current = _current(owner)
        if current is not None:
            raise JobError(_busy_message(current))
        _JOBS[owner] = _Job(owner, kind, time.time(), Path(stop_dir), finished=threading.Event(), queued=True,
                            still_wanted=still_wanted)


def release_reservation(owner: str, stop_dir: str | os.PathLike) -> bool:
    """Give back a reservation that will not start (its start failed after reserve()). True if one was held."""
    with _LOCK:
        job = _JOBS.get(owner)
        if job is None or not job.queued or job.stop_dir != Path(stop_dir):
            return False
        del _JOBS[owner]
    job.finished.set()
    return True


def _claim(owner: str, kind: str, stop_dir: Path) -> _Job:
    """The owner's slot for a job that starts now: free, or reserved by reserve() for this same run folder."""
    with _LOCK:
        current = _current(owner)
        if current is not None and not (current.queued and current.stop_dir == stop_dir):
            raise JobError(_busy_message(current))
        # a reservation's waiters (wait_finished) wait on, and are woken by, the job it became
        job = _Job(owner, kind, time.time(), stop_dir, finished=current.finished if current else threading.Event())
        _JOBS[owner] = job
        return job


def _release(job: _Job, temporary: bool) -> None:
    with _LOCK:
        if _JOBS.get(job.owner) is job:
            del _JOBS[job.owner]
    if temporary:
        shutil.rmtree(job.stop_dir, ignore_errors=True)
    else:
        stop_requests.clear(job.stop_dir)  # the job has ended: its request is answered
    job.finished.set()


def running() -> list[dict]:
    """The jobs running now (not the reservations waiting in the queue): owner, kind, pid, seconds."""
    return [j for j in table() if not j["queued"]]


def table() -> list[dict]:
    """Every job and reservation (for a teacher's view): owner, kind, pid, seconds, queued."""
    with _LOCK:
        jobs = [_current(owner) for owner in list(_JOBS)]
        return [{"owner": j.owner, "kind": j.kind, "pid": j.pid, "seconds": time.time() - j.started, "queued": j.queued}
                for j in jobs if j is not None]


def has_job(owner: str) -> bool:
    """Whether `owner` has a job running or a start waiting in the queue."""
    with _LOCK:
        return _current(owner) is not None


def request_stop(owner: str) -> bool:
    """Ask `owner`'s job to stop at its next step (it saves and yields a last snapshot). True if one runs.
    The same marker file a Stop button writes into the run folder (a teacher's view knows only the owner);
    for a start still waiting in the queue it cancels the reservation (the tab's training ends at once)."""
    with _LOCK:
        job = _current(owner)
    if job is None or not stop_requests.request_stop(job.stop_dir):
        return False
    if job.queued:
        with _LOCK:
            _current(owner)  # now stale: dropped
    return True


def wait_finished(owner: str, timeout: float = 30.0) -> bool:
    """Wait until `owner` has no job (e.g. a Stop handler waiting for the save). True when none is left."""
    with _LOCK:
        job = _JOBS.get(owner)
    return job is None or job.finished.wait(timeout)


def _shutdown(proc, job: _Job, grace_s: float, temporary: bool) -> None:
    """Stop request, then SIGTERM, then SIGKILL; always reaps the child and frees the owner's slot."""
    try:
        if proc.is_alive():
            stop_requests.request_stop(job.stop_dir)
        proc.join(grace_s)
        if proc.is_alive():
            proc.terminate()
            proc.join(2.0)
        if proc.is_alive():
            proc.kill()
            proc.join(5.0)
    finally:
        _release(job, temporary)


def _crash_message(proc) -> str:
    code = proc.exitcode
    if code is not None and code < 0:
        how = f"was killed by signal {signal.Signals(-code).name}"
    else:
        how = f"exited with code {code}"
    return (f"The training process {how} before it finished (perhaps out of memory). "
            "The server is fine: try a smaller model or batch.")


def _error_message(is_value_error: bool, name: str, text: str) -> str:
    # A ValueError is a message already written for the learner; anything else is a bug: say what it was.
    return text if is_value_error else f"The training failed with an internal error ({name}: {text})."


def stream(target: str, kwargs: dict, *, owner: str, kind: str = "training", limits: Limits = Limits(),
           stop_arg: str | None = "should_stop", listening: Callable[[], bool] | None = None,
           stop_dir: str | os.PathLike | None = None) -> Iterator[Any]:
    """Run the generator `target(**kwargs)` in a child process, yielding what it yields.

    `stop_dir` is the folder whose stop marker (core.stop_requests) the child polls: the run folder, so
    the tab's Stop button reaches the child. Raises JobError when `owner` already has a job, when the
    child fails (its ValueError's message as is), crashes, or exceeds `limits.memory_mb`. See the
    module's docstring for how a job ends.
    """
    from core import threads as threads_mod

    temporary = stop_dir is None
    job = _claim(owner, kind, Path(tempfile.mkdtemp(prefix="playground-job-") if temporary else stop_dir))
    n_threads = limits.threads or threads_mod.default_threads()
    parent_conn, child_conn = _CTX.Pipe(duplex=False)
    proc = _CTX.Process(target=_child_main, name=f"playground-{kind}", daemon=True,
                        args=(target, kwargs, child_conn, str(job.stop_dir), stop_arg, limits.nice, n_threads,
                              limits.memory_mb))
    try:
        proc.start()
    except BaseException:
        _release(job, temporary)
        raise
    job.pid = proc.pid
    child_conn.close()  # the parent's copy: without closing it, a dead child would never read as EOF
    clean_exit = False
    try:
        yield from _pump(proc, parent_conn, job, limits, listening)
        clean_exit = True
    finally:
        parent_conn.close()
        if clean_exit:
            _shutdown(proc, job, limits.grace_s, temporary)
        else:
            # Closed by the consumer (GeneratorExit arrives in Gradio's event loop) or failed: never block
            # the caller for the grace period; a reaper thread stops, waits and kills.
            threading.Thread(target=_shutdown, args=(proc, job, limits.grace_s, temporary), name="job-reaper", daemon=True).start()


def _pump(proc, conn, job: _Job, limits: Limits, listening: Callable[[], bool] | None) -> Iterator[Any]:
    """Forward the child's messages; between them, enforce the limits (at least every POLL_S)."""
    started = time.monotonic()
    checked = 0.0
    while True:
        if conn.poll(POLL_S):
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError):
                proc.join(1.0)
                raise JobError(_crash_message(proc)) from None
            if kind == "done":
                return
            if kind == "error":
                raise JobError(_error_message(*payload))
            yield payload
        elif not proc.is_alive() and not conn.poll(0):
            raise JobError(_crash_message(proc))
        if time.monotonic() - checked >= POLL_S:  # a child that streams fast is still watched
            checked = time.monotonic()
            _check_limits(proc, job, limits, checked - started, listening)


def _check_limits(proc, job: _Job, limits: Limits, elapsed: float, listening: Callable[[], bool] | None) -> None:
    rss = rss_mb(proc.pid) if limits.memory_mb else None
    if rss is not None and rss > limits.memory_mb:
        proc.kill()
        raise JobError(f"The run used {rss:,.0f} MB, over this server's limit of {limits.memory_mb:,} MB per job, "
                       "and was stopped: try a smaller model, batch or context.")
    if limits.wall_s is not None and elapsed > limits.wall_s:
        stop_requests.request_stop(job.stop_dir)  # it saves and yields its last "stopped" snapshot, then ends
        if elapsed > limits.wall_s + limits.grace_s:  # it did not: end it
            raise JobError(f"The run passed this server's time limit ({limits.wall_s / 60:.0f} min) and "
                           "did not stop when asked, so it was ended.")
    if listening is not None and not listening():
        stop_requests.request_stop(job.stop_dir)
        raise JobError("Nobody is watching this run any more, so it was stopped.")

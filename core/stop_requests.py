"""A learner's request to stop a running job, as a marker file in the job's run folder.

The Stop button writes the marker; the training loop checks it after every step and ends with a
normal last report ("stopped at step N, saved") instead of being cancelled mid-step. A file rather
than an in-memory flag: it needs no shared state between the Stop event and the training event, and
it still works when a job runs in another process (a worker) that only knows the run folder.

    request_stop(run_dir)          # the Stop button
    stop_requested(run_dir)        # the loop, once per step: one stat() call
    clear(run_dir)                 # the job has ended
"""
from __future__ import annotations

import os
from pathlib import Path

MARKER = ".stop-requested"


def _marker(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / MARKER


def request_stop(run_dir: str | os.PathLike | None) -> bool:
    """Ask the job training into `run_dir` to stop at its next step; False when there is no such folder."""
    if not run_dir or not Path(run_dir).is_dir():
        return False
    try:
        _marker(run_dir).touch()
    except FileNotFoundError:  # the folder was removed meanwhile (a run emptied as its job ended): nothing to stop
        return False
    return True


def stop_requested(run_dir: str | os.PathLike | None) -> bool:
    return bool(run_dir) and _marker(run_dir).is_file()


def clear(run_dir: str | os.PathLike | None) -> None:
    """Remove the request (the job ended, or a new job starts in this folder)."""
    if run_dir:
        _marker(run_dir).unlink(missing_ok=True)


def withdrawn_before_start(run_dir: str | os.PathLike) -> bool:
    """True if Stop was pressed while the job still waited for a training slot: the request is answered
    and the run's (still empty) folder removed, so the tab can say nothing was trained."""
    if not stop_requested(run_dir):
        return False
    clear(run_dir)
    Path(run_dir).rmdir()
    return True

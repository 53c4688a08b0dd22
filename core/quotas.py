"""Disk: per-learner and total quotas for the runs folder, and a sweep of old and empty runs.

A max-size MiniGPT run leaves ~157 MB, every LoRA merge adds a folder, failed starts leave empty
folders; a class of 30 over a term would fill a Space's disk. So:

    quotas.check_room(user_id)   # before a job writes: ValueError with the learner's usage and the quota
    quotas.sweep()               # at start-up and every PLAYGROUND_SWEEP_MINUTES (app.py starts the thread)

Settings (environment, read on every call):
  PLAYGROUND_USER_QUOTA_MB=500     one learner's runs
  PLAYGROUND_TOTAL_QUOTA_MB=20000  everyone's runs together (a Space's persistent storage starts at 20 GB)
  PLAYGROUND_RUN_MAX_AGE_DAYS=14   runs untouched this long are deleted by the sweep
  PLAYGROUND_SWEEP_MINUTES=30      how often the sweep runs
Layout swept (core.sessions): runs/<user id>/<kind>/<run folder> (+ <run folder>.zip beside it).
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from core import sessions

# An empty run folder younger than this may belong to a run that is still loading its model.
EMPTY_GRACE_S = 15 * 60


def env_number(name: str, default: float) -> float:
    """A positive number a teacher sets in the environment; the default when unset or not positive."""
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number (ask the teacher to fix the server's setting).") from None
    return value if value > 0 else default


def user_quota_mb() -> float:
    return env_number("PLAYGROUND_USER_QUOTA_MB", 500)


def total_quota_mb() -> float:
    return env_number("PLAYGROUND_TOTAL_QUOTA_MB", 20_000)


def max_age_s() -> float:
    return env_number("PLAYGROUND_RUN_MAX_AGE_DAYS", 14) * 86_400


def folder_bytes(path: Path) -> int:
    """Bytes of the regular files under `path` (links are not followed: a link cannot count twice)."""
    total = 0
    stack = [Path(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    return total


def check_room(user_id: str) -> None:
    """ValueError when the learner's runs, or everyone's, already fill their quota."""
    used_mb = folder_bytes(sessions.user_dir(user_id)) / 2**20
    if used_mb >= user_quota_mb():
        raise ValueError(f"Your saved runs use {used_mb:,.0f} MB of your {user_quota_mb():,.0f} MB: delete some "
                         "(or download them first) before starting another. The teacher can raise "
                         "PLAYGROUND_USER_QUOTA_MB.")
    total_mb = folder_bytes(sessions.runs_root()) / 2**20
    if total_mb >= total_quota_mb():
        raise ValueError(f"The server's disk for runs is full ({total_mb:,.0f} of {total_quota_mb():,.0f} MB): "
                         "ask the teacher to clear old runs or raise PLAYGROUND_TOTAL_QUOTA_MB.")


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    for child in path.rglob("*"):
        try:
            newest = max(newest, child.lstat().st_mtime)
        except OSError:
            continue
    return newest


@dataclass
class SweepReport:
    old_runs: list[Path] = field(default_factory=list)
    empty_runs: list[Path] = field(default_factory=list)
    freed_bytes: int = 0


def _run_folders(root: Path):
    for user in root.iterdir() if root.is_dir() else ():
        if not (user.is_dir() and sessions.is_valid_user_id(user.name)):
            continue  # the key file, anything a teacher put there: not ours to delete
        for kind in user.iterdir():
            if kind.is_dir() and not kind.is_symlink():
                yield from (run for run in kind.iterdir() if run.is_dir() and not run.is_symlink())


def _remove(run: Path, report: SweepReport, into: list[Path]) -> None:
    zipped = run.with_name(run.name + ".zip")
    report.freed_bytes += folder_bytes(run) + (zipped.stat().st_size if zipped.is_file() else 0)
    shutil.rmtree(run, ignore_errors=True)
    zipped.unlink(missing_ok=True)
    into.append(run)


def sweep(now: float | None = None, busy_users: set[str] = frozenset()) -> SweepReport:
    """Delete runs older than max_age_s() and empty run folders past EMPTY_GRACE_S; never a busy user's."""
    now = time.time() if now is None else now
    report = SweepReport()
    for run in list(_run_folders(sessions.runs_root())):
        if run.parent.parent.name in busy_users:
            continue
        try:
            age = now - _newest_mtime(run)
            empty = not any(run.iterdir())
        except OSError:
            continue
        if empty and age > EMPTY_GRACE_S:
            _remove(run, report, report.empty_runs)
        elif age > max_age_s():
            _remove(run, report, report.old_runs)
    return report


def start_sweeper(busy_users=lambda: set(), log=print) -> threading.Event:
    """Sweep now, then every PLAYGROUND_SWEEP_MINUTES in a daemon thread; set the returned Event to end it."""
    stop = threading.Event()

    def loop() -> None:
        while True:
            try:
                report = sweep(busy_users=set(busy_users()))
                if report.old_runs or report.empty_runs:
                    log(f"sweep: removed {len(report.old_runs)} old and {len(report.empty_runs)} empty run "
                        f"folders, freed {report.freed_bytes / 2**20:,.1f} MB")
            except (OSError, ValueError) as err:  # a sweep that fails must not end the server
                log(f"sweep failed: {err}")
            if stop.wait(env_number("PLAYGROUND_SWEEP_MINUTES", 30) * 60):
                return

    threading.Thread(target=loop, name="runs-sweeper", daemon=True).start()
    return stop

"""What the teacher's view shows about the server: learners, jobs, disk, memory and the caps in force.

Read-only figures from the job table (core.jobs), the runs folder (core.sessions, core.quotas) and
/proc; the teacher's view adds what only Gradio knows (sessions with an event in flight, the length of
the training queue). Learner ids are secrets (whoever has one sees that learner's runs), so the view
names a learner by a short prefix of the id only.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass

from core import caps, jobs, quotas, sessions

SHORT_ID = 8  # characters of a learner id shown: enough to tell 30 learners apart, useless for guessing
RECENT_S = 15 * 60


def short(owner: str) -> str:
    return owner[:SHORT_ID]


def meminfo() -> dict[str, float]:
    """MemTotal and MemAvailable in MB (empty where /proc is missing)."""
    out = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("MemTotal", "MemAvailable"):
                    out[key] = int(rest.split()[0]) / 1024
    except (OSError, ValueError):
        pass
    return out


def recent_learners(now: float | None = None, within_s: float = RECENT_S) -> tuple[int, int]:
    """(learner folders, those with a run folder changed within `within_s`): the runs folder's view of activity."""
    now = time.time() if now is None else now
    root = sessions.runs_root()
    total = recent = 0
    for user in root.iterdir() if root.is_dir() else ():
        if not (user.is_dir() and sessions.is_valid_user_id(user.name)):
            continue
        total += 1
        try:  # a run folder's mtime changes when a file is added in it (a checkpoint, a zip, a new run)
            newest = max([user.stat().st_mtime] + [p.stat().st_mtime for kind in user.iterdir() if kind.is_dir()
                                                   for p in [kind, *kind.iterdir()]])
        except OSError:
            continue
        recent += now - newest <= within_s
    return total, recent


@dataclass(frozen=True)
class JobRow:
    learner: str  # short id
    kind: str
    state: str  # "running" or "queued"
    seconds: float
    memory_mb: float | None


def job_rows() -> list[JobRow]:
    rows = []
    for job in jobs.table():
        rss = jobs.rss_mb(job["pid"]) if job["pid"] else None
        rows.append(JobRow(short(job["owner"]), job["kind"], "queued" if job["queued"] else "running",
                           job["seconds"], rss))
    return rows


def owner_of(learner: str) -> str:
    """The full id of the learner with a job whose short id is `learner` (ValueError if none or ambiguous)."""
    matches = [j["owner"] for j in jobs.table() if short(j["owner"]) == learner]
    if len(matches) != 1:
        raise ValueError("That job has ended (or is not in the table any more): refresh the view.")
    return matches[0]


def cancel(learner: str) -> str:
    """Ask the job of the learner shown as `learner` to stop (a queued start is cancelled at once)."""
    owner = owner_of(learner)
    if not jobs.request_stop(owner):
        raise ValueError("That job has ended already: refresh the view.")
    return f"Asked the job of learner {learner} to stop: it saves and ends at its next step."


def disk() -> dict[str, float]:
    root = sessions.runs_root()
    root.mkdir(parents=True, exist_ok=True)
    usage = shutil.disk_usage(root)
    return {"runs_mb": quotas.folder_bytes(root) / 2**20, "quota_mb": quotas.total_quota_mb(),
            "disk_free_mb": usage.free / 2**20, "disk_total_mb": usage.total / 2**20}


def report(sessions_in_flight: int, training_queue: int) -> str:
    """The teacher's view as Markdown: one line per topic, then the job table."""
    folders, recent = recent_learners()
    mem, space = meminfo(), disk()
    server_mb = jobs.rss_mb(os.getpid())
    rows = job_rows()
    lines = [
        f"**Learners**: {sessions_in_flight} browser sessions with an event in flight now · {recent} learners whose "
        f"runs changed in the last {RECENT_S // 60} min · {folders} learner folders in all",
        f"**Jobs**: {sum(r.state == 'running' for r in rows)} running, {sum(r.state == 'queued' for r in rows)} "
        f"queued (reserved), {training_queue} events waiting in the training queue",
        f"**Disk**: runs {space['runs_mb']:,.0f} MB of the {space['quota_mb']:,.0f} MB quota · "
        f"{space['disk_free_mb']:,.0f} MB free of {space['disk_total_mb']:,.0f} MB",
        f"**Memory**: server {server_mb or 0:,.0f} MB · jobs {sum(r.memory_mb or 0 for r in rows):,.0f} MB · "
        f"machine {mem.get('MemAvailable', 0):,.0f} MB available of {mem.get('MemTotal', 0):,.0f} MB",
        f"**Caps**: {caps.describe()}",
    ]
    if rows:
        lines.append("| learner | job | state | for | memory |\n|---|---|---|---|---|\n" + "\n".join(
            f"| {r.learner} | {r.kind} | {r.state} | {r.seconds:,.0f} s | "
            f"{'' if r.memory_mb is None else f'{r.memory_mb:,.0f} MB'} |" for r in rows))
    return "\n\n".join(lines)

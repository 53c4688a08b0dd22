"""Per-learner folders for run-time outputs (trained checkpoints, adapters, zips).

A class of ~30 students shares one server, so each browser gets a random id (kept in the
browser's local storage by the app) and writes only under `runs/<id>/`. Nothing here is global
mutable state: the id is passed in by the caller every time.
"""
from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS_DIR = PROJECT_ROOT / "checkpoints"

_USER_ID = re.compile(r"[0-9a-f]{32}")


def runs_root() -> Path:
    """Where per-learner outputs live; `PLAYGROUND_RUNS_DIR` moves it (e.g. to persistent storage)."""
    return Path(os.environ.get("PLAYGROUND_RUNS_DIR", CHECKPOINTS_DIR / "runs"))


def new_user_id() -> str:
    return secrets.token_hex(16)


def is_valid_user_id(user_id: object) -> bool:
    return isinstance(user_id, str) and _USER_ID.fullmatch(user_id) is not None


def user_dir(user_id: str) -> Path:
    """The learner's own folder. The id is validated because it becomes part of a path."""
    if not is_valid_user_id(user_id):
        raise ValueError("Unknown session: reload the page to get a new one.")
    return runs_root() / user_id


def new_run_dir(user_id: str, kind: str, name: str | None = None) -> Path:
    """A fresh, uniquely named folder for one run of one kind (e.g. 'minigpt', 'lora')."""
    if not re.fullmatch(r"[a-z0-9_-]+", kind):
        raise ValueError(f"bad run kind {kind!r}")
    stem = name or time.strftime("%Y%m%d-%H%M%S")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.") or "run"
    parent = user_dir(user_id) / kind
    parent.mkdir(parents=True, exist_ok=True)
    for i in range(1000):
        candidate = parent / (stem if i == 0 else f"{stem}-{i}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError("could not create a run folder")

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


# A Hugging Face Space's persistent storage, when attached: the rest of a Space's disk is wiped on restart.
SPACE_STORAGE = Path("/data")


def runs_root() -> Path:
    """Where per-learner outputs live: `PLAYGROUND_RUNS_DIR`, else a Space's persistent `/data` when it is
    there and writable (runs and the id secret survive restarts), else `checkpoints/runs/`."""
    env = os.environ.get("PLAYGROUND_RUNS_DIR")
    if env:
        return Path(env)
    if SPACE_STORAGE.is_dir() and os.access(SPACE_STORAGE, os.W_OK):
        return SPACE_STORAGE / "playground-runs"
    return CHECKPOINTS_DIR / "runs"


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


# ---- a persistent secret for the learner's id in the browser ----------------------------------
# gr.BrowserState encrypts what it keeps in the browser with a secret; by default a new one per
# process, so after a restart no browser's stored id decrypts and every learner's runs are orphaned.
# The secret is sent to the browser in the page config (the browser's own JavaScript encrypts), so
# it protects nothing against the learner: the id itself (128 random bits) is what must not be guessed.
SECRET_FILE = ".browser-secret"


def browser_secret() -> str:
    """`PLAYGROUND_SECRET`, else a key file in the runs folder, created once (mode 0600) and reused."""
    env = os.environ.get("PLAYGROUND_SECRET", "").strip()
    if env:
        return env
    path = runs_root() / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made by an earlier start (or a concurrent one: it has finished writing by now)
        for _ in range(50):
            secret = path.read_text(encoding="ascii").strip()
            if secret:
                return secret
            time.sleep(0.01)
        raise RuntimeError(f"the key file {SECRET_FILE} in the runs folder is empty: delete it") from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_urlsafe(32))
    return path.read_text(encoding="ascii").strip()


class LoginLimiter:
    """An `auth=` callable for Gradio's login form that refuses everything after too many failures.

    Gradio calls it with (username, password) only, no client address, so the budget is server-wide:
    past `max_failures` wrong logins within `window_s`, every login (right or wrong) is refused until
    the window has passed. Learners already logged in keep their cookie; a guesser gets ~max_failures
    tries per window instead of thousands a second.
    """

    def __init__(self, username: str, password: str, max_failures: int = 10, window_s: float = 300.0) -> None:
        import threading

        self._user, self._password = username.encode(), password.encode()
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: list[float] = []
        self._lock = threading.Lock()  # the login route may be called from several threads

    def __call__(self, username: str, password: str) -> bool:
        now = time.monotonic()
        with self._lock:
            self._failures = [t for t in self._failures if now - t < self.window_s]
            if len(self._failures) >= self.max_failures:
                return False
            ok = secrets.compare_digest(username.encode(), self._user) & secrets.compare_digest(password.encode(), self._password)
            if not ok:
                self._failures.append(now)
            return ok

"""The teacher's password: the class board's Clear and the teacher's view ask for it.

It comes from the environment only (`PLAYGROUND_ADMIN_PASSWORD`, a Space secret): no password set means
no teacher's view and a board nobody can clear from the page. Guessing is bounded like the login form's
(core.sessions.LoginLimiter): past a few wrong passwords in a window, every try is refused for a while.
"""
from __future__ import annotations

import os

from core.sessions import LoginLimiter

ENV = "PLAYGROUND_ADMIN_PASSWORD"
MAX_PASSWORD_CHARS = 200  # a password box is free text: bounded before it is compared


def password() -> str | None:
    """The admin password in force (read on every call, so a test or a restart sees a new one)."""
    value = os.environ.get(ENV, "")
    return value if value.strip() else None


def enabled() -> bool:
    return password() is not None


def new_limiter(max_failures: int = 5, window_s: float = 300.0) -> LoginLimiter | None:
    """One guess budget for the app that builds it (not a module global: each app, each test its own)."""
    secret = password()
    return LoginLimiter("teacher", secret, max_failures=max_failures, window_s=window_s) if secret else None


def check(given: str | None, limiter: LoginLimiter | None) -> None:
    """ValueError unless `given` is the admin password (and the guess budget is not spent)."""
    if limiter is None or password() is None:
        raise ValueError(f"No admin password is set on this server: the teacher sets {ENV} to use this.")
    given = given or ""
    if len(given) > MAX_PASSWORD_CHARS or not limiter("teacher", given):
        raise ValueError("That is not the teacher's password (after a few wrong tries, wait five minutes).")

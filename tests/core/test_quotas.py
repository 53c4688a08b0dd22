"""core.quotas: disk quotas per learner and in total, and the sweep of old and empty runs."""
import os
import time

import pytest

from core import quotas, sessions


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path))
    for name in ("PLAYGROUND_USER_QUOTA_MB", "PLAYGROUND_TOTAL_QUOTA_MB", "PLAYGROUND_RUN_MAX_AGE_DAYS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def make_run(user: str, mb: float, age_s: float = 0.0, name: str | None = None):
    run = sessions.new_run_dir(user, "minigpt", name)
    if mb:
        (run / "model.safetensors").write_bytes(b"\0" * int(mb * 2**20))
    stamp = time.time() - age_s
    for path in [run, *run.iterdir()]:
        os.utime(path, (stamp, stamp))
    return run


def test_a_learner_over_their_quota_gets_a_clear_message(runs, monkeypatch):
    alice, bob = sessions.new_user_id(), sessions.new_user_id()
    monkeypatch.setenv("PLAYGROUND_USER_QUOTA_MB", "2")
    make_run(alice, 1.5)
    quotas.check_room(alice)
    make_run(alice, 1.0)
    with pytest.raises(ValueError, match="Your saved runs use 2 MB of your 2 MB.*PLAYGROUND_USER_QUOTA_MB"):
        quotas.check_room(alice)
    quotas.check_room(bob)  # bob's quota is his own
    with pytest.raises(ValueError, match="Unknown session"):
        quotas.check_room("../etc")


def test_the_total_quota_protects_the_server_disk(runs, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_TOTAL_QUOTA_MB", "3")
    for _ in range(3):
        make_run(sessions.new_user_id(), 1.1)
    with pytest.raises(ValueError, match="disk for runs is full.*PLAYGROUND_TOTAL_QUOTA_MB"):
        quotas.check_room(sessions.new_user_id())


def test_sweep_removes_old_runs_with_their_zip_and_empty_failed_starts_only(runs, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUN_MAX_AGE_DAYS", "1")
    alice, busy = sessions.new_user_id(), sessions.new_user_id()
    old = make_run(alice, 0.1, age_s=2 * 86_400, name="old")
    old.with_name("old.zip").write_bytes(b"zip")
    fresh = make_run(alice, 0.1, name="fresh")
    failed = make_run(alice, 0, age_s=3600, name="failed")
    starting = make_run(alice, 0, age_s=10, name="starting")  # may still be loading its model
    busy_old = make_run(busy, 0.1, age_s=2 * 86_400)
    (runs / "secret.key").write_text("keep me")

    report = quotas.sweep(busy_users={busy})
    assert report.old_runs == [old] and report.empty_runs == [failed]
    assert not old.exists() and not old.with_name("old.zip").exists() and not failed.exists()
    assert fresh.exists() and starting.exists() and busy_old.exists()
    assert (runs / "secret.key").read_text() == "keep me"
    assert report.freed_bytes >= 0.1 * 2**20


def test_sweeper_thread_runs_at_once_and_stops(runs, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUN_MAX_AGE_DAYS", "1")
    old = make_run(sessions.new_user_id(), 0.01, age_s=2 * 86_400)
    lines = []
    stop = quotas.start_sweeper(log=lines.append)
    for _ in range(100):
        if lines:
            break
        time.sleep(0.05)
    stop.set()
    assert not old.exists() and lines and lines[0].startswith("sweep: removed 1 old")

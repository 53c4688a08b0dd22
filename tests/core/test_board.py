"""core.board: entries read from the server's own run record, ranked, safe under concurrent posts, persistent."""
import csv
import json
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from core import admin, board, sessions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_template(tmp_path_factory):
    """One tiny finished MiniGPT run, trained for real (~1 s), copied into each test's learner folder."""
    from core.minigpt.config import GPTConfig
    from core.minigpt.train import TrainConfig, train

    text = "the quick brown fox jumps over the lazy dog. " * 40
    out = tmp_path_factory.mktemp("template") / "run"
    cfg = TrainConfig(steps=12, batch_size=4, eval_every=3, sample_every=12, log_every=3, eval_batches=1,
                      sample_tokens=20, warmup_steps=1, threads=1)
    list(train(text, GPTConfig(block_size=16, n_layer=1, n_head=2, n_embd=16), cfg, out_dir=out,
               run_info={"preset": None, "corpus": "fox text"}))
    return out


@pytest.fixture
def boarded(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("PLAYGROUND_BOARD", "1")
    monkeypatch.setenv(admin.ENV, "chalk")
    return tmp_path / "runs"


def add_run(template: Path, user: str, name: str, elapsed: float | None = None) -> str:
    """A copy of the template run in the learner's folder (optionally with another recorded time)."""
    folder = sessions.user_dir(user) / "minigpt" / name
    shutil.copytree(template, folder)
    if elapsed is not None:
        config = json.loads((folder / "config.json").read_text())
        config["meta"]["elapsed_s"] = elapsed
        (folder / "config.json").write_text(json.dumps(config))
    return f"run/{name}"


def test_an_entry_holds_the_run_records_numbers(boarded, run_template):
    user = sessions.new_user_id()
    entry = board.post(user, add_run(run_template, user, "r1"), "  Ada\n Lovelace ")
    meta = json.loads((run_template / "config.json").read_text())["meta"]
    with (run_template / "loss_history.csv").open() as f:
        rows = [(int(r["step"]), float(r["val_loss"])) for r in csv.DictReader(f) if r["val_loss"]]
    steps, vals = np.array([s for s, _ in rows], dtype=np.float64), np.array([v for _, v in rows], dtype=np.float64)
    assert entry.nickname == "Ada Lovelace" and entry.corpus.startswith("fox text (")
    assert entry.final_val == meta["val_loss"] and entry.steps == meta["steps_done"] == 12
    assert entry.elapsed_s == meta["elapsed_s"] and entry.best_val == vals.min()
    # time to a target between the first and the best validation loss: elapsed x first step at or under it / steps
    target = float((vals[0] + vals.min()) / 2)
    first = steps[np.argmax(vals <= target)]
    assert entry.time_to(target) == pytest.approx(meta["elapsed_s"] * first / 12)
    assert entry.time_to(float(vals.min()) - 1e-9) is None
    [stored] = board.entries()
    assert stored == entry  # what was stored is what was read from the run


def test_only_the_learners_own_finished_runs_can_be_posted(boarded, run_template, monkeypatch):
    user, other = sessions.new_user_id(), sessions.new_user_id()
    ref = add_run(run_template, user, "mine")
    with pytest.raises(ValueError, match="not available in this session"):
        board.post(other, ref, "thief")
    with pytest.raises(ValueError, match="shipped model is not yours"):
        board.post(user, "shipped/default", "me")
    stopped = sessions.user_dir(user) / "minigpt" / "stopped"
    shutil.copytree(run_template, stopped)
    config = json.loads((stopped / "config.json").read_text())
    config["meta"]["stop_reason"] = "stopped"
    (stopped / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="Only a finished run"):
        board.post(user, "run/stopped", "me")
    workflow = sessions.user_dir(user) / "pipeline" / "bpe"  # tab 11's models are listed for tabs 4-5, not posted
    shutil.copytree(run_template, workflow)
    with pytest.raises(ValueError, match="not a model of your workflow"):
        board.post(user, "workflow/bpe", "me")
    board.post(user, ref, "me")
    with pytest.raises(ValueError, match="already on the board"):
        board.post(user, ref, "me again")
    monkeypatch.delenv("PLAYGROUND_BOARD")
    with pytest.raises(ValueError, match="board is off"):
        board.post(user, ref, "me")


@pytest.mark.parametrize("nick, message", [("", "Give a nickname"), ("x" * 25, "keep it to 24"),
                                           ("x" * 10_000, "10,000 characters"), ("a\u200bb", "invisible")])
def test_bad_nicknames_are_refused(nick, message):
    with pytest.raises(ValueError, match=message):
        board.nickname(nick)


def test_standings_rank_by_time_to_target_per_corpus(boarded, run_template):
    user = sessions.new_user_id()
    slow = board.post(user, add_run(run_template, user, "slow", elapsed=40.0), "slow")
    fast = board.post(user, add_run(run_template, user, "fast", elapsed=10.0), "fast")
    target = float(slow.val_curve[1][1]) + 1e-9  # reached at the second evaluation by both
    never = target - 10  # reached by none: ranked by best validation loss, then by posting time
    [(corpus, ranked)] = board.standings(target).items()
    assert [e.nickname for e in ranked] == ["fast", "slow"] and corpus == fast.corpus
    assert [e.nickname for e in board.standings(never)[corpus]] == ["slow", "fast"]


def test_concurrent_posts_all_land_and_the_per_learner_limit_holds(boarded, run_template):
    users = [sessions.new_user_id() for _ in range(6)]
    refs = {u: add_run(run_template, u, "r") for u in users}
    greedy = sessions.new_user_id()
    greedy_refs = [add_run(run_template, greedy, f"g{i}") for i in range(board.MAX_ENTRIES_PER_LEARNER + 4)]
    outcomes, lock, start = [], threading.Lock(), threading.Barrier(len(users) + len(greedy_refs))

    def post(user, ref):
        start.wait()
        try:
            board.post(user, ref, "n")
            result = "ok"
        except ValueError as err:
            result = str(err)
        with lock:
            outcomes.append((user, result))

    threads = [threading.Thread(target=post, args=(u, r)) for u, r in refs.items()]
    threads += [threading.Thread(target=post, args=(greedy, r)) for r in greedy_refs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(result == "ok" for user, result in outcomes if user != greedy)
    greedy_ok = [r for u, r in outcomes if u == greedy and r == "ok"]
    assert len(greedy_ok) == board.MAX_ENTRIES_PER_LEARNER  # never more, even when posted at once
    assert len(board.entries()) == len(users) + board.MAX_ENTRIES_PER_LEARNER
    with sqlite3.connect(board.db_path()) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_board_survives_a_restart_and_the_teacher_clears_it(boarded, run_template, monkeypatch):
    user = sessions.new_user_id()
    ref = add_run(run_template, user, "r")
    code = f"from core import board; board.post({user!r}, {ref!r}, 'from another process')"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)  # a server process that has since ended
    assert [e.nickname for e in board.entries()] == ["from another process"]
    limiter = admin.new_limiter(max_failures=2)
    with pytest.raises(ValueError, match="not the teacher's password"):
        board.clear("guess", limiter)
    assert len(board.entries()) == 1
    assert board.clear("chalk", limiter) == 1 and board.entries() == []
    for guess in ("a", "b"):
        with pytest.raises(ValueError):
            board.clear(guess, limiter)
    with pytest.raises(ValueError, match="not the teacher's password"):
        board.clear("chalk", limiter)  # the guess budget is spent: even the right password waits
    monkeypatch.delenv(admin.ENV)
    with pytest.raises(ValueError, match="No admin password is set"):
        board.clear("chalk", admin.new_limiter())

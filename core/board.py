"""The class board: finished MiniGPT runs posted by learners, ranked by time to a validation loss.

A friendly speedrun for one class session: who reaches the target validation loss fastest on the same
corpus, and with which settings. Off unless the teacher sets `PLAYGROUND_BOARD=1`.

    board.post(user_id, "run/20261201-195210", "ada")    # an Entry, read from the server's own run record
    board.standings()                                     # {corpus: [Ranked, ...]} best first
    board.clear(password, limiter)                        # the teacher (core.admin)

Every number on the board comes from the run folder the server wrote (config.json's meta and
loss_history.csv, found through core.registry in the learner's own runs): the client sends only which
of its runs to post and a nickname, never a loss or a time.

Time to the target: the trainer records the run's total wall-clock time (`elapsed_s`, evaluations and
samples included) and the validation loss every `eval_every` steps, not a time per step. So the time at
which the validation loss first reached the target is estimated as elapsed_s x step / steps_done
(steps take about the same time all run long). Runs that never reached it rank after, by best
validation loss. The target is `PLAYGROUND_BOARD_TARGET_LOSS` (default 2.0 nats per character: the
default preset on the built-in corpus passes it near step 120 of 480).

Storage: SQLite in WAL mode (readers never wait for a writer; concurrent posts from many handler
threads or processes queue on SQLite's own lock with a busy timeout), in the runs folder (a Space's
persistent `/data` when attached, core.sessions.runs_root), so it survives a restart.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import sqlite3
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from core import admin, quotas, registry, sessions, text_input

DB_NAME = "class-board.sqlite3"
MAX_NICKNAME_CHARS = 24
MAX_SAMPLE_CHARS = 160
MAX_ENTRIES_PER_LEARNER = 20  # a learner posts their good runs, not every run
MAX_ENTRIES = 1000  # a whole class over a session, with room to spare
DEFAULT_TARGET = 2.0
BUSY_TIMEOUT_S = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    posted REAL NOT NULL,
    owner TEXT NOT NULL,
    run TEXT NOT NULL,
    nickname TEXT NOT NULL,
    corpus TEXT NOT NULL,
    settings TEXT NOT NULL,
    params INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    elapsed_s REAL NOT NULL,
    final_val REAL NOT NULL,
    val_curve TEXT NOT NULL,
    sample TEXT NOT NULL,
    UNIQUE (owner, run)
)"""


def enabled() -> bool:
    return os.environ.get("PLAYGROUND_BOARD", "").strip().lower() in ("1", "true", "yes")


def target_loss() -> float:
    return quotas.env_number("PLAYGROUND_BOARD_TARGET_LOSS", DEFAULT_TARGET)


def db_path() -> Path:
    return sessions.runs_root() / DB_NAME


@contextlib.contextmanager
def _connect():
    """A connection per call, closed after: sqlite3 connections are not shared between Gradio's threads."""
    path = db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)  # transactions are explicit
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed post survives a crash of the server
        conn.execute(_SCHEMA)
        yield conn
    finally:
        conn.close()


@dataclass(frozen=True)
class Entry:
    nickname: str
    corpus: str
    settings: str
    params: int
    steps: int
    elapsed_s: float
    final_val: float
    val_curve: tuple  # ((step, validation loss), ...)
    sample: str
    posted: float

    def time_to(self, target: float) -> float | None:
        """Estimated seconds until the validation loss first reached `target` (None: never)."""
        for step, loss in self.val_curve:
            if loss <= target:
                return self.elapsed_s * step / max(1, self.steps)
        return None

    @property
    def best_val(self) -> float:
        return min(loss for _, loss in self.val_curve)


def nickname(raw: str | None) -> str:
    """A nickname as shown: cleaned, one line, printable, 1..MAX_NICKNAME_CHARS characters."""
    raw = text_input.clean(raw or "")
    if len(raw) > 10 * MAX_NICKNAME_CHARS:  # bounded before any work on it
        raise ValueError(f"The nickname has {len(raw):,} characters; keep it to {MAX_NICKNAME_CHARS}.")
    text = " ".join(raw.split())  # every run of whitespace (newlines too) is one space
    if len(text) > MAX_NICKNAME_CHARS:
        raise ValueError(f"The nickname has {len(text)} characters; keep it to {MAX_NICKNAME_CHARS}.")
    if not text:
        raise ValueError("Give a nickname for the board (up to 24 characters).")
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise ValueError("The nickname has control or invisible characters: use letters, digits and punctuation.")
    return text


def _val_curve(folder: Path) -> tuple:
    from core.minigpt import train  # the file name only; the module is already imported by the tab that posts

    with (folder / train.LOSS_CSV).open(encoding="utf-8") as f:
        return tuple((int(r["step"]), float(r["val_loss"])) for r in csv.DictReader(f) if r.get("val_loss"))


def _last_sample(folder: Path) -> str:
    from core.minigpt import train

    path = folder / train.SAMPLES_TXT
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    last = text.rsplit("=== step", 1)[-1].split("\n", 1)[-1] if "=== step" in text else ""
    return " ".join(last.split())[:MAX_SAMPLE_CHARS]


def _settings(model: dict, tc: dict) -> str:
    return (f"{model['n_layer']}×{model['n_head']}×{model['n_embd']}, ctx {model['block_size']} · "
            f"{tc.get('optimizer', 'adamw')} · batch {tc.get('batch_size')} · lr {tc.get('learning_rate')}"
            f"{' · bf16' if tc.get('bf16') else ''}")


def entry_from_run(folder: Path, nick: str, posted: float | None = None) -> Entry:
    """An entry from the run folder the server wrote: config.json (shape, meta) and loss_history.csv."""
    from core.minigpt.config import GPTConfig

    config = json.loads((folder / registry.MARKER_FILES["minigpt"]).read_text(encoding="utf-8"))
    model, meta = config["model"], config["meta"]
    curve = _val_curve(folder)
    if not curve or meta.get("val_loss") is None:
        raise ValueError("This run has no validation loss to rank by.")
    info = meta.get("run_info") or {}
    corpus = f"{info.get('corpus') or 'unnamed corpus'} ({model['vocab_size']} distinct characters)"
    return Entry(nickname=nick, corpus=corpus, settings=_settings(model, meta.get("train_config") or {}),
                 params=GPTConfig(**model).num_params(), steps=int(meta["steps_done"]),
                 elapsed_s=float(meta["elapsed_s"]), final_val=float(meta["val_loss"]), val_curve=curve,
                 sample=_last_sample(folder), posted=time.time() if posted is None else posted)


def post(user_id: str, run_ref: str | None, raw_nickname: str | None) -> Entry:
    """Post one of the learner's finished runs (by its id or listed folder) under a nickname."""
    if not enabled():
        raise ValueError("The class board is off on this server (the teacher turns it on with PLAYGROUND_BOARD=1).")
    nick = nickname(raw_nickname)
    if not run_ref:
        raise ValueError("Train a run to the end first (or pick one of your finished runs): the board takes a finished run.")
    ckpt = registry.resolve("minigpt", run_ref, user_id)  # only this learner's runs and the shipped ones
    if ckpt.shipped:
        raise ValueError("The shipped model is not yours to post: train a run of your own.")
    if ckpt.workflow:  # tab 11's models: a BPE model's loss is per token, not comparable on this board
        raise ValueError("The board ranks tab 4's runs: post a run trained here, not a model of your workflow (tab 11).")
    if not ckpt.summary.finished:
        raise ValueError("Only a finished run can be posted (this one was stopped before its last step).")
    entry = entry_from_run(ckpt.path, nick)
    with _connect() as conn:
        _insert(conn, user_id, ckpt.name, entry)
    return entry


def _insert(conn: sqlite3.Connection, owner: str, run: str, e: Entry) -> None:
    conn.execute("BEGIN IMMEDIATE")  # the counts and the insert in one write transaction: no race past a limit
    try:
        if conn.execute("SELECT 1 FROM entries WHERE owner = ? AND run = ?", (owner, run)).fetchone():
            raise ValueError("This run is already on the board.")
        mine = conn.execute("SELECT COUNT(*) FROM entries WHERE owner = ?", (owner,)).fetchone()[0]
        if mine >= MAX_ENTRIES_PER_LEARNER:
            raise ValueError(f"You have {mine} runs on the board already, the most one learner may post.")
        if conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0] >= MAX_ENTRIES:
            raise ValueError("The board is full: ask the teacher to clear it.")
        conn.execute("INSERT INTO entries (posted, owner, run, nickname, corpus, settings, params, steps, elapsed_s, "
                     "final_val, val_curve, sample) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (e.posted, owner, run, e.nickname, e.corpus, e.settings, e.params, e.steps, e.elapsed_s,
                      e.final_val, json.dumps(e.val_curve), e.sample))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def entries() -> list[Entry]:
    if not db_path().is_file():
        return []
    with _connect() as conn:
        rows = conn.execute("SELECT nickname, corpus, settings, params, steps, elapsed_s, final_val, val_curve, "
                            "sample, posted FROM entries ORDER BY posted").fetchall()
    return [Entry(*row[:7], val_curve=tuple(tuple(p) for p in json.loads(row[7])), sample=row[8], posted=row[9])
            for row in rows]


def rank_key(entry: Entry, target: float) -> tuple:
    """Reached the target first (fastest first), then the rest by best validation loss."""
    reached = entry.time_to(target)
    return (0, reached, entry.posted) if reached is not None else (1, entry.best_val, entry.posted)


def standings(target: float | None = None) -> dict[str, list[Entry]]:
    """The board by corpus (runs compare only on the same text), each ranked by rank_key."""
    target = target_loss() if target is None else target
    by_corpus: dict[str, list[Entry]] = {}
    for entry in entries():
        by_corpus.setdefault(entry.corpus, []).append(entry)
    return {corpus: sorted(group, key=lambda e: rank_key(e, target)) for corpus, group in sorted(by_corpus.items())}


def clear(given_password: str | None, limiter) -> int:
    """The teacher empties the board; returns how many entries were removed."""
    admin.check(given_password, limiter)
    if not db_path().is_file():
        return 0
    with _connect() as conn:
        return conn.execute("DELETE FROM entries").rowcount

"""One reader for a learner's text: the built-in corpus, a paste, or an uploaded file.

Every tab (4, 6, 7, ...) and every command reads text through here, so the same file gives the
same characters everywhere: decoded as UTF-8 (or refused with what to do), a byte-order mark and
Windows line ends removed (they are not content), and bounded in size before anything is computed.

    text = learner_text(BUILTIN)                       # the playground's own corpus
    text = learner_text(PASTE, pasted="some text")
    text = learner_text(UPLOAD, upload="/tmp/notes.txt")
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

DATA_DIR = Path(__file__).resolve().parent / "data"
BUILTIN_CORPUS = DATA_DIR / "builtin_corpus.txt"  # the one path of the built-in corpus

BUILTIN, PASTE, UPLOAD = "builtin", "paste", "upload"
SOURCES = (BUILTIN, PASTE, UPLOAD)

MAX_CHARS = 2_000_000  # ~2 MB of text: minutes of CPU training already cover far less than this
MAX_FILE_BYTES = 5 * 2**20  # the app's upload limit (launch(max_file_size="5mb")) and the CLI's


def clean(text: str) -> str:
    """Windows line ends and a byte-order mark are not content: the same text typed on any system."""
    return text.lstrip("\ufeff").replace("\r\n", "\n")


def check_length(text: str, what: str = "The text", max_chars: int = MAX_CHARS) -> str:
    if len(text) > max_chars:
        raise ValueError(f"{what} has {len(text):,} characters; the limit is {max_chars:,}. Use a shorter extract.")
    return text


def decode(raw: bytes, name: str) -> str:
    """UTF-8 bytes as cleaned text; anything else is refused with where it broke and what to do."""
    try:
        return clean(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{name} is not UTF-8 text (byte {raw[err.start]:#04x} at position {err.start}). "
            "Save it as UTF-8 (e.g. 'Save as... UTF-8' in your editor) and upload it again."
        ) from None


def read_file(path, max_bytes: int = MAX_FILE_BYTES, max_chars: int = MAX_CHARS) -> str:
    """A text file (an upload or a command's argument) as cleaned text, bounded in bytes and characters."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"No file named {path.name}: upload it again or check the path.")
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{path.name} is {size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB. "
                         "Use a shorter extract.")
    return check_length(decode(path.read_bytes(), path.name), path.name, max_chars)


def builtin_corpus() -> str:
    """The playground's own corpus: plain prose about Python, neural networks and transformers."""
    return BUILTIN_CORPUS.read_text(encoding="utf-8")


def learner_text(source: str, pasted: str | None = None, upload=None, max_chars: int = MAX_CHARS) -> str:
    """The text a learner chose: `source` is BUILTIN, PASTE or UPLOAD. Raises ValueError, worded for
    the learner, for an empty paste, a missing upload, a file that is not UTF-8, or too much text."""
    if source == PASTE:
        text = clean(pasted or "")
        if not text.strip():
            raise ValueError("The paste box is empty: paste some text, or pick the built-in corpus.")
        return check_length(text, "The pasted text", max_chars)
    if source == UPLOAD:
        if not upload:
            raise ValueError("No file uploaded yet: upload a UTF-8 .txt file, or pick the built-in corpus.")
        return read_file(upload, max_chars=max_chars)
    if source == BUILTIN:
        return builtin_corpus()
    raise ValueError(f"Unknown text source {source!r}; choose one of {', '.join(SOURCES)}.")


def jsonl_records(text: str, check_row: Callable[[object], object], max_records: int | None = None,
                  source: str = "upload") -> tuple[list, list[str]]:
    """JSON Lines, one record per non-empty line, each passed through `check_row` (which returns the record
    as the caller wants it, or raises ValueError saying what is wrong). A malformed line is skipped and
    reported as "line N: why", so a learner fixes every bad line of a file at once, by number."""
    records, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(check_row(json.loads(line)))
        except json.JSONDecodeError as err:
            problems.append(f"line {number}: not valid JSON ({err.msg})")
        except ValueError as err:
            problems.append(f"line {number}: {err}")
        if max_records is not None and len(records) > max_records:
            raise ValueError(f"{source} has more than {max_records:,} records; use at most {max_records:,}.")
    return records, problems


def problems_text(problems: list[str], limit: int = 10) -> str:
    """The first `limit` "line N: why" problems, and how many more."""
    shown = problems[:limit]
    more = len(problems) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")

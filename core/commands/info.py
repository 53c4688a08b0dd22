"""`python -m core info`: what this machine offers the labs, and what to do about what it lacks.

The same checks as tab 9's environment check (core.environment): Python, PyTorch and its build, the
device, threads, 4-bit, disk and memory, every library of the guide (really imported), the tiktoken
encodings available offline and the Hugging Face Hub (a request bounded to a few seconds).
"""
from __future__ import annotations

import json
import textwrap

ORDER = 0
MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "info": "info"}


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="check this machine: device, threads, libraries, tiktoken, Hub, disk; what to fix")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument("--hub-timeout", type=float, default=None, metavar="S",
                   help="seconds to wait for the Hugging Face Hub (default 3)")
    p.add_argument("--skip-imports", action="store_true",
                   help="do not import each library (seconds saved; a broken install then goes unnoticed)")
    p.set_defaults(func=run)


def format_check(check: dict) -> list[str]:
    """One check as terminal lines: status, area, name, what was found; then what to do, indented."""
    lines = [f"  {MARKS[check['status']]}  {check['area']:<8} {check['name']:<22} {check['found']}"]
    if check["fix"] and check["status"] != "ok":
        lines += textwrap.wrap(check["fix"], width=100, initial_indent=" " * 10 + "-> ", subsequent_indent=" " * 13)
    return lines


def run(args) -> int:
    from core import environment

    timeout = environment.HUB_TIMEOUT_S if args.hub_timeout is None else args.hub_timeout
    if not 0 < timeout <= 60:
        raise ValueError("--hub-timeout must be between 0 and 60 seconds.")
    info = environment.describe(hub_timeout=timeout, really_import=not args.skip_imports)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(environment.summary_line(info))
    for check in info["checks"]:
        print("\n".join(format_check(check)))
    for kind, names in info["shipped_checkpoints"].items():
        print(f"  shipped {kind:<6} {', '.join(names) or '(none)'}")
    n = info["counts"]
    print(f"{n['ok']} ok, {n['warn']} to look at, {n['fail']} to fix, {n['info']} for information.")
    return 0

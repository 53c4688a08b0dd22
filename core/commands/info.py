"""`python -m core info`: what this machine offers the labs."""
from __future__ import annotations

import json

ORDER = 0


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="show device, threads, library versions and shipped checkpoints")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from core import environment

    info = environment.describe()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(environment.summary_line(info))
    for name, version in info["libraries"].items():
        print(f"  {name:<13} {version or 'not installed'}")
    for kind, names in info["shipped_checkpoints"].items():
        print(f"  shipped {kind:<6} {', '.join(names) or '(none)'}")
    return 0

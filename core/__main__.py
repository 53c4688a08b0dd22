"""Command line: `python -m core <command>`, the guide's runnable scripts in one place.

Each module in `core/commands/` contributes its commands through `register(subparsers)`; this
file only discovers them, so adding a command never means editing a shared list. Modules import
heavy libraries inside their command functions, so `--help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import core.commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="LLM Training Playground from the terminal: the same computations as the app.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    modules = [importlib.import_module(f"core.commands.{m.name}") for m in pkgutil.iter_modules(core.commands.__path__)]
    # ORDER follows the guide's parts, so `--help` lists commands in the order a reader meets them
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 99), m.__name__)):
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args) or 0
    except (ValueError, FileNotFoundError) as err:
        # bad input is the learner's to fix: say what is wrong, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""`python -m core params NAME|CONFIG_JSON`: Part 1, where a model's parameters live."""
from __future__ import annotations

import json
from pathlib import Path

ORDER = 1


def register(subparsers) -> None:
    from core.architecture import PRESETS

    p = subparsers.add_parser("params", help="count a model's parameters, part by part, from its shape alone")
    p.add_argument("model", help=f"a preset ({', '.join(PRESETS)}), a config.json file, or a folder holding one "
                                 "(a Hugging Face model of type gpt2, llama, mistral or qwen2, or a MiniGPT checkpoint)")
    p.add_argument("--json", action="store_true", help="print the breakdown as JSON")
    p.set_defaults(func=run)


def load_config(model: str) -> dict:
    """A preset by name, else a config.json file (or the config.json inside a folder), read as a learner's text."""
    from core import architecture, text_input

    if model in architecture.PRESETS:
        return architecture.preset(model)
    path = Path(model)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise ValueError(f"{model!r} is neither a preset ({', '.join(architecture.PRESETS)}) nor a config.json file.")
    return architecture.parse_config_json(text_input.read_file(path, max_chars=architecture.MAX_CONFIG_CHARS))


def run(args) -> int:
    from core import architecture

    config = load_config(args.model)
    parts = architecture.breakdown(config)
    if args.json:
        print(json.dumps(parts, indent=2))
        return 0
    total, notes = parts["total"], architecture.formulas(config)
    print(architecture.describe(config))
    for name in architecture.PARTS:
        print(f"  {name:<12} {parts[name]:>16,}  {100 * parts[name] / total:5.1f}%  {notes[name]}")
    print(f"  {'total':<12} {total:>16,}")
    gap = architecture.rule_of_thumb_gap(config)
    print(f"  12·L·d²      {architecture.rule_of_thumb(config):>16,}  "
          f"({abs(100 * gap):.1f}% {'below' if gap < 0 else 'above'} the exact count)")
    return 0

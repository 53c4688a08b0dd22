"""Which checkpoints a learner can see: the shipped ones plus that learner's own runs.

A checkpoint is a folder. Shipped ones live in `checkpoints/<kind>/<name>/`, a learner's in
`runs/<user_id>/<kind>/<name>/` (see core.sessions). Another learner's runs are never listed.

Each checkpoint is described by what it is, read from the run's own record (a MiniGPT's
config.json, a LoRA adapter's run.json): shape or preset, corpus or base model, steps done of
planned, final train loss, finished or stopped. Those are what its label shows, and what `best`
compares. Reading is JSON only: listing checkpoints never imports torch.

A learner's MiniGPT list also holds the models of their tab-11 workflow (core.pipeline): one run per
tokenizer in `runs/<user_id>/pipeline/<char|bpe>/`, labelled "workflow · BPE 512 · …" so the tokenizer
is said. They are not "best" candidates (see `best`): `user_checkpoints` stays the tab-4 runs.

What the browser holds is a checkpoint's `id`, never its path: "shipped/<name>", "run/<folder name>" or
"workflow/<char|bpe>" (the learner's own folder is implied by their id). A server path in a dropdown would be published
in Gradio's /config and in every event; `resolve` maps an id (or a listed path) back to its folder.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from core import sessions

# The file whose presence marks a finished checkpoint of each kind (written last, atomically).
MARKER_FILES = {
    "minigpt": "config.json",
    "pocket": "config.json",
    "lora": "adapter_config.json",
    "dpo": "adapter_config.json",  # a DPO run (core.finetune.dpo): a LoRA adapter with run.json
}
LORA_RUN_JSON = "run.json"  # core.finetune.train writes it just before adapter_config.json
SHIPPED_PREFIX, RUN_PREFIX, WORKFLOW_PREFIX = "shipped/", "run/", "workflow/"  # a Checkpoint.id


@dataclass(frozen=True)
class RunSummary:
    """What a run is, as far as its record tells. Unknown parts stay None (e.g. runs from older versions)."""

    what: str | None = None  # "default preset" or "4×4×128, ctx 192" (MiniGPT); the base model (LoRA)
    data: str | None = None  # the corpus or data set it learned from
    steps_done: int | None = None
    total_steps: int | None = None
    final_loss: float | None = None  # the last reported train loss
    stopped: bool = False  # ended before its planned steps (Stop, a closed tab, a diverging loss)
    tokenizer: str = "char"  # MiniGPT: "char" or "bpe" (the checkpoint's "tokenizer" entry; older ones are char)
    vocab_size: int | None = None

    @property
    def finished(self) -> bool:
        """Ran all its planned steps (as far as the record says)."""
        return not self.stopped and self.steps_done is not None and self.final_loss is not None

    def describe(self) -> str:
        """e.g. 'default preset · built-in corpus · 480/480 steps · loss 0.094 · finished'. A BPE model says
        so first, and its loss is per token (a character model's is per character: not the same unit)."""
        bpe = self.tokenizer == "bpe"
        parts = [p for p in (f"BPE {self.vocab_size}" if bpe else None, self.what, self.data) if p]
        if self.steps_done is not None:
            total = f"/{self.total_steps}" if self.total_steps else ""
            parts.append(f"{self.steps_done}{total} steps")
        if self.final_loss is not None:
            parts.append(f"loss {self.final_loss:.3f}" + (" per token" if bpe else ""))
        if self.steps_done is not None:
            parts.append("stopped" if self.stopped else "finished")
        return " · ".join(parts)


@dataclass(frozen=True)
class Checkpoint:
    name: str
    path: Path
    shipped: bool
    summary: RunSummary = RunSummary()
    workflow: bool = False  # a model of the learner's tab-11 workflow (core.pipeline), not a tab-4 run

    @property
    def id(self) -> str:
        """What a dropdown holds: relative to the shipped folder or to the learner's runs, no server path."""
        prefix = SHIPPED_PREFIX if self.shipped else WORKFLOW_PREFIX if self.workflow else RUN_PREFIX
        return f"{prefix}{self.name}"

    @property
    def label(self) -> str:
        """What a learner sees in a checkpoint list: what the run is first, then when (own runs) or 'shipped'."""
        described = self.summary.describe()
        if self.shipped:
            return f"{self.name} (shipped) · {described}" if described else f"{self.name} (shipped)"
        if self.workflow:  # named "char" / "bpe": when it was saved is the config's time
            tokens = "characters" if self.summary.tokenizer == "char" else None  # describe() says "BPE n"
            return " · ".join(p for p in ("workflow", tokens, described, _saved_at(self.path)) if p) + " (your run)"
        when = _started_at(self.name)
        return " · ".join(p for p in (described or self.name, when) if p) + " (your run)"


def _saved_at(folder: Path) -> str | None:
    """When the checkpoint in `folder` was last saved, as 'Dec 1, 19:52' (local time, like run names)."""
    try:
        t = time.localtime((folder / MARKER_FILES["minigpt"]).stat().st_mtime)
    except OSError:
        return None
    return f"{time.strftime('%b', t)} {t.tm_mday}, {time.strftime('%H:%M', t)}"


def _started_at(folder_name: str) -> str | None:
    """'20261201-195210' (core.sessions' default run name) → 'Dec 1, 19:52'; None for other names."""
    try:
        t = time.strptime(folder_name[:15], "%Y%m%d-%H%M%S")
    except ValueError:
        return None
    return f"{time.strftime('%b', t)} {t.tm_mday}, {time.strftime('%H:%M', t)}"


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def minigpt_summary(config: dict) -> RunSummary:
    """A MiniGPT run from its config.json: {"model": GPTConfig, "meta": core.minigpt.train.save_run's}."""
    model, meta = config.get("model") or {}, config.get("meta") or {}
    info = meta.get("run_info") or {}
    shape = None
    if all(k in model for k in ("n_layer", "n_head", "n_embd", "block_size")):
        shape = f"{model['n_layer']}×{model['n_head']}×{model['n_embd']}, ctx {model['block_size']}"
        if model.get("arch") == "llama":  # GPT-2-style runs keep their old label
            shape = f"Llama style {shape}" + (f", {model['n_kv_head']} kv heads" if model.get("n_kv_head") else "")
    what = f"{info['preset']} preset" if info.get("preset") else shape
    steps_done = meta.get("steps_done")
    total = meta.get("total_steps") or (meta.get("train_config") or {}).get("steps")
    stopped = bool(meta.get("stop_reason")) or (steps_done is not None and total is not None and steps_done < total)
    tokenizer = (config.get("tokenizer") or {}).get("kind") or "char"
    vocab = model.get("vocab_size")
    return RunSummary(what=what, data=info.get("corpus"), steps_done=steps_done, total_steps=total,
                      final_loss=_number(meta.get("train_loss")), stopped=stopped, tokenizer=str(tokenizer),
                      vocab_size=vocab if isinstance(vocab, int) else None)


def lora_summary(run: dict) -> RunSummary:
    """A LoRA adapter from its run.json (core.finetune.train.save_adapter)."""
    steps, losses = run.get("steps") or [], run.get("losses") or []
    planned = (run.get("settings") or {}).get("max_steps") or None
    return RunSummary(what=run.get("base_model"), data=run.get("data"), steps_done=steps[-1] if steps else None,
                      total_steps=planned, final_loss=_number(losses[-1]) if losses else None,
                      stopped=bool(run.get("stopped_early")))


def summary_of(folder: Path, kind: str) -> RunSummary:
    if kind == "minigpt":
        return minigpt_summary(_read_json(folder / MARKER_FILES[kind]))
    if kind in ("lora", "dpo"):
        return lora_summary(_read_json(folder / LORA_RUN_JSON))
    return RunSummary()


def _complete(folder: Path, kind: str) -> bool:
    return folder.is_dir() and (folder / MARKER_FILES.get(kind, "config.json")).is_file()


def _checkpoint(folder: Path, kind: str, shipped: bool, workflow: bool = False) -> Checkpoint:
    return Checkpoint(folder.name, folder, shipped, summary_of(folder, kind), workflow)


def shipped_checkpoints(kind: str) -> list[Checkpoint]:
    root = sessions.CHECKPOINTS_DIR / kind
    if not root.is_dir():
        return []
    return [_checkpoint(p, kind, True) for p in sorted(root.iterdir()) if _complete(p, kind)]


def user_checkpoints(kind: str, user_id: str | None) -> list[Checkpoint]:
    """The learner's runs that hold a checkpoint (a folder without one is a failed start, never listed)."""
    if not sessions.is_valid_user_id(user_id):
        return []
    root = sessions.user_dir(user_id) / kind
    if not root.is_dir():
        return []
    # newest first: the run a learner just finished is the one they most likely want
    folders = sorted((p for p in root.iterdir() if _complete(p, kind)), key=lambda p: p.stat().st_mtime, reverse=True)
    return [_checkpoint(p, kind, False) for p in folders]


def workflow_checkpoints(user_id: str | None) -> list[Checkpoint]:
    """The MiniGPTs of the learner's tab-11 workflow (core.pipeline.learner_folder), character and BPE,
    newest first. A run still training is listed once it has saved (like a tab-4 run)."""
    from core import pipeline

    if not sessions.is_valid_user_id(user_id):
        return []
    root = pipeline.learner_folder(user_id)
    folders = [root / kind for kind in pipeline.TOKENIZERS if _complete(root / kind, "minigpt")]
    folders.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [_checkpoint(p, "minigpt", False, workflow=True) for p in folders]


def list_checkpoints(kind: str, user_id: str | None = None, workflow: bool = True) -> list[Checkpoint]:
    """The learner's own runs (newest first), then (MiniGPT, unless workflow=False) the workflow's
    models, then the shipped checkpoints."""
    own = workflow_checkpoints(user_id) if kind == "minigpt" and workflow else []
    return user_checkpoints(kind, user_id) + own + shipped_checkpoints(kind)


def best(kind: str, user_id: str | None = None) -> Checkpoint | None:
    """The learner's best finished run (lowest final train loss), else the first shipped checkpoint.

    A stopped run is never 'best': a 10-step run stopped early would show other tabs an untrained model.
    The workflow's models are not candidates: a BPE model's loss is per token, not comparable with a
    character model's, and a tab that opens on the best one (1, 4, 5) expects tab 4's kind of model."""
    finished = [c for c in user_checkpoints(kind, user_id) if c.summary.finished]
    if finished:
        return min(finished, key=lambda c: c.summary.final_loss)
    shipped = shipped_checkpoints(kind)
    return shipped[0] if shipped else None


def resolve(kind: str, ref: str | Path, user_id: str | None = None) -> Checkpoint:
    """Map a checkpoint's id chosen in the UI ("shipped/default", "run/<folder>"), or the path of a listed
    folder (a run the server just saved), back to the checkpoint; refuses anything not in the learner's list."""
    listed = list_checkpoints(kind, user_id)
    text = str(ref)
    for ckpt in listed:
        if ckpt.id == text:
            return ckpt
    if Path(text).is_absolute():
        wanted = Path(text).resolve()
        for ckpt in listed:
            if ckpt.path.resolve() == wanted:
                return ckpt
    raise ValueError("That checkpoint is not available in this session; pick one from the list.")

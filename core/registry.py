"""Which checkpoints a learner can see: the shipped ones plus that learner's own runs.

A checkpoint is a folder. Shipped ones live in `checkpoints/<kind>/<name>/`, a learner's in
`runs/<user_id>/<kind>/<name>/` (see core.sessions). Another learner's runs are never listed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core import sessions

# The file whose presence marks a finished checkpoint of each kind (written last, atomically).
MARKER_FILES = {
    "minigpt": "config.json",
    "pocket": "config.json",
    "lora": "adapter_config.json",
}


@dataclass(frozen=True)
class Checkpoint:
    name: str
    path: Path
    shipped: bool

    @property
    def label(self) -> str:
        return f"{self.name} (shipped)" if self.shipped else f"{self.name} (your run)"


def _complete(folder: Path, kind: str) -> bool:
    return folder.is_dir() and (folder / MARKER_FILES.get(kind, "config.json")).is_file()


def shipped_checkpoints(kind: str) -> list[Checkpoint]:
    root = sessions.CHECKPOINTS_DIR / kind
    if not root.is_dir():
        return []
    return [Checkpoint(p.name, p, True) for p in sorted(root.iterdir()) if _complete(p, kind)]


def user_checkpoints(kind: str, user_id: str | None) -> list[Checkpoint]:
    if not sessions.is_valid_user_id(user_id):
        return []
    root = sessions.user_dir(user_id) / kind
    if not root.is_dir():
        return []
    # newest first: the run a learner just finished is the one they most likely want
    folders = sorted((p for p in root.iterdir() if _complete(p, kind)), key=lambda p: p.stat().st_mtime, reverse=True)
    return [Checkpoint(p.name, p, False) for p in folders]


def list_checkpoints(kind: str, user_id: str | None = None) -> list[Checkpoint]:
    """The learner's own runs (newest first), then the shipped checkpoints."""
    return user_checkpoints(kind, user_id) + shipped_checkpoints(kind)


def resolve(kind: str, path: str | Path, user_id: str | None = None) -> Checkpoint:
    """Map a path chosen in the UI back to a checkpoint, refusing anything not in the learner's list."""
    wanted = Path(path).resolve()
    for ckpt in list_checkpoints(kind, user_id):
        if ckpt.path.resolve() == wanted:
            return ckpt
    raise ValueError("That checkpoint is not available in this session; pick one from the list.")

"""core/ stays UI-free; the CLI works; sessions, registry and atomic writes behave."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_core_never_imports_gradio():
    offenders = []
    for path in (ROOT / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in ("gradio", "gradio_client", "lessons")]
    assert not offenders, offenders


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "core", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage: python -m core" in out.stdout and "info" in out.stdout
    assert "gradio" not in out.stderr


def test_cli_info_json():
    out = subprocess.run([sys.executable, "-m", "core", "info", "--json", "--skip-imports"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    import torch

    assert info["torch"] == torch.__version__ and info["cuda"] == torch.cuda.is_available()


def test_user_folders_are_separate_and_validated(tmp_path, monkeypatch):
    from core import registry, sessions

    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path))
    alice, bob = sessions.new_user_id(), sessions.new_user_id()
    assert alice != bob and sessions.is_valid_user_id(alice)
    for bad in ("../etc", "", None, "A" * 32, alice + "/.."):
        assert not sessions.is_valid_user_id(bad)
        with pytest.raises(ValueError):
            sessions.user_dir(bad)
    run = sessions.new_run_dir(alice, "minigpt", "my run")
    assert run.parent == tmp_path / alice / "minigpt" and run.name == "my-run"
    assert sessions.new_run_dir(alice, "minigpt", "my run").name == "my-run-1"
    (run / "config.json").write_text("{}")
    assert [c.path for c in registry.user_checkpoints("minigpt", alice)] == [run]
    assert registry.user_checkpoints("minigpt", bob) == []
    assert registry.resolve("minigpt", run, alice).path == run
    with pytest.raises(ValueError):
        registry.resolve("minigpt", run, bob)


def test_atomic_write_leaves_old_file_when_writing_fails(tmp_path):
    from core.files import atomic_write, atomic_write_json

    target = atomic_write_json(tmp_path / "a.json", {"x": 1})

    def broken(tmp):
        Path(tmp).write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, broken)
    assert json.loads(target.read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_safetensors_round_trip(tmp_path):
    import torch
    from safetensors.torch import load_file

    from core.files import save_safetensors

    w = torch.randn(3, 4)
    tensors = {"w": w, "w_t": w.t()}  # shared memory and non-contiguous: both must still save
    save_safetensors(tensors, tmp_path / "m.safetensors", {"note": "x"})
    loaded = load_file(tmp_path / "m.safetensors")
    assert torch.equal(loaded["w"], w) and torch.equal(loaded["w_t"], w.t())


def test_training_jobs_never_oversubscribe_the_cores(monkeypatch):
    from core import threads

    monkeypatch.delenv("PLAYGROUND_TORCH_THREADS", raising=False)
    monkeypatch.delenv("PLAYGROUND_TRAINING_JOBS", raising=False)
    for cores in (1, 2, 4, 16):
        monkeypatch.setattr(threads, "cpu_count", lambda cores=cores: cores)
        slots = threads.training_slots()
        assert 1 <= slots <= cores
        assert slots * threads.default_threads() <= cores
    monkeypatch.setenv("PLAYGROUND_TRAINING_JOBS", "3")
    assert threads.training_slots() == 3 and threads.default_threads() == 16 // 3
    monkeypatch.setenv("PLAYGROUND_TORCH_THREADS", "2")
    assert threads.default_threads() == 2


def test_runs_go_to_a_spaces_persistent_storage_when_attached(tmp_path, monkeypatch):
    from core import sessions

    monkeypatch.delenv("PLAYGROUND_RUNS_DIR", raising=False)
    monkeypatch.setattr(sessions, "SPACE_STORAGE", tmp_path / "data")
    assert sessions.runs_root() == sessions.CHECKPOINTS_DIR / "runs"  # no /data: the project's folder
    (tmp_path / "data").mkdir()
    assert sessions.runs_root() == tmp_path / "data" / "playground-runs"
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path / "elsewhere"))
    assert sessions.runs_root() == tmp_path / "elsewhere"

"""The exported LoRA script runs on another machine: no path of this one in it, the base bundled or named."""
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from core import sessions
from core.finetune import export, models

SHIPPED = sessions.CHECKPOINTS_DIR / "lora" / "pocket-answer-format"


def _run_copy(tmp_path: Path, base_model: str) -> Path:
    """A copy of the shipped pocket run whose record names another base model."""
    run = tmp_path / "runs" / "my-run"
    shutil.copytree(SHIPPED, run)
    info = json.loads((run / "run.json").read_text())
    info["base_model"] = base_model
    (run / "run.json").write_text(json.dumps(info))
    return run


def _assert_no_server_path(text: str) -> None:
    for path in (sessions.PROJECT_ROOT, models.POCKET_DIR, sessions.runs_root()):
        assert str(path) not in text
    compile(text, "finetune_lora.py", "exec")  # and it is valid Python


def test_pocket_run_exports_a_bundle_that_trains_elsewhere(tmp_path):
    bundle = export.export_run(SHIPPED, tmp_path / "downloads")
    assert bundle.suffix == ".zip" and bundle.parent == tmp_path / "downloads"
    elsewhere = tmp_path / "another-machine"
    zipfile.ZipFile(bundle).extractall(elsewhere)
    (folder,) = elsewhere.iterdir()
    script = folder / export.SCRIPT_NAME
    text = script.read_text()
    _assert_no_server_path(text)
    assert "NEXT_TO_SCRIPT = True" in text and "bundled in the folder base-model/" in text
    shipped = {p.name for p in models.POCKET_DIR.iterdir()}
    assert shipped <= {p.name for p in (folder / export.BASE_FOLDER).iterdir()}
    # run from another folder: the script finds its base model beside itself, not in the cwd
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    result = subprocess.run([sys.executable, str(script), "--max-steps", "2", "--output-dir", "adapter"],
                            capture_output=True, text=True, timeout=300, cwd=workdir)
    assert result.returncode == 0, result.stderr[-2000:]
    out = workdir / "adapter"
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 8 and set(config["target_modules"]) == set(json.loads(
        (SHIPPED / "run.json").read_text())["settings"]["lora"]["target_modules"])
    from safetensors.torch import load_file

    weights = load_file(out / "adapter_model.safetensors")
    lora_b = [t for name, t in weights.items() if "lora_B" in name]
    assert lora_b and any(t.abs().sum() > 0 for t in lora_b)  # B starts at zero: nonzero means it trained


def test_hub_base_names_the_hub_id_and_needs_no_bundle(tmp_path):
    run = _run_copy(tmp_path, models.SMOLLM2)
    script = export.export_run(run, tmp_path / "downloads")
    text = script.read_text()
    assert script.name == "finetune_lora-my-run.py"
    assert f"MODEL = {models.SMOLLM2!r}" in text and "NEXT_TO_SCRIPT = False" in text
    assert "from the Hugging Face Hub" in text
    _assert_no_server_path(text)


def test_a_local_base_too_big_to_bundle_says_what_to_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(export, "MAX_BUNDLE_BYTES", 1000)
    script = export.export_run(SHIPPED, tmp_path / "downloads")
    text = script.read_text()
    assert script.suffix == ".py" and "too big to bundle" in text and "pass --model PATH" in text
    assert "MODEL = 'base-model'" in text and "NEXT_TO_SCRIPT = True" in text
    _assert_no_server_path(text)


def test_a_run_without_its_record_is_refused_by_name(tmp_path):
    run = _run_copy(tmp_path, "pocket")
    (run / "data.jsonl").unlink()
    with pytest.raises(ValueError, match="my-run has no record") as err:
        export.export_run(run, tmp_path / "downloads")
    assert str(tmp_path) not in str(err.value)


def test_the_command_line_script_keeps_this_machines_path():
    text = export.script_text(models.POCKET, [], export.TrainSettings(), portable=False)
    assert f"MODEL = {str(models.POCKET_DIR)!r}" in text and "NEXT_TO_SCRIPT = False" in text


# ---------- a DPO adapter: its preference pairs and the `python -m core dpo` command line ----------

SHIPPED_DPO = sessions.CHECKPOINTS_DIR / "lora" / "pocket-dpo"


def _reproduce(bundle: Path, where: Path, *extra: str):
    """Unzip the DPO export elsewhere and run its reproduce.sh with a stand-in `python` that prints its
    arguments; parse them with the playground's own command-line parser."""
    from core.__main__ import build_parser

    zipfile.ZipFile(bundle).extractall(where)
    (folder,) = where.iterdir()
    bin_dir = where.parent / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python").write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    result = subprocess.run(["sh", str(folder / export.DPO_SCRIPT), *extra], capture_output=True, text=True, timeout=30,
                            cwd=where.parent, env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, check=True)
    argv = result.stdout.splitlines()
    assert argv[:2] == ["-m", "core"]
    return folder, build_parser().parse_args(argv[2:])


def test_the_shipped_dpo_adapter_exports_its_pairs_and_command_line(tmp_path):
    from core import alignment
    from core.finetune.dpo import DPOSettings

    info = json.loads((SHIPPED_DPO / "run.json").read_text())
    bundle = export.export_run(SHIPPED_DPO, tmp_path / "downloads")
    assert bundle.name == "dpo-pocket-dpo.zip"
    folder, args = _reproduce(bundle, tmp_path / "elsewhere")
    text = (folder / export.DPO_SCRIPT).read_text()
    for path in (sessions.PROJECT_ROOT, models.POCKET_DIR, sessions.runs_root()):
        assert str(path) not in text
    assert args.command == "dpo" and args.base == "pocket" and args.adapter is None  # the shipped SFT: the default
    settings = DPOSettings(beta=args.beta, learning_rate=args.lr, max_steps=args.steps, batch_size=args.batch_size,
                           seed=args.seed)
    assert settings.to_dict() == {**info["settings"], "max_length": settings.max_length}
    assert Path(args.out) == folder / "pocket-dpo" and Path(args.data) == folder / export.DPO_DATA
    pairs = alignment.read_preferences(args.data).pairs
    assert len(pairs) == info["examples"] and pairs == alignment.builtin_preferences().pairs
    assert _reproduce(bundle, tmp_path / "again", "--steps", "1")[1].steps == 1  # flags given override the run's


def test_a_learners_dpo_run_bundles_its_own_sft_adapter_or_says_why_not(tmp_path):
    learner = tmp_path / "learner"
    run = learner / "dpo" / "my-dpo"
    shutil.copytree(SHIPPED_DPO, run)
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "sft_adapter": "my-sft"}))
    with pytest.raises(ValueError, match="SFT adapter my-sft, which is no longer here"):
        export.export_run(run, tmp_path / "downloads")
    shutil.copytree(SHIPPED, learner / "lora" / "my-sft")
    folder, args = _reproduce(export.export_run(run, tmp_path / "downloads"), tmp_path / "elsewhere")
    assert Path(args.adapter) == folder / export.SFT_FOLDER
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert (folder / export.SFT_FOLDER / name).read_bytes() == (SHIPPED / name).read_bytes()
    (run / export.DPO_DATA).unlink()
    with pytest.raises(ValueError, match="my-dpo has no record of its preference pairs"):
        export.export_run(run, tmp_path / "downloads")

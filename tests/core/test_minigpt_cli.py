"""`python -m core train` / `python -m core generate`: the guide's scripts on the same checkpoints as the app."""
import pytest

from core.__main__ import main
from core.minigpt import checkpoint
from core.sessions import CHECKPOINTS_DIR

TINY = ["--steps", "12", "--n-layer", "1", "--n-embd", "32", "--block-size", "16", "--batch-size", "4", "--eval-every", "6"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "--out", str(out), *TINY]) == 0
    return out


def test_train_writes_a_checkpoint_folder(run_dir, capsys):
    assert {p.name for p in run_dir.iterdir()} >= {"config.json", "model.safetensors", "loss_history.csv", "samples.txt"}
    assert checkpoint.load(run_dir).meta["steps_done"] == 12


def test_generate_prints_prompt_then_continuation(run_dir, capsys):
    assert main(["generate", "Python is", "30", "--checkpoint", str(run_dir), "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("Python is") and len(first.rstrip("\n")) == len("Python is") + 30
    assert main(["generate", "Python is", "30", "--checkpoint", str(run_dir), "--seed", "1", "--no-cache"]) == 0
    assert capsys.readouterr().out == first


def test_generate_defaults_to_the_shipped_checkpoint(capsys):
    if not (CHECKPOINTS_DIR / "minigpt" / "default" / "config.json").is_file():
        pytest.skip("no shipped checkpoint in this checkout")
    assert main(["generate", "Python is", "20", "--seed", "0"]) == 0
    assert capsys.readouterr().out.startswith("Python is")


def test_bad_input_gives_clear_messages(run_dir, tmp_path, capsys):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("d\u00e9j\u00e0 vu ".encode("latin-1") * 100)
    assert main(["train", "--corpus", str(latin1), "--out", str(tmp_path / "x"), *TINY]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    short = tmp_path / "short.txt"
    short.write_text("to be or not")
    assert main(["train", "--corpus", str(short), *TINY]) == 2
    assert "it needs at least 34" in capsys.readouterr().err
    assert main(["generate", "hi", "0", "--checkpoint", str(run_dir)]) == 2
    assert "between 1 and" in capsys.readouterr().err
    assert main(["generate", "hi", "5", "--checkpoint", str(tmp_path)]) == 2
    assert "not a MiniGPT checkpoint" in capsys.readouterr().err
    assert main(["train", "--preset", "huge", *TINY]) == 2
    assert "Unknown preset" in capsys.readouterr().err
    assert main(["generate", "Python \u00e9", "5", "--checkpoint", str(run_dir), "--seed", "0"]) == 0
    captured = capsys.readouterr()
    assert "never saw: '\u00e9'" in captured.err and captured.out.startswith("Python ")


def test_train_with_muon_and_short_windows_from_the_command_line(tmp_path, capsys):
    tiny = [a if a != "12" else "4" for a in TINY]
    assert main(["train", "--out", str(tmp_path / "a"), *tiny]) == 0
    assert "note: The short windows (48) are not shorter than the context (16): training without them." in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "b"), *tiny, "--optimizer", "muon", "--short-window", "8",
                 "--muon-lr", "0.03"]) == 0
    recipe = checkpoint.load(tmp_path / "b").meta["train_config"]
    assert (recipe["optimizer"], recipe["short_window"], recipe["muon_lr"]) == ("muon", 8, 0.03)

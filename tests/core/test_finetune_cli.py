"""`python -m core finetune / inference / pocket`: the guide's scripts, on the pocket model."""
from core.__main__ import build_parser, main


def test_finetune_then_inference_with_compare(tmp_path, capsys):
    out, script = tmp_path / "adapter", tmp_path / "finetune_lora.py"
    code = main(["finetune", "--model", "pocket", "--steps", "2", "--batch-size", "2", "--max-length", "64",
                 "--eval-fraction", "0", "--targets", "q_proj,v_proj", "--out", str(out), "--export", str(script)])
    assert code == 0 and (out / "adapter_config.json").is_file() and "accelerate launch" in script.read_text()
    capsys.readouterr()
    assert main(["inference", "--adapter", str(out), "--compare", "--max-new-tokens", "5", "What is a token?"]) == 0
    printed = capsys.readouterr().out
    assert "--- base (pocket)" in printed and "--- base + adapter" in printed


def test_bad_input_is_a_message_not_a_traceback(capsys):
    assert main(["finetune", "--model", "./no/such/model", "--steps", "1"]) == 2
    assert "No file or folder" in capsys.readouterr().err
    assert main(["inference", "--adapter", "/tmp", "hi"]) == 2


def test_pocket_build_command_is_documented():
    args = build_parser().parse_args(["pocket", "--out", "x"])
    assert args.out == "x" and args.steps == 400

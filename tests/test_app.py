"""The app assembles all eleven tabs in order, starts offline, and answers a client."""
import subprocess
import sys
from pathlib import Path

import gradio as gr

ROOT = Path(__file__).resolve().parent.parent

EXPECTED_TABS = [
    "1 · What is an LLM", "2 · Three phases", "3 · Core math", "4 · MiniGPT", "5 · Attention",
    "6 · Tokenization", "7 · LoRA fine-tuning", "8 · Key concepts", "9 · Libraries",
    "10 · Cost & compute", "11 · Workflow",
]


def test_eleven_tabs_in_the_guides_order():
    import app

    tabs = [block.label for block in app.demo.blocks.values() if isinstance(block, gr.Tab)]
    assert tabs == EXPECTED_TABS


def test_every_tab_starts_with_its_lesson_text():
    from lessons import LESSONS
    from lessons.common import read_text

    for _, module in LESSONS:
        text = read_text(module)
        assert text.startswith("## Part "), module
        assert len(text.split()) > 150, f"{module} lesson text is too short"
        # $ is the LaTeX delimiter: an odd count would swallow the rest of the page into a formula
        assert text.count("$") % 2 == 0, module


def test_importing_the_app_does_not_import_the_training_stack():
    code = (
        "import sys, app\n"
        "heavy = [m for m in ('transformers', 'peft', 'trl', 'datasets', 'bitsandbytes', 'accelerate') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_command_line_options_and_environment(monkeypatch):
    import app

    args = app.parse_args(["--host", "0.0.0.0", "--port", "8000", "--share", "--auth", "teacher:secret"])
    assert (args.host, args.port, args.share, args.auth) == ("0.0.0.0", 8000, True, "teacher:secret")
    monkeypatch.setenv("PLAYGROUND_PORT", "7999")
    monkeypatch.setenv("PLAYGROUND_AUTH", "a:b")
    monkeypatch.setenv("PLAYGROUND_SHARE", "1")
    args = app.parse_args([])
    assert (args.host, args.port, args.share, args.auth) == ("127.0.0.1", 7999, True, "a:b")


def test_client_talks_to_the_running_app(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    line = client.predict(api_name="/environment")
    assert line.startswith("Running on ") and "PyTorch" in line

"""Tab 9: the examples show the code that runs and its output; the environment check lists every library."""
import subprocess
import sys
from pathlib import Path

import pytest

from core import environment as E
from core import library_examples as L
from lessons import part09_libraries as tab
from tests.conftest import build_tab_alone, open_tab

ROOT = Path(__file__).resolve().parents[2]


def test_tab_builds_and_importing_it_leaves_torch_out():
    labels = build_tab_alone(tab)
    assert "Library" in labels and "Output" in labels and any(label.startswith("Code: exactly what runs") for label in labels)
    code = "import sys; import lessons.part09_libraries; print(sorted({'torch', 'transformers', 'peft', 'trl'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_code_shown_is_the_code_run():
    for key, ex in L.EXAMPLES.items():
        shown = tab.show_example(key)
        assert shown["code"]["value"] == ex.code and shown["output"] == "" and ex.title in shown["code"]["label"]
    steps = list(tab.run_example("torch", user_id=None))
    assert "Running the PyTorch example" in steps[0]["status"] and steps[0]["button"]["interactive"] is False
    assert steps[-1]["output"] == L.run("torch").output and steps[-1]["button"]["interactive"] is True
    with pytest.raises(Exception, match="Unknown example"):  # a gr.Error: only the fixed examples run
        tab.show_example("os")


def test_a_second_run_by_the_same_learner_is_refused_once():
    import gradio as gr

    learner = "0" * 32
    with L.one_at_a_time(learner):
        with pytest.raises(gr.Error, match="still running"):
            next(tab.run_example("torch", user_id=learner))  # before any "Running…" is shown


def test_checks_table_shows_a_fix_for_what_is_not_ok_and_text_literally():
    checks = [E.Check("library", "a|b", E.OK, "1.0 *bold* $x$", "never shown"),
              E.Check("network", "Hub", E.WARN, "no answer", "set HF_ENDPOINT")]
    table = tab.checks_table(checks).splitlines()
    assert len(table) == 4 and "never shown" not in table[2] and "**What to do:** set HF\\_ENDPOINT" in table[3]
    assert "a&#124;b" in table[2] and "*bold*" not in table[2] and "$x$" not in table[2]
    assert table[2].count("|") == table[3].count("|") == 3  # two columns, whatever the text held
    summary = tab.checks_summary(checks, done=True)
    assert f"{tab.ICONS['ok']} 1 ok · {tab.ICONS['warn']} 1 to look at · {tab.ICONS['fail']} 0 to fix" in summary


def test_lesson_text_agrees_with_the_app_and_trl():
    from trl import SFTConfig

    from core.finetune.train import TrainSettings
    from lessons.common import read_text

    text = read_text("part09_libraries")
    assert f"tab 7 starts at {TrainSettings().learning_rate:.0e}".replace("e-0", "e-") in text  # 2e-03 -> 2e-3
    assert SFTConfig.__dataclass_fields__["assistant_only_loss"].default is False  # "trains on every token by default"
    assert SFTConfig.__dataclass_fields__["completion_only_loss"].default is None  # on for prompt-completion data
    assert "assistant_only_loss=True" in text and "{% generation %}" in text


@pytest.mark.browser
def test_examples_and_environment_check_in_a_browser(page, tmp_path):
    from tests.lessons.test_part03_core_math import _toasts, record_toasts

    page.set_viewport_size({"width": 1280, "height": 800})
    open_tab(page, "9 · Libraries")
    output = page.locator("#example-output")
    output.get_by_text("gradient: [-12.0, -18.0]").wait_for()  # the default example ran on load
    # the lesson's title, the lab's controls and its first result are in the first screen
    assert page.get_by_role("heading", name="Part 9 ·", exact=False).is_visible()
    page.screenshot(path=str(tmp_path / "tab9-first-screen.png"))
    for element in (page.locator("#example-run"), output.get_by_text("new loss")):
        box = element.bounding_box()
        assert box and box["y"] + box["height"] <= 800, box
    page.locator("#environment-summary").get_by_text("python -m core info").wait_for(timeout=120_000)  # finished
    table = page.locator("#environment-table")
    assert "Checking" not in page.locator("#environment-summary").inner_text()
    for package, _, _ in E.LIBRARIES:
        assert table.get_by_text(package, exact=True).count() >= 1
    page.screenshot(path=str(tmp_path / "tab9-1280.png"), full_page=True)
    # another library: its code replaces the old one at once, and Run shows what it printed
    record_toasts(page)
    page.locator("#example-library").get_by_text("peft", exact=True).click()
    page.locator("#example-code").get_by_text("get_peft_model(model, config)").first.wait_for()
    assert "gradient" not in output.inner_text()
    page.locator("#example-run").click()
    output.get_by_text("trainable: 14,336").wait_for(timeout=120_000)
    page.get_by_role("button", name=tab.RUN_LABEL).wait_for()
    assert page.locator("#example-run").is_enabled() and _toasts(page, "Error") == 0
    panel = page.locator("[role=tabpanel]").filter(has=output)
    assert panel.get_by_text("Error", exact=True).count() == 0
    # predict, then run: the guess is judged, and the lab switches to the tiktoken example
    page.locator("#predict-tokens-guess textarea").fill("6")
    page.locator("#predict-tokens-button").click()
    page.locator("#predict-tokens-feedback").get_by_text("the lab:").wait_for()
    assert "7 tokens" in page.locator("#predict-tokens-feedback").inner_text()
    page.locator("#example-code").get_by_text("cl100k_base").first.wait_for()
    page.set_viewport_size({"width": 400, "height": 800})
    page.screenshot(path=str(tmp_path / "tab9-400.png"), full_page=True)



def test_the_token_prediction_gives_tiktokens_count_and_shows_the_example():
    import gradio as gr

    with pytest.raises(gr.Error, match="Type your guess first"):
        tab.predict_tokens("")
    out = tab.predict_tokens("5")
    # cl100k_base's split of this sentence (tiktoken 0.12, recorded): 7 tokens
    assert "**the lab:** 7 tokens" in out["feedback"] and "Token | ization | ␣turns" in out["feedback"]
    assert out["library"] == "tiktoken" and tab.TIKTOKEN_SENTENCE in out["code"]["value"]


def test_the_gpu_prediction_says_what_torch_sees():
    import gradio as gr
    import torch

    with pytest.raises(gr.Error, match="Pick your guess"):
        tab.predict_gpu(None)
    actual = "yes" if torch.cuda.is_available() else "no"
    assert "Right" in tab.predict_gpu(actual)["feedback"]
    assert f"**the lab:** {actual}" in tab.predict_gpu({"yes": "no", "no": "yes"}[actual])["feedback"]

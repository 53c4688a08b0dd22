"""Tab 11, the pipeline: handlers called directly (numbers checked independently) and one browser run."""
import ast
import inspect
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import gradio as gr
import pytest

from core import jobs, pipeline, sessions, stop_requests, text_input
from core.minigpt import checkpoint
from lessons import part11_workflow as tab
from tests.core.test_pipeline import _bits_scored_directly

BUILTIN, PASTE = text_input.BUILTIN, text_input.PASTE
SHORT = text_input.builtin_corpus()[:5000]  # a pasted extract: a validation text of ~500 characters to score


def run_all(user, tokenizer, steps=10, vocab_size=300, stop_after_start=False):
    plan = tab.prepare_run(user_id=user, tokenizer=tokenizer, vocab_size=vocab_size, steps=steps, model="tiny")["plan"]
    views = []
    for view in tab.run_pipeline(user_id=user, plan=plan):
        views.append(view)
        if stop_after_start and "step 0/" in view.get("status", ""):
            stop_requests.request_stop(plan.run_dir)
    return views


@pytest.fixture(scope="module")
def both():
    """One learner who prepared the built-in corpus and ran both tokenizers (tiny model)."""
    user = sessions.new_user_id()
    tab.prepare_data(user_id=user, source=PASTE, pasted=SHORT, upload=None)
    return user, run_all(user, "char"), run_all(user, "bpe")


def test_importing_the_tab_does_not_import_torch():
    code = "import sys; import lessons.part11_workflow; print(sorted({'torch', 'transformers', 'peft', 'trl'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "[]"


def test_every_function_in_the_tab_is_short():
    tree = ast.parse(inspect.getsource(tab))
    lengths = {n.name: n.end_lineno - n.lineno + 1 for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert max(lengths.values()) <= 60, sorted(lengths.items(), key=lambda kv: -kv[1])[:3]


def test_a_new_learner_sees_where_to_start():
    assert tab.show_saved(user_id=None)["data_info"].startswith("Press")  # a first visit: no id yet on load
    view = tab.show_saved(user_id=sessions.new_user_id())
    assert "Press **1 · Prepare the data**" in view["data_info"] and view["table"] == []
    assert view["badges"].count("·") == 5 and "↗ 5 Fine-tune" in view["badges"]


def test_data_step_shows_the_texts_statistics():
    user = sessions.new_user_id()
    view = tab.prepare_data(user_id=user, source=BUILTIN, pasted=None, upload=None)
    text = text_input.builtin_corpus().strip() + "\n"  # the built-in corpus needs no other cleaning
    assert f"**{len(text):,} characters**, {len(set(text))} distinct, {len(text.splitlines()):,} lines" in view["data_info"]
    assert "✓ 1 Data" in view["badges"] and "· 2 Tokenizer" in view["badges"]
    saved = pipeline.load_data(pipeline.learner_folder(user))
    assert saved.text == text and f"validation {len(saved.val_text):,} characters" in view["data_info"]


def test_the_untrained_prediction_needs_the_data_and_gives_log2_of_its_characters():
    import numpy as np

    user = sessions.new_user_id()
    with pytest.raises(gr.Error, match="Prepare the data"):
        tab.predict_untrained(guess="5", user_id=user)
    tab.prepare_data(user_id=user, source=PASTE, pasted=SHORT, upload=None)
    with pytest.raises(gr.Error, match="Type your guess first"):
        tab.predict_untrained(guess="", user_id=user)
    text = pipeline.load_data(pipeline.learner_folder(user)).text
    uniform = np.full(len(set(text)), 1 / len(set(text)))
    bits = float(-(uniform * np.log2(uniform)).sum())  # entropy of the uniform guess over the text's characters
    feedback = tab.predict_untrained(guess="5", user_id=user)["feedback"]
    assert f"**the lab:** {bits:.5g} bits per character" in feedback and f"V = {len(set(text))}" in feedback


def test_bad_input_gets_one_clear_message_at_its_step():
    user = sessions.new_user_id()
    with pytest.raises(gr.Error, match="Do step 1 first"):
        tab.prepare_run(user_id=user, tokenizer="char", vocab_size=300, steps=10, model="tiny")
    with pytest.raises(gr.Error, match="paste box is empty"):
        tab.prepare_data(user_id=user, source=PASTE, pasted="  ", upload=None)
    with pytest.raises(gr.Error, match="one distinct character"):
        tab.prepare_data(user_id=user, source=PASTE, pasted="zzzz zzzz\n" * 9, upload=None)
    tab.prepare_data(user_id=user, source=PASTE, pasted="the cat sat on the mat. " * 30, upload=None)
    views = run_all(user, "bpe", vocab_size=4000)  # refused inside the job, at step 2
    assert "✗ 2 Tokenizer" in views[-1]["badges"] and "supports a BPE vocabulary of at most" in views[-1]["status"]
    assert jobs.wait_finished(user)  # the failed job's slot is given back
    with pytest.raises(gr.Error, match="between 260 and 4096"):
        tab.prepare_run(user_id=user, tokenizer="bpe", vocab_size=100, steps=10, model="tiny")


def test_both_runs_are_compared_in_bits_per_character(both):
    user, char_views, bpe_views = both
    assert any("Step 2: building the tokenizer" in v.get("status", "") for v in char_views)
    assert any("…" in v["badges"] for v in char_views)  # a step shown running
    last = bpe_views[-1]
    assert all(f"✓ {n}" in last["badges"] for n in ("1 Data", "2 Tokenizer", "3 Pre-train", "4 Evaluate", "6 Export"))
    data = pipeline.load_data(pipeline.learner_folder(user))
    rows = {row[0]: row for row in last["table"]}
    assert set(rows) == {"char", "bpe"}
    for kind, row in rows.items():
        loaded = checkpoint.load(pipeline.learner_folder(user) / kind)
        direct = _bits_scored_directly(loaded.model, loaded.tokenizer, data)
        assert row[-1] == round(direct, 4) or abs(row[-1] - direct) < 1e-4
        val_tokens = len(loaded.tokenizer.encode(data.val_text))
        assert row[5] == round(val_tokens / len(data.val_text), 4)
        assert row[2] == round(len(data.train_text) / len(loaded.tokenizer.encode(data.train_text)), 3)
    assert rows["char"][2] == 1.0 and rows["bpe"][2] > 1.2 and rows["bpe"][1] == 300
    assert f"{rows['bpe'][-1]:.3f} bits per character" in last["status"]
    assert last["samples"].startswith("--- sample 1 ---\n" + data.val_text[:pipeline.SAMPLE_PROMPT_CHARS])


def test_a_reload_shows_everything_again_with_the_download(both):
    user, _, bpe_views = both
    view = tab.show_saved(user_id=user)
    assert view["table"] == bpe_views[-1]["table"] and view["status"] == bpe_views[-1]["status"]
    zip_path = Path(view["download"]["value"])
    with zipfile.ZipFile(zip_path) as zf:
        assert {n.split("/", 1)[1] for n in zf.namelist()} == {"README.md", *pipeline.ZIPPED}
    fig = view["chart"]
    saved = json.loads((zip_path.with_suffix("") / "evaluation.json").read_text())
    assert saved["bits_per_character"] == pytest.approx(bpe_views[-1]["table"][1][-1], abs=1e-4)
    assert len(fig.data) == 2  # train and validation curves


def test_stop_is_a_result_and_the_stopped_model_is_still_evaluated():
    user = sessions.new_user_id()
    tab.prepare_data(user_id=user, source=PASTE, pasted=SHORT, upload=None)
    views = run_all(user, "char", steps=200, stop_after_start=True)
    assert "stopped at step 1 of 200" in views[-1]["status"] and "bits per character" in views[-1]["status"]
    assert not jobs.has_job(user)


def test_one_job_per_learner_and_buttons_say_what_is_happening():
    user = sessions.new_user_id()
    tab.prepare_data(user_id=user, source=BUILTIN, pasted=None, upload=None)
    tab.prepare_run(user_id=user, tokenizer="char", vocab_size=300, steps=10, model="tiny")  # reserves the slot
    with pytest.raises(gr.Error, match="already have a run"):
        tab.prepare_data(user_id=user, source=BUILTIN, pasted=None, upload=None)
    jobs.release_reservation(user, str(pipeline.learner_folder(user) / "char"))
    assert tab.busy()["run_btn"].interactive is False and tab.idle()["stop_btn"].interactive is False


def _error_badges(page):
    return page.locator(".wrap.error, .error-badge, [data-testid='status-tracker'] .error").count()


@pytest.mark.browser
def test_browser_the_pipeline_end_to_end(page, tmp_path):
    from tests.conftest import open_tab

    page.set_default_timeout(120_000)  # 2 shared cores: a busy machine is slow, not wrong
    open_tab(page, "11 · Workflow")
    page.locator("#pipeline-data-info").get_by_text("Press").wait_for()
    page.locator("#pipeline-data").click()
    page.locator("#pipeline-data-info").get_by_text("distinct").wait_for()
    page.locator("#predict-untrained-guess textarea").fill("5")  # predict, then run
    page.locator("#predict-untrained-button").click()
    page.locator("#predict-untrained-feedback").get_by_text("bits per character").first.wait_for()
    page.get_by_label("Tiny: 1 layer").check()
    steps = page.get_by_label("number input for 3 · Pre-training steps")
    steps.fill("10")
    steps.press("Enter")
    start = time.perf_counter()
    page.locator("#pipeline-run").click()
    page.get_by_role("button", name=tab.RUNNING_LABEL).wait_for()
    status = page.locator("#pipeline-status")
    status.get_by_text("bits per character").wait_for(timeout=240_000)
    print(f"\nthe pipeline (tiny, 10 steps, characters) in the browser: {time.perf_counter() - start:.1f} s")
    assert "✓ 4 Evaluate" in page.locator("#pipeline-badges").inner_text()
    assert page.locator("#pipeline-table").get_by_text("char", exact=True).count() >= 1
    page.screenshot(path=str(tmp_path / "tab11.png"), full_page=True)
    page.set_viewport_size({"width": 400, "height": 900})  # a phone: the columns stack
    page.screenshot(path=str(tmp_path / "tab11-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    link = page.locator("#pipeline-download a[href*='.zip']").first
    link.wait_for()
    assert page.request.get(link.get_attribute("href")).body()[:2] == b"PK"
    assert _error_badges(page) == 0
    page.reload()  # the learner comes back: the steps' outputs are still there
    page.get_by_text("Running on").wait_for(timeout=120_000)
    open_tab(page, "11 · Workflow")
    page.locator("#pipeline-status").get_by_text("bits per character").wait_for()
    assert "distinct" in page.locator("#pipeline-data-info").inner_text()

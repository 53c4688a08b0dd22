"""Tab 2: the phase views against transformers' own tokenizer and chat-template mask, the DPO playground against
float64 NumPy, a DPO job whose margin is re-measured with torch, the three-way comparison, messages, a browser."""
import ast
import inspect
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core import alignment, jobs, sessions
from core.finetune import data, models
from lessons import part02_three_phases as tab
from tests.conftest import build_tab_alone, open_tab


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(models.POCKET_DIR))


def test_tab_builds():
    labels = build_tab_alone(tab)
    for label in ("Pre-training text", "β", "Start from this SFT adapter", "Preference pairs", "DPO adapter", "Prompt"):
        assert label in labels


def test_importing_the_tab_does_not_import_torch():
    code = "import sys; import lessons.part02_three_phases; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "[]"


def test_every_function_in_the_tab_is_short():
    tree = ast.parse(inspect.getsource(tab))
    lengths = {n.name: n.end_lineno - n.lineno + 1 for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert max(lengths.values()) <= 60, sorted(lengths.items(), key=lambda kv: -kv[1])[:3]


# ---------- what each phase trains on ----------

def _spans(html_text: str) -> list[str]:
    return re.findall(r'<span class="tok"[^>]*>(.*?)</span>', html_text)


def test_pretraining_view_puts_the_next_token_under_every_position(tokenizer):
    text = "Attention mixes values."
    view = alignment.next_token_view(tokenizer, text)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert view.ids == ids and "".join(view.pieces) == text
    assert view.targets == [tokenizer.decode([i]) for i in ids[1:]]
    shown = tab.phase_views(text, 0, 0)["pretrain"]
    assert len(_spans(shown)) == 2 * len(ids) - 1  # every input, and the target under all but the last


def test_sft_view_colours_what_the_chat_templates_generation_mask_marks(tokenizer):
    example = data.builtin().examples[3]
    mask = tokenizer.apply_chat_template(example, tokenize=True, return_dict=True,
                                         return_assistant_tokens_mask=True)["assistant_masks"]
    view = data.preview(tokenizer, example)
    # the template's {% generation %} block is the answer and <|end|>; trl's completion also takes the newline after it
    assert [int(t) for t in view.trained[:-1]] == list(mask)[:-1] and view.trained[-1]
    shown = tab.phase_views("x", 3, 0)["sft"]
    assert f"{view.n_trained} coloured answer tokens" in shown and f"{len(view.ids)} tokens" in shown


def test_pair_view_marks_each_answer_and_escapes_a_learners_text(tokenizer):
    chosen, rejected = alignment.pair_views(tokenizer, "Q?", "Answer: <b>yes</b> [done]", "no")
    answer_ids = tokenizer("Answer: <b>yes</b> [done]<|end|>\n", add_special_tokens=False)["input_ids"]
    assert chosen.n_trained == len(answer_ids) and rejected.n_trained < chosen.n_trained
    shown = tab.phase_views("<script>alert(1)</script>", 0, 0)["pretrain"]
    assert "<script>" not in shown and "&lt;" in shown


def test_phase_views_refuse_a_long_or_empty_text():
    with pytest.raises(gr.Error, match="under 500"):
        tab.phase_views("a" * 501, 0, 0)
    with pytest.raises(gr.Error, match="Type some text"):
        tab.phase_views("   ", 0, 0)


# ---------- preference data ----------

def test_builtin_preferences_are_clean_and_in_the_sft_format():
    prefs = alignment.builtin_preferences()
    assert len(prefs.pairs) >= 60 and not prefs.problems
    assert all(p["chosen"].startswith("Answer: ") and p["chosen"].endswith(" [done]") for p in prefs.pairs)
    assert len({p["prompt"] for p in prefs.pairs}) == len(prefs.pairs)


def test_a_malformed_preference_file_is_reported_by_line(tmp_path):
    good = json.dumps({"prompt": "Q", "chosen": "Answer: a [done]", "rejected": "b"})
    lines = [good, "{not json", json.dumps({"prompt": "Q", "chosen": "x"}), "", json.dumps({"prompt": "Q", "chosen": "same",
             "rejected": "same"}), json.dumps([1, 2])]
    path = tmp_path / "prefs.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    prefs = alignment.read_preferences(path)
    assert len(prefs.pairs) == 1
    assert [p.split(":")[0] for p in prefs.problems] == ["line 2", "line 3", "line 5", "line 6"]
    assert "missing 'rejected'" in prefs.problems[1] and "the same answer" in prefs.problems[2]
    path.write_text("{bad\n", encoding="utf-8")
    with pytest.raises(ValueError, match="No usable preference pairs.*line 1: not valid JSON"):
        alignment.read_preferences(path)


# ---------- the DPO playground ----------

def test_playground_numbers_equal_a_float64_formula():
    args = dict(policy_chosen=-18.5, policy_rejected=-40.0, ref_chosen=-21.0, ref_rejected=-35.5, beta=0.3)
    out = tab.playground(**args)
    h = np.float64(-18.5 + 21.0) - np.float64(-40.0 + 35.5)
    loss, weight = np.logaddexp(0, -0.3 * h), 0.3 / (1 + np.exp(0.3 * h))
    for value in (0.3 * 2.5, 0.3 * -4.5, 0.3 * h, loss, weight):
        assert f"{value:.4f}".lstrip("+") in out["summary"]
    point = out["plot"].data[-1]
    assert point.x == [pytest.approx(h)] and point.y == [pytest.approx(loss)]
    curve = next(t for t in out["plot"].data if t.name == "β = 0.3")
    assert np.allclose(curve.y, np.logaddexp(0, -0.3 * np.asarray(curve.x)))
    out["plot"].to_figure()  # every property valid in plotly's schema


# ---------- DPO as a job, and the three models ----------

def _answer_logps(model, tokenizer, pair: dict, which: str) -> float:
    """Summed log-probability of one answer's tokens after the prompt, with plain torch."""
    view = data.preview(tokenizer, [{"role": "user", "content": pair["prompt"]}, {"role": "assistant", "content": pair[which]}])
    ids = torch.tensor([view.ids])
    with torch.no_grad():
        logps = F.log_softmax(model(input_ids=ids).logits[0, :-1].double(), dim=-1)
    picked = logps.gather(1, ids[0, 1:, None])[:, 0]
    return float(picked[torch.tensor(view.trained[1:])].sum())


def test_a_dpo_job_raises_the_margin_on_its_training_pairs(tmp_path):
    from core.finetune import chat

    user = sessions.new_user_id()
    pairs = alignment.builtin_preferences().pairs[:8]
    upload = tmp_path / "pairs.jsonl"
    upload.write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
    start = time.perf_counter()
    job = tab.start_dpo(user, tab.SHIPPED_SFT, tab.UPLOAD, str(upload), 4, 0.1, 1e-3)["job"]
    last = list(tab.train_dpo(job))[-1]
    print(f"DPO job, 4 steps of 8 pairs in a worker: {time.perf_counter() - start:.1f} s")
    assert "Done: 4 steps" in last["status"], last["status"]
    info = chat.run_info(job.run_dir)
    assert info["margins"][0] == pytest.approx(0, abs=1e-6) and info["margins"][-1] > 0
    policy, ref = chat.load_adapted(job.run_dir), chat.load_adapted(tab._adapter_dir("lora", tab.SHIPPED_SFT, None))
    margins = []
    for pair in pairs:  # re-measured: β·((log π_c − log ref_c) − (log π_r − log ref_r)) per pair
        lp = {w: _answer_logps(policy.model, policy.tokenizer, pair, w) for w in ("chosen", "rejected")}
        lr = {w: _answer_logps(ref.model, ref.tokenizer, pair, w) for w in ("chosen", "rejected")}
        margins.append(0.1 * ((lp["chosen"] - lr["chosen"]) - (lp["rejected"] - lr["rejected"])))
    assert np.mean(margins) > 0.05 and np.mean(np.array(margins) > 0) >= 0.75, margins
    listed = tab.end_dpo(user, job, None)["dpo"]
    assert listed.value == f"run/{job.run_dir.name}"


def test_stop_ends_a_dpo_run_as_a_result_with_its_curve_and_adapter():
    from core.finetune import chat

    user = sessions.new_user_id()
    job = tab.start_dpo(user, tab.SHIPPED_SFT, tab.BUILTIN, None, 200, 0.1, 3e-4)["job"]
    views, pressed = [], False
    for view in tab.train_dpo(job):
        views.append(view)
        if view["status"].startswith("step ") and not pressed:  # training has begun: press Stop
            assert tab.request_stop(job)["stop_button"].value == "Stopping…"
            pressed = True
    last = views[-1]["status"]
    info = chat.run_info(job.run_dir)
    assert last.startswith("**Stopped at step") and "of 200" in last and "ETA" not in last, last
    assert info["stopped_early"] and len(info["losses"]) == info["steps"][-1] < 200
    assert (job.run_dir / "adapter_model.safetensors").is_file()  # what was trained so far is kept
    assert not jobs.has_job(user) or jobs.wait_finished(user)


def test_start_refuses_bad_input_before_any_job(tmp_path):
    user = sessions.new_user_id()
    with pytest.raises(gr.Error, match="Upload a JSONL"):
        tab.start_dpo(user, tab.SHIPPED_SFT, tab.UPLOAD, None, 4, 0.1, 1e-3)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "Q"}\n', encoding="utf-8")
    with pytest.raises(gr.Error, match="line 1: missing"):
        tab.start_dpo(user, tab.SHIPPED_SFT, tab.UPLOAD, str(bad), 4, 0.1, 1e-3)
    with pytest.raises(gr.Error, match="not available"):
        tab.start_dpo(user, "run/someone-elses", tab.BUILTIN, None, 4, 0.1, 1e-3)
    assert not (sessions.user_dir(user) / "dpo").exists() or not any((sessions.user_dir(user) / "dpo").iterdir())


def _three(seed: int, prompt: str = "What is a token?") -> dict:
    return list(tab.three_ways(None, tab.SHIPPED_SFT, tab.SHIPPED_DPO, prompt, 30, 0.7, seed))[-1]


def test_three_models_answer_differently_and_reproducibly():
    first = _three(0)
    assert len({first["base"], first["sft"], first["dpo"]}) == 3, first
    assert first["sft"].startswith("Answer:") and not first["base"].startswith("Answer:")
    assert _three(0) == first
    with pytest.raises(gr.Error, match="Type a question"):
        list(tab.three_ways(None, tab.SHIPPED_SFT, tab.SHIPPED_DPO, "  ", 30, 0.7, 0))


# ---------- in a browser ----------

@pytest.mark.browser
def test_tab_two_in_the_browser(page, tmp_path):
    from tests.lessons.test_part03_core_math import _toasts, record_toasts

    open_tab(page, "2 · Three phases")
    page.locator("#dpo-summary", has_text="0.5130").wait_for()  # the playground's default pair
    page.locator("#phases-pretrain", has_text="target").wait_for()
    page.screenshot(path=str(tmp_path / "tab2.png"))
    record_toasts(page)
    page.locator("#three-prompt textarea").fill("   ")
    page.locator("#three-go").click()
    page.locator(".toast-body").filter(has_text="Type a question").first.wait_for()
    page.locator("#three-prompt textarea").fill("What is a token?")
    page.locator("#three-go").click()
    # a textarea's value is not its text content: wait on the value the stream writes
    page.wait_for_function("() => document.querySelector('#three-dpo textarea').value.startsWith('Answer')",
                           timeout=180_000)
    assert page.locator("#three-sft textarea").input_value().startswith("Answer:")
    page.wait_for_timeout(300)
    assert _toasts(page, "Type a question") == 1


def _slider(page, label: str, kind: str):
    """A slider's range or number box, found by its label (the playground's sliders have no ids)."""
    block = page.locator(".block", has=page.get_by_text(label, exact=True)).last
    return block.locator(f"input[type={kind}]")


def _plot_traces(page, elem_id: str) -> dict:
    """{trace name: x values} of the Plotly chart inside an element, as the browser draws it."""
    return page.evaluate("""(id) => { const gd = document.querySelector('#' + id + ' .js-plotly-plot');
        return gd ? Object.fromEntries(gd.data.map(t => [t.name, Array.from(t.x || [])])) : {}; }""", elem_id)


@pytest.mark.browser
def test_dpo_playground_and_a_dpo_run_in_the_browser(page, tmp_path):
    """The playground's numbers after a slider move and a typed β equal core.alignment.dpo_loss (and float64
    NumPy); a 2-step DPO run streams, ends as a result with its curves, and shows no error toast."""
    from tests.lessons.test_part03_core_math import record_toasts

    open_tab(page, "2 · Three phases")
    summary = page.locator("#dpo-summary")
    summary.get_by_text("0.5130").wait_for()  # the default pair
    record_toasts(page)
    chosen = _slider(page, "log π(chosen): the policy", "range")
    chosen.focus()
    chosen.press("ArrowRight")  # one step of 0.5: log π(chosen) = −19.5
    beta = page.locator("#dpo-beta input[type=number]")
    beta.fill("0.5")
    beta.press("Enter")
    d = {**tab.PLAYGROUND_DEFAULTS, "policy_chosen": -19.5, "beta": 0.5}
    terms = alignment.dpo_loss(**d)
    h = np.float64(d["policy_chosen"] - d["ref_chosen"]) - np.float64(d["policy_rejected"] - d["ref_rejected"])
    assert terms.loss == pytest.approx(np.logaddexp(0, -0.5 * h)) and terms.margin == pytest.approx(0.5 * h)
    summary.get_by_text(f"{terms.loss:.4f}").wait_for()
    row = summary.locator("td").all_inner_texts()
    assert row == [f"{terms.chosen_reward:+.4f}", f"{terms.rejected_reward:+.4f}", f"{terms.margin:+.4f}",
                   f"{terms.loss:.4f}", f"{terms.grad_weight:.4f}"], row
    # predict, then run: the policy sliders move onto the reference and the table shows ln 2
    page.locator("#predict-equal-guess textarea").fill("0.5")
    page.locator("#predict-equal-button").click()
    page.locator("#predict-equal-feedback").get_by_text("0.69315 nats").wait_for()
    summary.get_by_text("0.6931").first.wait_for()

    steps = _slider(page, "Steps (batches of 8 pairs)", "number")
    steps.fill("2")
    steps.press("Enter")
    page.evaluate("""() => { window.__statuses = []; const el = document.querySelector('#dpo-status');
        new MutationObserver(() => window.__statuses.push(el.innerText))
        .observe(el, {childList: true, subtree: true, characterData: true}); }""")
    start = time.perf_counter()
    page.locator("#dpo-train").click()
    page.get_by_role("button", name=tab.BUSY_LABEL).wait_for()
    status = page.locator("#dpo-status")
    status.get_by_text("Done: 2 steps").wait_for(timeout=240_000)
    print(f"2-step DPO run in the browser: {time.perf_counter() - start:.1f} s")
    live = page.evaluate("() => window.__statuses")
    assert any(re.match(r"step \d/2 · loss", line) for line in live), live  # streamed while it trained
    page.get_by_role("button", name=tab.TRAIN_LABEL).wait_for()  # the button is back
    assert page.locator("#dpo-stop button, button#dpo-stop").first.is_disabled()
    name = re.search(r"saved as (\S+):", status.inner_text()).group(1)
    run_dir = next(sessions.runs_root().glob(f"*/dpo/{name}"))
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert info["steps"] == [1, 2] and info["margins"][0] == pytest.approx(0, abs=1e-6)
    assert f"reward margin {info['margins'][-1]:+.2f}" in status.inner_text()
    traces = _plot_traces(page, "dpo-curves")  # this run's curves, not the shipped run's 24 steps
    assert traces == {"loss": [1, 2], "preference accuracy": [1, 2], "reward margin": [1, 2]}, traces
    page.screenshot(path=str(tmp_path / "tab2-dpo.png"), full_page=True)
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.__toasts") == []  # no error, no warning


def test_the_lessons_numbers_come_from_the_shipped_files():
    from safetensors.torch import load_file

    text = (Path(tab.__file__).parent / "text" / "part02_three_phases.md").read_text(encoding="utf-8")
    weights = load_file(str(models.POCKET_DIR / "model.safetensors"))
    pocket = sum(t.numel() for name, t in weights.items() if name != "lm_head.weight")  # the head is tied
    assert f"{pocket:,} parameters" in text
    assert f"trained on {len(data.builtin().examples)} questions" in text
    assert f"on {len(alignment.builtin_preferences().pairs)} built-in preference pairs" in text
    assert "ln 2 \\approx 0.693" in text and f"{np.log(2):.3f}" == "0.693"
    assert "tab 4" in text.lower() and "tab 7" in text.lower()


def test_cli_reports_a_bad_preference_file_without_a_traceback(tmp_path, capsys):
    from core.__main__ import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "Q", "chosen": 3, "rejected": "r"}\n', encoding="utf-8")
    assert main(["dpo", "--data", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert 'line 1: "chosen" must be a non-empty string' in capsys.readouterr().err


def test_predictions_refuse_no_guess_and_match_independent_numbers(tokenizer):
    from safetensors.torch import load_file

    for call in (lambda g: tab.predict_lessons(g, tab.DEFAULT_TEXT), lambda g: tab.predict_equal(g, -22.0, -30.0, 0.1),
                 tab.predict_beta_margin, lambda g: tab.predict_adapter_size(g, None, tab.SHIPPED_DPO)):
        with pytest.raises(gr.Error, match="Type your guess first"):
            call("")
    n = len(tokenizer(tab.DEFAULT_TEXT, add_special_tokens=False)["input_ids"])
    assert f"**the lab:** {n - 1} lessons" in tab.predict_lessons("10", tab.DEFAULT_TEXT)["feedback"]
    equal = tab.predict_equal("1", -22.0, -30.0, 0.1)
    assert f"**the lab:** {-F.logsigmoid(torch.tensor(0.0)).item():.5g} nats" in equal["feedback"]
    assert (equal["policy_chosen"], equal["policy_rejected"]) == (-22.0, -30.0)
    assert "**the lab:** 5 ×" in tab.predict_beta_margin("2")["feedback"]  # β·h / (0.1·h), float64 by hand: 5
    adapter = load_file(str(Path(tab.__file__).parents[1] / "checkpoints" / "lora" / "pocket-dpo" / "adapter_model.safetensors"))
    size = sum(t.numel() for t in adapter.values())
    assert f"**the lab:** {size:.5g} numbers" in tab.predict_adapter_size("1000", None, tab.SHIPPED_DPO)["feedback"]
    weights = load_file(str(models.POCKET_DIR / "model.safetensors"))
    assert tab.POCKET_PARAMETERS == sum(t.numel() for name, t in weights.items() if name != "lm_head.weight")

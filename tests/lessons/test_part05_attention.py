"""Tab 5: every number on screen against torch, the messages, and the main flows in a real browser."""
import math
import re

import gradio as gr
import numpy as np
import pytest
import torch

from core import attention, sessions
from lessons import part05_attention as tab
from tests.conftest import build_tab_alone, open_tab
from tests.core.test_attention import make_checkpoint, reference_forward, torch_steps

DEFAULTS = dict(sentence=tab.DEFAULT_SENTENCE, unit="words", d_model=8, n_heads=1, scaled=True, causal=True, seed=0,
                step=1, head=1, query=None, source=tab.RANDOM, user_id=None)
OUTPUTS = ["tokens", "text", "matrix", "bars", "step", "head", "query", "sentence", "unit"]


def show(**changes):
    args = {**DEFAULTS, **changes}
    return dict(zip(OUTPUTS, tab.step_through(*args.values())))


def z(fig, trace=0):
    return np.array(fig.data[trace].z, dtype=float)


def tile(grid, layer, head):
    """One map out of the tiled grid, found by the row and column names the hover shows."""
    trace = grid.data[0]
    rows = [i for i, name in enumerate(trace.y) if name.startswith(f"L{layer + 1} query")]
    cols = [j for j, name in enumerate(trace.x) if name.startswith(f"H{head + 1} key")]
    return np.array(trace.z, dtype=float)[np.ix_(rows, cols)]


def test_tab_builds():
    labels = build_tab_alone(tab)
    for label in ("Sentence", "Heads", "Step", "Query token: its row of weights", "MiniGPT checkpoint", "Width of a head d_k"):
        assert label in labels


@pytest.mark.parametrize("n_heads,scaled,causal", [(1, True, True), (2, True, True), (4, False, False), (2, False, True)])
def test_every_step_shows_the_torch_numbers(n_heads, scaled, causal):
    tokens = tab.DEFAULT_SENTENCE.split()
    x, w = attention.random_inputs(tokens, 8, 0)
    want = torch_steps(x, w, {}, n_heads, causal, scaled)
    n_steps = 10 if n_heads == 1 else 11
    keys = ["x", "q", "k", "v", "scores", "scaled_scores", "masked_scores", "weights", "head_outputs"]
    keys += (["concat"] if n_heads > 1 else []) + ["projected"]
    for number, key in enumerate(keys, start=1):
        head = min(2, n_heads)
        out = show(n_heads=n_heads, scaled=scaled, causal=causal, step=number, head=head, query=3)
        assert out["step"].maximum == n_steps and out["step"].value == number
        assert f"Step {number} of {n_steps}" in out["text"]
        expected = want[key][head - 1] if want[key].ndim == 3 else want[key]
        shown = z(out["matrix"])
        np.testing.assert_allclose(shown, np.where(np.isneginf(expected), np.nan, expected), rtol=1e-12, atol=1e-12, err_msg=key)
        cells = np.array(out["matrix"].data[0].text)
        assert cells[0, -1] == ("−∞" if np.isneginf(expected[0, -1]) else f"{expected[0, -1]:.2f}")
        assert f"shape **{' × '.join(map(str, want[key].shape if want[key].ndim == 2 or n_heads > 1 else want[key].shape[1:]))}**" in out["text"]
    # the bars are the query's row of weights, one trace per head
    bars = out["bars"]
    assert len(bars.data) == n_heads
    for h in range(n_heads):
        np.testing.assert_allclose(bars.data[h].y, want["softmax"][h, 3], rtol=1e-12)
    assert "“on” (token 4)" in bars.layout.title.text


def test_heads_and_query_controls_follow_the_input():
    out = show(n_heads=4, head=9, query=42)
    assert out["head"].visible and out["head"].choices == [(str(h), h) for h in range(1, 5)] and out["head"].value == 4
    assert out["query"].value == 5 and len(out["query"].choices) == 6  # an out-of-range query falls back to the last token
    out = show(n_heads=1)
    assert not out["head"].visible
    assert tab.step_next(*{**DEFAULTS, "step": 10}.values())[4].value == 10  # Next stops at the last step
    assert tab.step_previous(*{**DEFAULTS, "step": 1}.values())[4].value == 1
    assert tab.step_next(*{**DEFAULTS, "step": 3}.values())[4].value == 4
    # new tokens: the query goes back to the last one, and everything else is kept
    out = tab.step_new_input(*{**DEFAULTS, "sentence": "a b c d e f g", "query": 2, "step": 5}.values())
    assert out[6].value == 6 and out[4].value == 5


@pytest.mark.parametrize("changes,message", [
    (dict(sentence="   "), "empty"),
    (dict(sentence="w " * 17), "17 words"),
    (dict(sentence="x" * 17, unit="characters"), "switch to words"),
    (dict(sentence="x" * 201), "keep it under 200"),
    (dict(n_heads=3), "3 heads cannot split a width of 8"),
])
def test_bad_input_is_a_clear_error(changes, message):
    with pytest.raises(gr.Error, match=message):
        show(**changes)


def test_saturation_view_numbers():
    bars, lines, summary = tab.saturation_view(256)
    example = attention.saturation_example(256)
    s = torch.from_numpy(example["scores"])
    np.testing.assert_allclose(bars.data[0].y, torch.softmax(s, -1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(bars.data[1].y, torch.softmax(s / 16, -1).numpy(), rtol=1e-12)
    # the curve and the sentence: recomputed from the same random draws with torch
    rng = np.random.default_rng(0)
    for i, d in enumerate(tab.D_K_CHOICES):
        q, k = (torch.from_numpy(rng.standard_normal(shape)) for shape in ((tab.SATURATION_QUERIES, d), (8, d)))
        raw = q @ k.T
        top_raw = torch.softmax(raw, -1).max(-1).values.mean().item()
        top_scaled = torch.softmax(raw / math.sqrt(d), -1).max(-1).values.mean().item()
        assert lines.data[0].y[i] == pytest.approx(top_raw, rel=1e-12) and lines.data[1].y[i] == pytest.approx(top_scaled, rel=1e-12)
        if d == 256:
            numbers = [float(n) for n in re.findall(r"\*\*([\d.]+)\*\*", summary)]
            assert numbers == pytest.approx([raw.std(correction=0).item(), top_raw, (raw / 16).std(correction=0).item(), top_scaled], abs=0.006)
    with pytest.raises(gr.Error):
        tab.saturation_view(3)


def _lab_number(feedback):
    return float(re.search(r"\*\*the lab:\*\* ([-\d.e+]+)", feedback).group(1))


@pytest.mark.parametrize("n_heads,head", [(1, 1), (2, 2)])
def test_predict_unmasked_reveals_the_first_tokens_own_weight_without_the_mask(n_heads, head):
    from lessons.inputs import Checked

    state = Checked.start(tab.DEFAULT_SENTENCE, "words", tab.RANDOM)
    args = dict(state=state, unit="words", d_model=8, n_heads=n_heads, scaled=True, seed=0, head=head)
    for empty in (None, "", "  "):
        with pytest.raises(gr.Error, match="Type your guess first"):
            tab.predict_unmasked(empty, **args)
    out = tab.predict_unmasked("0.5", **args)
    x, w = attention.random_inputs(tab.DEFAULT_SENTENCE.split(), 8, 0)
    row = torch_steps(x, w, {}, n_heads, causal=False)["softmax"][head - 1, 0]
    assert _lab_number(out["feedback"]) == pytest.approx(row[0], abs=5e-4) and f"{row[0]:.3f}" in out["feedback"]
    assert f"“{tab.DEFAULT_SENTENCE.split()[int(np.argmax(row))]}” (token {int(np.argmax(row)) + 1}), {row.max():.3f}" in out["feedback"]
    assert "1/6 = 0.167" in out["feedback"]
    # the lab moved there: mask off, the softmax step, the first token's row, in bars and matrix alike
    assert out["causal"] is False and out["step"].value == tab.WEIGHTS_STEP and out["query"].value == 0
    assert "Step 8 of" in out["text"] and "Attention weights" in out["text"]
    np.testing.assert_allclose(out["bars"].data[head - 1].y, row, rtol=1e-12)
    np.testing.assert_allclose(z(out["matrix"])[0], row, rtol=1e-12)


def test_predict_spread_reveals_the_raw_scores_spread_at_1024():
    with pytest.raises(gr.Error, match="Type your guess first"):
        tab.predict_spread("")
    with pytest.raises(gr.Error, match="must be a number"):
        tab.predict_spread("thirty")
    out = tab.predict_spread("32")
    rng = np.random.default_rng(0)  # the curve's own draws, recomputed with torch
    for d in tab.D_K_CHOICES:
        q, k = (torch.from_numpy(rng.standard_normal(shape)) for shape in ((tab.SATURATION_QUERIES, d), (8, d)))
        if d == tab.SPREAD_D_K:
            spread = (q @ k.T).std(correction=0).item()
    assert _lab_number(out["feedback"]) == pytest.approx(spread, rel=2e-3) and f"{spread:.3g}" in out["feedback"]
    assert abs(spread - 32) < 2 and "√1024 = 32" in out["feedback"] and "spot on" in out["feedback"]
    assert out["d_k"] == 1024 and "At d_k = 1024" in out["summary"]
    assert out["bars"].layout.title.text.endswith("d_k = 1024: softmax of the scores")


# ----------------------------------------------------------------------------- with a MiniGPT checkpoint


@pytest.fixture
def learner_run(tmp_path, monkeypatch):
    """A learner with one tiny MiniGPT run in their own folder, and no shipped checkpoints."""
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(sessions, "CHECKPOINTS_DIR", tmp_path / "shipped")
    user_id = sessions.new_user_id()
    folder = sessions.new_run_dir(user_id, "minigpt", "tiny")
    make_checkpoint(folder, n_layer=2, n_head=4, n_embd=16, block_size=40)
    return user_id, str(folder)


def test_checkpoint_lists_are_per_learner(learner_run):
    user_id, folder = learner_run
    assert tab.refresh_checkpoints(user_id, None).value == "run/tiny"  # an id, never a server path
    assert tab.refresh_checkpoints(sessions.new_user_id(), folder).value is None  # another learner never sees it
    sources = tab.refresh_sources(user_id, tab.RANDOM)
    assert sources.value == tab.RANDOM and [v for _, v in sources.choices] == [tab.RANDOM, "run/tiny"]


def test_model_view_shows_the_models_maps(learner_run):
    user_id, folder = learner_run
    prompt = "the cat sat on the mat."
    tokens, grid, big, text, layer, head = tab.model_view(folder, prompt, 2, 3, user_id)
    want, _ = reference_forward(folder, prompt)
    for l in range(2):
        for h in range(4):
            np.testing.assert_allclose(tile(grid, l, h), want[l, h], atol=2e-5)
    assert [y for y in grid.data[0].y if y.startswith("L2 ")][3] == "L2 query 4 “␣”"
    np.testing.assert_allclose(z(big), want[1, 2], atol=2e-5)
    assert list(big.layout.xaxis.ticktext) == [c.replace(" ", "␣") for c in prompt]
    assert big.layout.title.text.startswith("Layer 2, head 3")
    m = want[1, 2]
    T = len(prompt)
    expected = [np.trace(m) / T, np.trace(m, offset=-1) / (T - 1), m[1:, 0].mean()]
    numbers = [float(n) for n in re.findall(r"\*\*([\d.]+)\*\*", text.split("head 3**")[1])]
    assert numbers == pytest.approx(expected, abs=0.006)
    assert layer.choices == [("1", 1), ("2", 2)] and head.value == 3


def test_model_view_messages(learner_run):
    user_id, folder = learner_run
    assert "No MiniGPT checkpoint" in tab.model_view(None, "abc", 1, 1, user_id)[3]
    for prompt, message in (("", "empty"), ("a" * 41, "at most 40"), ("€€", "None of the prompt's characters")):
        with pytest.raises(gr.Error, match=message):
            tab.model_view(folder, prompt, 1, 1, user_id)
    # characters the model never saw are left out, and the learner is told which
    with pytest.warns(UserWarning, match="Left out 1 character.*'€'"):
        tokens, grid, *_ = tab.model_view(folder, "a€b", 1, 1, user_id)
    np.testing.assert_allclose(tile(grid, 0, 0), reference_forward(folder, "ab")[0][0, 0], atol=2e-5)
    with pytest.raises(gr.Error, match="not available in this session"):
        tab.model_view(folder, "abc", 1, 1, sessions.new_user_id())  # someone else's run


def test_predict_zeros_counts_the_masked_weights(learner_run):
    from lessons.inputs import Checked

    user_id, folder = learner_run
    prompt = "the cat sat on the mat."
    state = Checked.start(prompt)
    with pytest.raises(gr.Error, match="Type your guess first"):
        tab.predict_zeros(None, state, folder, 2, 3, user_id)
    with pytest.raises(gr.Error, match="No MiniGPT checkpoint"):
        tab.predict_zeros("5", state, None, 1, 1, user_id)
    out = tab.predict_zeros("100", state, folder, 2, 3, user_id)
    want, _ = reference_forward(folder, prompt)  # float64, from the saved tensors
    T = len(prompt)
    assert int((want[1, 2] == 0).sum()) == T * (T - 1) // 2 == 253
    assert _lab_number(out["feedback"]) == 253 and "23·22/2 = 253" in out["feedback"] and "float32" not in out["feedback"]


def test_predict_unmasked_with_the_models_embeddings(learner_run):
    from core.minigpt import checkpoint
    from lessons.inputs import Checked

    user_id, folder = learner_run
    state = Checked.start("the cat sat", "words", folder)
    out = tab.predict_unmasked("0.3", state, "words", 8, 4, True, 0, 2, folder, user_id)
    assert out["unit"] == "characters" and out["causal"] is False  # a character model reads characters
    tokens, x, weights = attention.model_inputs(checkpoint.load(folder), "the cat sat")
    w = {k: v for k, v in weights.items() if k.startswith("w_")}
    b = {k: v for k, v in weights.items() if k.startswith("b_")}
    row = torch_steps(x, w, b, 4, causal=False)["softmax"][1, 0]  # head 2, the first character's row
    assert _lab_number(out["feedback"]) == pytest.approx(row[0], abs=5e-4) and "1/11 = 0.091" in out["feedback"]
    np.testing.assert_allclose(out["bars"].data[1].y, row, atol=1e-9)


def test_step_through_with_the_models_embeddings(learner_run):
    user_id, folder = learner_run
    with pytest.warns(UserWarning, match="reads characters"):  # gr.Warning outside an event is a Python warning
        out = show(sentence="the cat sat on the mat", source=folder, user_id=user_id, n_heads=4, step=8, head=2)
    # a MiniGPT reads characters: the tab switched to characters and cropped to the step-through's limit
    assert out["unit"] == "characters" and out["sentence"] == "the cat sat on t"
    want, _ = reference_forward(folder, "the cat sat on t")
    np.testing.assert_allclose(z(out["matrix"]), want[0, 1], atol=2e-5)
    assert "layer 1 of the MiniGPT checkpoint" in out["text"]


# ----------------------------------------------------------------------------- in a browser


@pytest.fixture
def shipped_tiny(tmp_path, monkeypatch):
    """The app's shipped-checkpoint folder, pointed at one tiny MiniGPT (the server runs in this process)."""
    monkeypatch.setattr(sessions, "CHECKPOINTS_DIR", tmp_path)
    make_checkpoint(tmp_path / "minigpt" / "tiny", n_layer=2, n_head=2, n_embd=16, block_size=40)


@pytest.mark.browser
def test_step_through_and_model_maps_in_the_browser(shipped_tiny, page, tmp_path):
    open_tab(page, "5 · Attention")
    page.get_by_text("Step 1 of 10 · Input X").wait_for()
    next_step = page.get_by_role("button", name="Next step ▶")
    for number in range(2, 9):
        next_step.click()
        page.get_by_text(f"Step {number} of 10").wait_for()
    page.locator(".gtitle", has_text="Step 8. Attention weights").wait_for()
    heads = page.locator("[role=tabpanel]:visible").get_by_label("number input for Heads", exact=True).first
    heads.fill("2")
    heads.press("Enter")
    page.get_by_text("showing head 1 of 2").wait_for()
    page.get_by_text("Step 8 of 11").wait_for()
    page.get_by_text("Where “mat” (token 6) looks").wait_for()
    assert page.locator(".legendtext", has_text="head 2").count() >= 1
    page.get_by_label("Query token: its row of weights").click()
    page.get_by_role("option", name="3: sat").click()
    page.get_by_text("Where “sat” (token 3) looks").wait_for()

    # the model lab lists the shipped checkpoint when the tab opens and draws layer × head maps
    page.locator(".gtitle", has_text="Layer 1, head 1: where each character looks").wait_for()
    assert page.locator(".annotation-text", has_text="L2 H2").count() == 1
    page.locator("#attention-enlarge-layer").get_by_text("2", exact=True).click()
    page.locator(".gtitle", has_text="Layer 2, head 1: where each character looks").wait_for()

    # predict, then run: the spread of the raw scores at d_k = 1024, and the saturation lab moves there
    page.locator("#predict-spread-guess textarea").fill("30")
    page.locator("#predict-spread-button").click()
    page.locator("#predict-spread-feedback").get_by_text("√1024 = 32", exact=False).wait_for()
    assert "Your guess:" in page.locator("#predict-spread-feedback").inner_text()
    page.get_by_text("At d_k = 1024 the raw scores").wait_for()
    page.locator(".gtitle", has_text="d_k = 1024: softmax of the scores").wait_for()
    page.screenshot(path=str(tmp_path / "part05.png"), full_page=True)


def test_a_typed_sentence_is_checked_once_and_other_controls_use_the_last_good_one():
    from lessons.inputs import Checked, announce

    start = Checked.start(tab.DEFAULT_SENTENCE, "words", tab.RANDOM)
    typo = tab.check_sentence("w " * 17, "words", tab.RANDOM, start)
    with pytest.raises(gr.Error, match="17 words"):
        announce(typo)
    with pytest.raises(gr.Error) as silent:  # the blur after Enter: same text, no second message
        announce(tab.check_sentence("w " * 17, "words", tab.RANDOM, typo))
    assert not silent.value.visible
    # Next step with the typo still in the box: the last good sentence, no error
    controls = [v for k, v in DEFAULTS.items() if k != "sentence"]
    out = tab.step_view_next(typo, *controls)
    assert "Step 2 of 10" in out[1] and out[6].value == 5  # six tokens of the default sentence


def test_every_chart_is_valid_plotly(learner_run):
    import plotly.graph_objects as go

    user_id, folder = learner_run
    charts = [show(n_heads=2, step=s, query=2)[k] for s in (1, 8) for k in ("matrix", "bars")]
    charts += list(tab.saturation_view(64)[:2]) + list(tab.model_view(folder, "the cat", 1, 2, user_id)[1:3])
    for c in charts:
        figure = go.Figure(c.to_plotly_json())  # plotly's own validation: raises on a misspelt property
        assert figure.layout.title.text


def test_importing_the_lab_modules_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; import lessons.part03_core_math, lessons.part05_attention, lessons.part06_tokenization; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["False", "False"]


TAB5_READY = """(n) => { const s = document.querySelector('#attention-step');
  if (!s || !s.innerText.includes('Step 1 of')) return false;
  return s.closest('[role=tabpanel]').querySelectorAll('.js-plotly-plot .main-svg').length >= n; }"""


@pytest.mark.browser
def test_first_open_and_a_typo_said_once(page):
    from tests.lessons.test_part03_core_math import _toasts, report_first_open, first_open_seconds, record_toasts

    report_first_open(first_open_seconds(page, "5 · Attention", TAB5_READY, 4), "tab 5")
    record_toasts(page)
    sentence = page.locator("#attention-sentence textarea")
    sentence.fill("w " * 17)
    sentence.press("Enter")
    page.locator(".toast-body").filter(has_text="17 words").first.wait_for()
    # leaving the box and stepping on: the last good sentence, and no second message
    page.get_by_role("button", name="Next step ▶").click()
    page.get_by_text("Step 2 of 10").wait_for()
    page.wait_for_timeout(1000)
    assert _toasts(page, "17 words") == 1
    panel = page.locator("[role=tabpanel]").filter(has=page.locator("#attention-step"))
    assert panel.get_by_text("Error", exact=True).count() == 0


def test_the_default_labs_are_drawn_when_the_tab_is_built():
    import json

    import gradio as gr_

    from lessons.common import LessonContext

    with gr_.Blocks() as demo:
        with gr_.Tabs(), gr_.Tab("alone") as t:
            tab.build(LessonContext(demo=demo, tab=t, user_id=gr_.BrowserState(None)))
    step_md = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "attention-step")
    assert "Step 1 of 10 · Input X" in step_md.value
    plots = [b for b in demo.blocks.values() if isinstance(b, gr_.Plot) and b.value]
    titles = [json.loads(p.value["plot"])["layout"]["title"]["text"] for p in plots]
    assert any(t.startswith("Step 1.") for t in titles) and any("d_k = 64" in t for t in titles)
    # drawing the defaults at build adds no component of its own (a handler's gr.Slider(...) update would)
    count = lambda kind: sum(isinstance(b, kind) for b in demo.blocks.values())  # noqa: E731
    # the Radios: unit, d_k, two Enlarge pickers, Head shown, and the end-of-tab check's answers
    assert (count(gr_.Slider), count(gr_.Dropdown), count(gr_.Radio), count(gr_.Plot)) == (3, 3, 6, 6)
    loaded = {fn.fn.__name__ for fn in demo.fns.values() if fn.targets and fn.targets[0][1] == "load"}
    assert "step_view" not in loaded and "saturation_view" not in loaded  # nothing per learner to wait for


# ----------------------------------------------------------------------------- a BPE model (tab 11's workflow)


@pytest.fixture(scope="module")
def bpe_learner():
    from tests.lessons.bpe_runs import shared_run

    return shared_run("bpe")


def test_a_bpe_models_maps_are_over_its_tokens(bpe_learner):
    from core.minigpt import checkpoint

    user_id, folder = bpe_learner
    assert "workflow/bpe" in [v for _, v in tab.refresh_checkpoints(user_id, None).choices]
    bpe = checkpoint.load(folder).tokenizer.bpe
    prompt = "the cat sat on the mat."
    ids = bpe.encode(prompt)
    pieces = [bpe.token_bytes(i).decode("utf-8") for i in ids]  # ASCII: every piece is whole text
    assert len(ids) < len(prompt) and "".join(pieces) == prompt  # some tokens cover several characters
    tokens, grid, big, text, layer, head = tab.model_view("workflow/bpe", prompt, 1, 2, user_id)
    want, _ = reference_forward(folder, prompt, ids=ids)
    for h in range(2):
        np.testing.assert_allclose(tile(grid, 0, h), want[0, h], atol=2e-5)
    np.testing.assert_allclose(z(big), want[0, 1], atol=2e-5)
    assert list(big.layout.xaxis.ticktext) == [p.replace(" ", "␣") for p in pieces]  # spaces visible
    assert big.layout.title.text == "Layer 1, head 2: where each token looks"
    assert big.layout.xaxis.title.text == "key token (looked at)" and "row = query token" in grid.layout.title.text
    assert f"{len(ids)} tokens (the model's BPE pieces" in text and "character" not in text
    m, T = want[0, 1], len(ids)
    numbers = [float(n) for n in re.findall(r"\*\*([\d.]+)\*\*", text.split("head 2**")[1])]
    assert numbers == pytest.approx([np.trace(m) / T, np.trace(m, offset=-1) / (T - 1), m[1:, 0].mean()], abs=0.006)
    # the context counts tokens: 32 here, whatever the characters
    long = "the cat sat on the mat. " * 8
    n = len(bpe.encode(long))
    assert n > 32 and len(long) < tab.MAX_SENTENCE_CHARS
    with pytest.raises(gr.Error, match=f"{n} tokens; this model reads at most 32"):
        tab.model_view("workflow/bpe", long, 1, 1, user_id)


def test_step_through_with_a_bpe_model_crops_to_its_tokens(bpe_learner):
    from core.minigpt import checkpoint

    user_id, folder = bpe_learner
    bpe = checkpoint.load(folder).tokenizer.bpe
    sentence = "the cat sat on the mat and the dog sat on the log today"
    assert len(bpe.encode(sentence)) > attention.MAX_TOKENS
    with pytest.warns(UserWarning, match="reads BPE tokens"):
        out = show(sentence=sentence, source="workflow/bpe", user_id=user_id, n_heads=2, step=8, head=2)
    cropped = out["sentence"]
    ids = bpe.encode(cropped)
    assert sentence.startswith(cropped) and len(ids) <= attention.MAX_TOKENS < len(bpe.encode(sentence[:len(cropped) + 2]))
    assert not isinstance(out["unit"], str)  # the unit radio is left alone (it is for random embeddings)
    want, _ = reference_forward(folder, cropped, ids=ids)
    np.testing.assert_allclose(z(out["matrix"]), want[0, 1], atol=2e-5)
    assert "BPE pieces" in out["text"]
    tokenizer = checkpoint.load(folder).tokenizer
    short = attention.crop_to_tokens(tokenizer, "café " * 20, 5)  # never half of the two bytes of 'é'
    assert ("café " * 20).startswith(short) and short and "\ufffd" not in short and len(tokenizer.encode(short)) <= 5

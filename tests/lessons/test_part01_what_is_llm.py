"""Tab 1: every number on screen against an independent computation (safetensors, torch, tiktoken's known ids,
transformers models on the meta device, published totals), the messages, and the two labs in a browser."""
import ast
import inspect
import json
import subprocess
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from core import architecture, embeddings
from core.sessions import CHECKPOINTS_DIR
from lessons import part01_what_is_llm as tab
from lessons.inputs import Checked, announce
from tests.conftest import build_tab_alone, open_tab
from tests.core.test_architecture import CONFIG_JSONS, counted, meta_model

SHIPPED = "shipped/default"
DEFAULT_DIR = CHECKPOINTS_DIR / "minigpt" / "default"


@pytest.fixture(scope="module")
def wte():
    return load_file(str(DEFAULT_DIR / "model.safetensors"))["wte.weight"].double()


@pytest.fixture(scope="module")
def ex():
    return embeddings.load(DEFAULT_DIR)


def test_tab_builds():
    labels = build_tab_alone(tab)
    for label in ("MiniGPT checkpoint", "Text", "Character whose neighbours are shown", "Preset", "Family", "Layers L",
                  "Key/value heads (Llama style)", "MLP width", "Vocabulary V", "config.json"):
        assert label in labels


def test_importing_the_tab_does_not_import_torch():
    code = "import sys; import lessons.part01_what_is_llm; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "[]"


def test_every_function_in_the_tab_is_short():
    tree = ast.parse(inspect.getsource(tab))
    lengths = {n.name: n.end_lineno - n.lineno + 1 for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert max(lengths.values()) <= 60, sorted(lengths.items(), key=lambda kv: -kv[1])[:3]


# ----------------------------------------------------------------------------- explorer


def test_explorer_shows_the_models_numbers(ex, wte):
    text = "Hello world"
    out = tab.explore_values(text, SHIPPED, None, None)
    ids = [ex.chars.index(c) for c in text]
    # the three cuts: characters, the MiniGPT's ids, cl100k's (known ids of "Hello world")
    assert "Characters: 11" in out["tokens"] and "MiniGPT ids: 11 tokens (vocabulary of 66)" in out["tokens"]
    assert "cl100k_base (GPT-4): 2 tokens" in out["tokens"]
    assert "<sub>9906</sub>" in out["tokens"] and "<sub>1917</sub>" in out["tokens"]
    assert all(f"<sub>{i}</sub>" in out["tokens"] for i in ids)
    # next-token bars: torch's softmax of the model's last logits, the 10 largest
    with torch.no_grad():
        logits = ex.model(torch.tensor([ids]))[0][0, -1].double()
    probs = F.softmax(logits, dim=-1)
    top = torch.topk(probs, 10)
    bars = out["next_plot"].data[0]
    np.testing.assert_allclose(bars.y, top.values.numpy(), rtol=1e-6)
    assert list(out["next_plot"].layout.xaxis.ticktext) == [tab.label_text(ex.chars[i]) for i in top.indices.tolist()]
    assert f"**{top.values[0].item():.1%}**" in out["summary"]
    # the heatmap rows are the checkpoint's own wte rows, in the text's order
    np.testing.assert_array_equal(np.array(out["rows_plot"].data[0].z), wte[ids].numpy())
    # picked by default: the text's last character; neighbours by torch's cosine similarity
    pick = ids[-1]
    assert out["pick"].value == pick and len(out["pick"].choices) == len(ex.chars)
    cosines = F.cosine_similarity(wte[pick][None], wte, dim=1)
    cosines[pick] = -2
    expected = torch.topk(cosines, tab.TOP_K)
    near = out["near_trained"]
    np.testing.assert_allclose(near.data[0].y, expected.values.numpy(), rtol=1e-12)
    assert list(near.layout.xaxis.ticktext) == [tab.label_text(ex.chars[i]) for i in expected.indices.tolist()]
    untrained = torch.tensor(ex.untrained)
    cosines = F.cosine_similarity(untrained[pick][None], untrained, dim=1)
    cosines[pick] = -2
    np.testing.assert_allclose(out["near_untrained"].data[0].y, torch.topk(cosines, tab.TOP_K).values.numpy(), rtol=1e-12)


def test_a_picked_character_is_kept_and_a_long_text_shows_its_first_rows(ex):
    a = ex.chars.index("a")
    text = "The transformer reads every character of this sentence"
    out = tab.explore_values(text, SHIPPED, a, None)
    assert out["pick"].value == a and "Nearest to “a”" in out["near_trained"].layout.title.text
    assert out["near_trained"].layout.xaxis.ticktext[0] == "A"  # trained: its nearest neighbour is the capital
    assert len(out["rows_plot"].data[0].z) == tab.HEATMAP_MAX_TOKENS
    assert f"(first {tab.HEATMAP_MAX_TOKENS} of {len(text)})" in out["rows_plot"].layout.title.text


def test_vocabulary_maps_are_the_pca_of_both_tables(ex):
    out = tab.maps_values(SHIPPED, None)
    for fig, table in ((out["map_trained"], ex.trained), (out["map_untrained"], ex.untrained)):
        centred = table - table.mean(axis=0)
        values, vectors = np.linalg.eigh(np.cov(centred, rowvar=False))
        expected = centred @ vectors[:, ::-1][:, :2]
        assert [t.name for t in fig.data] == list(embeddings.CLASSES)
        assert sum(len(t.x) for t in fig.data) == len(ex.chars)
        for trace in fig.data:
            members = [i for i, c in enumerate(ex.chars) if embeddings.char_class(c) == trace.name]
            for axis, shown in enumerate((trace.x, trace.y)):
                sign = np.sign(expected[:, axis] @ embeddings.pca_2d(table)[0][:, axis])
                np.testing.assert_allclose(shown, sign * expected[members, axis], atol=1e-9)
        share = values[::-1][:2] / values.sum()
        assert f"PC 1 ({share[0]:.0%} of the variance)" == fig.layout.xaxis.title.text
    after, before = (embeddings.clustering(t, ex.chars) for t in (ex.trained, ex.untrained))
    assert f"**{after['same_class']:.0%}** of the characters after training" in out["clusters"]
    assert f"**{before['same_class']:.0%}** in the untrained twin" in out["clusters"]
    assert f"gives {after['chance']:.0%}" in out["clusters"]
    (hits, n), (hits_before, _) = after["by_class"]["digit"], before["by_class"]["digit"]
    assert f"Digits: **{hits} of {n}** have another digit as nearest neighbour after training, {hits_before} before." in out["clusters"]
    assert f"its neighbour number **{after['case_rank']:g}** after training and **{before['case_rank']:g}** before" in out["clusters"]


def test_the_lessons_claim_about_letter_cases_holds_for_the_shipped_model(ex):
    """The lesson says a letter's nearest vector is usually its other case: true for most letters here."""
    unit = embeddings.unit_rows(ex.trained)
    letters = [c for c in ex.chars if c.islower() and c.upper() in ex.chars]
    nearest_is_case = [ex.chars[embeddings.neighbours(ex.trained, ex.chars.index(c), 1)[0][0]] == c.upper() for c in letters]
    print(f"{sum(nearest_is_case)} of {len(letters)} letters have their capital as nearest neighbour")
    assert sum(nearest_is_case) > len(letters) / 2
    assert unit.shape == ex.trained.shape


def test_a_typed_text_is_checked_once_and_the_pick_uses_the_last_good_text():
    start = Checked.start(tab.DEFAULT_TEXT, SHIPPED)
    typo = tab.check_text("café", SHIPPED, None, start)
    with pytest.raises(gr.Error, match="no token for 'é'"):
        announce(typo)
    with pytest.raises(gr.Error) as silent:  # the blur after Enter: same text, no second message
        announce(tab.check_text("café", SHIPPED, None, typo))
    assert not silent.value.visible
    out = dict(zip(tab.EXPLORER_OUTPUTS, tab.explore_view(typo, SHIPPED, 5, None)))
    assert "Characters: 11" in out["tokens"] and out["pick"].value == 5  # "Python is a", not the typo
    for bad, message in (("", "Type some text"), ("x" * 501, "at most 500")):
        with pytest.raises(gr.Error, match=message):
            announce(tab.check_text(bad, SHIPPED, None, start))


def test_a_checkpoint_that_cannot_read_the_text_is_refused_before_any_output():
    from core import registry, sessions
    from core.minigpt import checkpoint
    from core.minigpt.config import GPTConfig
    from core.minigpt.model import MiniGPT
    from core.minigpt.tokenizer import CharTokenizer

    user = sessions.new_user_id()  # a learner whose own run knows only digits and the space
    tokenizer = CharTokenizer("0123456789 ")
    model = MiniGPT(GPTConfig(vocab_size=tokenizer.vocab_size, n_layer=1, n_head=1, n_embd=16, block_size=8), seed=3)
    folder = checkpoint.save(sessions.new_run_dir(user, "minigpt", "digits"), model, tokenizer)
    ckpt = registry.resolve("minigpt", str(folder), user).id
    state = Checked.start("Python is a", SHIPPED)
    with pytest.raises(gr.Error, match="no token for 'P'"):
        tab.check_checkpoint(state, ckpt, user)
    tab.check_checkpoint(Checked.start("2026", SHIPPED), ckpt, user)
    out = dict(zip(tab.EXPLORER_OUTPUTS, tab.explore_new_checkpoint(Checked.start("2026", SHIPPED), ckpt, user)))
    assert "MiniGPT ids: 4 tokens (vocabulary of 11)" in out["tokens"]


def test_explorer_refuses_a_missing_or_foreign_checkpoint():
    with pytest.raises(gr.Error, match="No MiniGPT checkpoint is available yet"):
        tab.explore_values("abc", None, None, None)
    with pytest.raises(gr.Error, match="not available in this session"):
        tab.maps_values("run/someone-elses-run", None)


# ----------------------------------------------------------------------------- parameter counter


def table_counts(table: str) -> dict[str, int]:
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        rows[cells[0]] = int(cells[1].replace(",", ""))
    return rows


def shown_counts(out: dict) -> dict[str, int]:
    """The breakdown as the tab shows it: table rows and stacked bars, which must agree."""
    rows = table_counts(out["table"])
    bars = {t.name: t.x[0] for t in out["bar"].data}
    parts = {part: rows[label] for part, label in tab.PART_LABELS.items()}
    assert all(bars[label] == rows[label] for label in tab.PART_LABELS.values())
    assert rows["total"] == sum(parts.values())
    return {**parts, "total": rows["total"]}


@pytest.mark.parametrize("name", ["gpt2", "tinyllama-1.1b", "llama-3-8b", "smollm2-135m"])
def test_every_count_shown_equals_the_transformers_model_on_meta(name):
    out = tab.count_preset(name)
    model = meta_model(architecture.preset(name))
    assert shown_counts(out) == counted(model)
    s = architecture.shape(architecture.preset(name))
    rule = 12 * s["n_layers"] * s["d_model"] ** 2
    assert out["bar"].data[-1].x == [rule] and f"12·L·d² = {rule:,}" in out["summary"]
    gap = (rule - counted(model)["total"]) / counted(model)["total"]
    assert f"**{abs(gap):.1%} {'below' if gap < 0 else 'above'}**" in out["summary"]
    # the controls show the preset's shape
    assert (out["family"], out["n_layers"], out["d_model"], out["n_heads"], out["n_kv_heads"].value,
            out["d_mlp"], out["vocab_size"], out["context"], out["tied"]) == (
        s["family"], s["n_layers"], s["d_model"], s["n_heads"], s["n_kv_heads"], s["d_mlp"], s["vocab_size"],
        s["context"], s["tied"])


def test_published_totals_on_screen():
    for name, total in (("gpt2", "124,439,808"), ("tinyllama-1.1b", "1,100,048,384"), ("llama-2-7b", "6,738,415,616")):
        assert f"**{total}** parameters" in tab.count_preset(name)["summary"]


def test_minigpt_preset_equals_the_shipped_checkpoints_parameters(ex):
    assert shown_counts(tab.count_preset("minigpt"))["total"] == sum(p.numel() for p in ex.model.parameters())


@pytest.mark.parametrize("family,tied", [("llama", False), ("gpt2", True)])
def test_a_shape_from_the_controls(family, tied):
    out = tab.count_shape(family, 3, 96, 6, 2, 200, 777, 50, tied)
    config = architecture.custom(family, 3, 96, 6, 6 if family == "gpt2" else 2, 200, 777, 50, tied)
    assert shown_counts(out) == counted(meta_model(config))
    assert out["preset"] is None  # no preset describes it any more
    assert out["n_kv_heads"].value == (6 if family == "gpt2" else 2)  # GPT-2 style: kv heads are the heads
    assert out["n_kv_heads"].interactive is (family == "llama")


def test_an_impossible_shape_gets_one_message_before_any_output():
    shape = dict(family="llama", n_layers=2, d_model=100, n_heads=3, n_kv_heads=1, d_mlp=200, vocab_size=100,
                 context=64, tied=False)
    with pytest.raises(gr.Error, match="divisible by the number of heads"):
        tab.check_shape(**shape)
    with pytest.raises(gr.Error, match="share 3 key/value heads evenly"):
        tab.check_shape(**{**shape, "d_model": 96, "n_heads": 4, "n_kv_heads": 3})
    assert tab.check_shape(**{**shape, "d_model": 96}) is None
    with pytest.raises(gr.Error, match="divisible"):  # the count itself refuses it too
        tab.count_shape(**shape)


def test_a_pasted_config_json_is_counted_like_the_transformers_model():
    text = json.dumps({**CONFIG_JSONS["qwen2"], "architectures": ["Qwen2ForCausalLM"]})
    state = tab.check_config(text, Checked.start(""))
    announce(state)  # fresh and good: no message
    out = dict(zip(tab.COUNTER_OUTPUTS, tab.count_config_view(state)))
    assert shown_counts(out) == counted(meta_model(CONFIG_JSONS["qwen2"]))
    assert out["summary"].startswith("**Your config.json (Qwen2ForCausalLM)**")
    assert out["vocab_size"] == 151936 and out["n_kv_heads"].value == 2


@pytest.mark.parametrize("text,message", [
    (json.dumps({"model_type": "bert", "hidden_size": 768}), "model_type 'bert' is not supported"),
    ('{"model_type": "llama",\n "hidden_size": }', "not valid JSON: .* line 2"),
])
def test_a_bad_config_json_is_refused_once(text, message):
    state = tab.check_config(text, Checked.start(""))
    with pytest.raises(gr.Error, match=message):
        announce(state)
    with pytest.raises(gr.Error) as silent:
        announce(tab.check_config(text, state))
    assert not silent.value.visible


def test_an_uploaded_config_json(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(CONFIG_JSONS["mistral"], indent=2))
    out = tab.upload_config(str(path))
    assert out["config_text"] == path.read_text()
    assert shown_counts(out) == counted(meta_model(CONFIG_JSONS["mistral"]))
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(gr.Error, match="not UTF-8"):
        tab.upload_config(str(path))


def test_the_lesson_tables_numbers_are_the_exact_counts():
    text = (Path(tab.__file__).parent / "text" / "part01_what_is_llm.md").read_text()
    for model, preset in (("MiniGPT (Part 4)", "minigpt"), ("GPT-2 small", "gpt2"), ("TinyLlama", "tinyllama-1.1b"),
                          ("Llama 3 8B", "llama-3-8b")):
        row = next(line for line in text.splitlines() if line.startswith(f"| {model} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        config = architecture.preset(preset)
        s = architecture.shape(config)
        assert (int(cells[1]), int(cells[2])) == (s["n_layers"], s["d_model"])
        assert int(cells[3].replace(",", "")) == architecture.breakdown(config)["total"]
        assert int(cells[4].replace(",", "")) == 12 * s["n_layers"] * s["d_model"] ** 2
    gpt3 = next(line for line in text.splitlines() if line.startswith("| GPT-3 |"))
    assert f"{12 * 96 * 12288 ** 2:,}" in gpt3
    llama3 = architecture.shape(architecture.preset("llama-3-8b"))
    assert (llama3["n_heads"], llama3["n_kv_heads"], llama3["d_mlp"]) == (32, 8, 14336)
    assert "32 query heads, 8 key/value heads" in text and "14,336 for $d = 4096$" in text


def test_the_vocabulary_prediction_is_the_checkpoints_token_table(wte):
    with pytest.raises(gr.Error, match="Type your guess first"):
        tab.predict_vocabulary("", SHIPPED, None)
    feedback = tab.predict_vocabulary("50", SHIPPED, None)["feedback"]
    vocab, width = wte.shape  # read from the safetensors file itself
    assert f"**the lab:** {vocab} characters" in feedback and f"{vocab} × {width} = {vocab * width:,}" in feedback


def test_the_untied_prediction_counts_like_transformers():
    from transformers import GPT2Config, GPT2LMHeadModel

    with pytest.raises(gr.Error, match="Type your guess first"):
        tab.predict_untied("", "gpt2", 12, 768, 12, 12, 3072, 50257, 1024, True)
    with torch.device("meta"):
        model = GPT2LMHeadModel(GPT2Config(tie_word_embeddings=False))
    total = sum(p.numel() for p in model.parameters())  # an untied head: its own 50,257 × 768 matrix
    feedback = tab.predict_untied("124e6", "gpt2", 12, 768, 12, 12, 3072, 50257, 1024, True)["feedback"]
    assert f"**the lab:** {total:.5g} parameters" in feedback and "38,597,376" in feedback


# ----------------------------------------------------------------------------- in a browser


@pytest.mark.browser
def test_explorer_and_counter_in_the_browser(page, tmp_path):
    from tests.lessons.test_part03_core_math import _toasts, record_toasts

    open_tab(page, "1 · What is an LLM")
    page.locator("#explorer-summary", has_text="highest probability next").wait_for()
    page.get_by_text("cl100k_base (GPT-4): 3 tokens").wait_for()  # "Python is a"
    page.locator(".gtitle", has_text="Next character after").wait_for()
    page.get_by_role("tab", name="Map of the vocabulary").click()
    page.locator(".gtitle", has_text="All 66 characters, after training").wait_for()
    page.locator("#explorer-clusters", has_text="untrained twin").wait_for()
    record_toasts(page)
    text = page.locator("#explorer-text textarea")
    text.fill("café")
    text.press("Enter")
    page.locator(".toast-body").filter(has_text="no token for 'é'").first.wait_for()
    text.fill("Hello world")
    text.press("Enter")
    page.get_by_text("cl100k_base (GPT-4): 2 tokens").wait_for()
    page.get_by_role("tab", name="Nearest neighbours").click()
    page.locator(".gtitle", has_text="Nearest to “a”, after training").wait_for()  # the pick stays: "a"
    page.get_by_label("Character whose neighbours are shown").click()
    page.get_by_role("option", name="e (vowel)", exact=True).click()
    page.locator(".gtitle", has_text="Nearest to “e”, untrained twin").wait_for()
    page.wait_for_timeout(500)
    assert _toasts(page, "no token for") == 1
    panel = page.locator("[role=tabpanel]").filter(has=page.locator("#explorer-summary"))
    assert panel.get_by_text("Error", exact=True).count() == 0
    # the counter: a preset, then a pasted config.json
    page.locator("#counter-summary", has_text="124,439,808").wait_for()
    page.locator("#predict-untied-guess textarea").fill("124000000")  # predict, then run
    page.locator("#predict-untied-button").click()
    page.locator("#predict-untied-feedback").get_by_text("38,597,376").wait_for()
    page.get_by_label("Preset").click()
    page.get_by_role("option", name="Llama-3-8B").click()
    page.locator("#counter-summary", has_text="8,030,261,248").wait_for()
    heads = page.get_by_label("Query heads").first
    heads.fill("5")  # 4096 is not divisible by 5: said once, the last count stays, no Error badge
    heads.press("Enter")
    page.locator(".toast-body").filter(has_text="divisible by the number of heads").first.wait_for()
    page.wait_for_timeout(500)
    counter = page.locator("[role=tabpanel]").filter(has=page.locator("#counter-summary"))
    assert counter.get_by_text("Error", exact=True).count() == 0
    assert "8,030,261,248" in page.locator("#counter-summary").inner_text()
    page.get_by_text("Paste or upload a config.json").click()
    box = page.locator("#counter-config textarea")
    box.fill(json.dumps(CONFIG_JSONS["qwen2"]))
    page.get_by_role("button", name="Count this config.json").click()
    total = counted(meta_model(CONFIG_JSONS["qwen2"]))["total"]
    page.locator("#counter-summary", has_text=f"{total:,}").wait_for()
    page.screenshot(path=str(tmp_path / "part01.png"), full_page=True)


def test_the_explorer_lists_the_workflows_character_model_but_not_its_bpe_one():
    # the explorer is one row per character (classes, letter cases): a BPE model is not offered, and refused
    from core import pipeline
    from tests.lessons.bpe_runs import TEXT, shared_run

    user, char_dir = shared_run("char")
    _, bpe_dir = shared_run("bpe")
    listed = tab.refresh_checkpoints(user, None)
    ids = [v for _, v in listed.choices]
    assert "workflow/char" in ids and "workflow/bpe" not in ids and SHIPPED in ids
    assert listed.value == SHIPPED  # the tab still opens on the shipped (best) model
    assert tab.refresh_checkpoints(user, "workflow/char").value == "workflow/char"
    for handler in (lambda: tab.explore_values("Hi", "workflow/bpe", None, user), lambda: tab.maps_values("workflow/bpe", user)):
        with pytest.raises(gr.Error, match="This is a BPE model: the explorer reads character models"):
            handler()
    # the character model of the workflow is explored like any other: its own table rows
    out = tab.explore_values("café", "workflow/char", None, user)
    vocab = json.loads((char_dir / "config.json").read_text())["vocabulary"]
    assert set(vocab) == set(pipeline.prepare_data(TEXT).text)  # the characters of the workflow's cleaned text
    wte = load_file(str(char_dir / "model.safetensors"))["wte.weight"].double()
    np.testing.assert_array_equal(np.array(out["rows_plot"].data[0].z), wte[[vocab.index(c) for c in "café"]].numpy())

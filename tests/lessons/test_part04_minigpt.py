"""The MiniGPT tab: handlers called directly (numbers checked independently) and one real browser run."""
import math
import re
import zipfile

import gradio as gr
import pytest
import torch
import torch.nn.functional as F

from core import registry, sessions
from core.minigpt import checkpoint, data
from core.minigpt.config import GPTConfig
from core.minigpt.model import MiniGPT
from lessons import part04_minigpt as tab
from lessons.common import checkpoint_choices

SMALL = dict(n_layer=1, n_head=2, n_embd=32, block_size=16, batch_size=4, learning_rate=5e-3, steps=20, dropout=0.0, bf16=False,
             optimizer="adamw", short_window=0)


def train_small(user_id, source=tab.BUILTIN, pasted=None, upload=None, **overrides):
    s = {**SMALL, **overrides}
    return list(tab.run_training(user_id, source, pasted, upload, s["n_layer"], s["n_head"], s["n_embd"], s["block_size"],
                                 s["batch_size"], s["learning_rate"], s["steps"], s["dropout"], s["bf16"],
                                 s["optimizer"], s["short_window"], "default"))


@pytest.fixture(scope="module")
def trained():
    """One tiny run on the built-in corpus, shared by the tests below."""
    user = sessions.new_user_id()
    outputs = train_small(user)
    return user, outputs


def test_live_parameter_count_equals_the_models():
    text = data.builtin_corpus()
    for shape in [(4, 4, 128, 64), (2, 2, 64, 32), (1, 1, 16, 8)]:
        line = tab.size_summary(tab.BUILTIN, None, None, *shape, 0.0, 12)
        shown = int(re.search(r"\*\*([\d,]+) parameters\*\*", line).group(1).replace(",", ""))
        n_layer, n_head, n_embd, block = shape
        model = MiniGPT(GPTConfig(vocab_size=len(set(text)), block_size=block, n_layer=n_layer, n_head=n_head, n_embd=n_embd))
        assert shown == sum(p.numel() for p in model.parameters())
    # weights + gradients + AdamW moments = 16 bytes per parameter
    line = tab.size_summary(tab.BUILTIN, None, None, 4, 4, 128, 64, 0.0, 12)
    params = GPTConfig(vocab_size=len(set(text))).num_params()
    assert f"weights {params * 4 / 2**20:.1f} MB" in line and f"AdamW moments {params * 8 / 2**20:.1f} MB" in line
    assert "divisible" in tab.size_summary(tab.BUILTIN, None, None, 2, 3, 64, 32, 0.0, 12)
    muon = GPTConfig(vocab_size=len(set(text))).memory_estimate(12, "muon")["optimizer"]
    assert f"Muon momentum + AdamW moments {muon / 2**20:.1f} MB" in tab.size_summary(
        tab.BUILTIN, None, None, 4, 4, 128, 64, 0.0, 12, "muon")


def test_bad_corpora_give_clear_errors(tmp_path):
    user = sessions.new_user_id()
    with pytest.raises(gr.Error, match="paste box is empty"):
        train_small(user, tab.PASTE, "   ")
    with pytest.raises(gr.Error, match="has 20 characters; it needs at least 34 for a context of 16"):
        train_small(user, tab.PASTE, "abcdefghij" * 2)
    with pytest.raises(gr.Error, match="one distinct character"):
        train_small(user, tab.PASTE, "a" * 100)
    with pytest.raises(gr.Error, match="No file uploaded"):
        train_small(user, tab.UPLOAD, None, None)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("d\u00e9j\u00e0 vu ".encode("latin-1") * 50)
    with pytest.raises(gr.Error, match="not UTF-8"):
        train_small(user, tab.UPLOAD, None, str(bad))
    with pytest.raises(gr.Error, match="divisible"):
        train_small(user, n_head=3)
    assert not (sessions.runs_root() / user).exists() or not any((sessions.runs_root() / user / "minigpt").iterdir())


def test_training_streams_and_the_chart_shows_the_real_losses(trained):
    user, outputs = trained
    status, fig, samples, dropdown, run_dir, download = outputs[-1]
    assert "step 20/20" in status and "done" in status
    assert len(outputs) >= 3  # the step-0 report, intermediate reports, the final one
    traces = {t.name: t for t in fig.data}
    assert set(traces) == {"train", "validation"}
    vocab = len(set(data.builtin_corpus()))
    assert fig.layout.shapes[0].y0 == pytest.approx(math.log(vocab))  # the ln(V) line
    # the chart's last validation point, recomputed from the saved weights with F.cross_entropy in float64
    loaded = checkpoint.load(run_dir)
    ds = data.CharDataset(data.builtin_corpus(), 16, 0.1, tokenizer=loaded.tokenizer)
    g = torch.Generator().manual_seed(0)
    model = loaded.model.double()
    losses = []
    for _ in range(8):  # estimate_loss: eval_batches windows drawn with seed 0
        x, y = ds.batch("val", 4, g)
        losses.append(F.cross_entropy(model(x)[0].reshape(-1, vocab), y.reshape(-1)).item())
    assert traces["validation"].y[-1] == pytest.approx(sum(losses) / len(losses), rel=1e-4)
    assert traces["validation"].y[0] == pytest.approx(math.log(vocab), abs=0.2)
    assert "— step 20 —\nPython is" in samples
    assert dropdown.value == run_dir and run_dir in [p for _, p in dropdown.choices]
    assert download["value"].endswith(".zip")


def test_runs_are_private_to_their_session(trained):
    user, outputs = trained
    run_dir = outputs[-1][4]
    assert run_dir in [p for _, p in checkpoint_choices("minigpt", user)]
    other = sessions.new_user_id()
    assert run_dir not in [p for _, p in checkpoint_choices("minigpt", other)]
    with pytest.raises(gr.Error, match="not available in this session"):
        list(tab.run_generate(other, run_dir, "Python", 5, 0, 0, 1, 1, True))


def test_download_zip_has_weights_config_losses_and_samples(trained):
    user, outputs = trained
    path = tab.download_run(outputs[-1][4])["value"]
    names = {n.split("/")[-1] for n in zipfile.ZipFile(path).namelist()}
    assert names == {"model.safetensors", "config.json", "loss_history.csv", "samples.txt"}
    with pytest.raises(gr.Error, match="Train a model first"):
        tab.download_run(None)


def test_greedy_generation_matches_an_argmax_loop(trained):
    user, outputs = trained
    run_dir = outputs[-1][4]
    *_, (text, speed) = tab.run_generate(user, run_dir, "Python is", 6, 0, 0, 1.0, 0, True)
    assert "characters/s" in speed and "with the KV cache" in speed
    loaded = checkpoint.load(run_dir)
    ids = loaded.tokenizer.encode("Python is")
    for _ in range(6):  # 9 + 6 <= context 16: no cropping involved
        logits = loaded.model(torch.tensor([ids]))[0][0, -1]
        ids.append(int(logits.argmax()))
    assert text == loaded.tokenizer.decode(ids)


def test_generation_is_seeded_and_reports_unknown_characters(trained, monkeypatch):
    user, outputs = trained
    run_dir = outputs[-1][4]
    warnings = []
    monkeypatch.setattr(gr, "Warning", warnings.append)
    a = list(tab.run_generate(user, run_dir, "Python is \u00e9", 40, 1.0, 0, 1.0, 5, True))[-1][0]
    b = list(tab.run_generate(user, run_dir, "Python is ", 40, 1.0, 0, 1.0, 5, False))[-1][0]
    assert a == b and a.startswith("Python is ") and len(a) == 50
    assert any("'\u00e9'" in w for w in warnings)
    with pytest.raises(gr.Error, match="prompt is empty"):
        list(tab.run_generate(user, run_dir, "\u00e9\u00e9", 5, 1.0, 0, 1.0, 5, True))
    with pytest.raises(gr.Error, match="keep it under"):
        list(tab.run_generate(user, run_dir, "a" * 3000, 5, 1.0, 0, 1.0, 5, True))
    with pytest.raises(gr.Error, match="No checkpoint selected"):
        list(tab.run_generate(user, None, "Python", 5, 1.0, 0, 1.0, 5, True))


def test_cache_comparison_reports_identical_text(trained):
    user, outputs = trained
    report = tab.compare_cache(user, outputs[-1][4], "Python is", 40, 0.8, 10, 0.9, 3)
    assert "identical" in report and "faster" in report


def test_shipped_checkpoint_curve_on_load():
    shipped = registry.shipped_checkpoints("minigpt")
    status, fig, samples = tab.show_shipped_curve()
    if not shipped:
        pytest.skip("no shipped checkpoint in this checkout")
    loaded = checkpoint.load(shipped[0].path)
    assert f"{loaded.model.num_params():,} parameters" in status
    assert {t.name for t in fig.data} == {"train", "validation"}
    assert fig.data[0].y[-1] == pytest.approx(loaded.meta["train_loss"], rel=1e-5)


@pytest.mark.browser
def test_browser_train_a_few_steps_then_generate(page):
    from tests.conftest import open_tab

    open_tab(page, "4 · MiniGPT")
    for label, value in [("Layers (blocks)", "1"), ("Embedding size", "32"), ("Context (characters)", "16"),
                         ("Batch size", "4"), ("Training steps", "20")]:
        box = page.get_by_label(f"number input for {label}")
        box.fill(value)
        box.press("Enter")
    page.get_by_role("button", name="Train", exact=True).click()
    status = page.locator("#minigpt-status")
    status.get_by_text("step 20/20").wait_for(timeout=120_000)
    assert "done" in status.inner_text()
    page.locator("#minigpt-samples textarea").wait_for()
    assert "Python is" in page.locator("#minigpt-samples textarea").input_value()
    page.get_by_role("button", name="Generate", exact=True).click()
    page.locator("#minigpt-speed").get_by_text("characters/s").wait_for(timeout=60_000)
    assert page.locator("#minigpt-output textarea").input_value().startswith("Python is")


def test_after_stop_lists_the_stopped_run(trained, monkeypatch):
    user, outputs = trained
    infos = []
    monkeypatch.setattr(gr, "Info", infos.append)
    update, status = tab.after_stop(user, outputs[-1][4], "step 40/200 · train loss 2.5 · elapsed 3 s · ETA 12 s")
    assert update.value == outputs[-1][4] and infos and "Stopped" in infos[0]
    assert status == "step 40/200 · train loss 2.5 · elapsed 3 s · stopped"
    assert tab.after_stop(user, None, "") == (gr.update(), "Stopped.")


def test_muon_and_short_windows_from_the_tab(monkeypatch):
    warnings = []
    monkeypatch.setattr(gr, "Warning", warnings.append)
    user = sessions.new_user_id()
    outputs = train_small(user, optimizer="muon", short_window=8, steps=10)
    run = checkpoint.load(outputs[-1][4])
    assert run.meta["train_config"]["optimizer"] == "muon" and run.meta["train_config"]["short_window"] == 8
    assert not warnings
    outputs = train_small(user, optimizer="muon", short_window=16, steps=10)  # not shorter than the context
    assert checkpoint.load(outputs[-1][4]).meta["train_config"]["short_window"] == 0
    assert warnings and warnings[0] == ("The short windows (16) are not shorter than the context (16): "
                                 "training without them.")


def test_presets_fill_every_hyperparameter():
    for name in tab.PRESET_LABELS:
        values = tab.preset_values(name)
        assert len(values) == 11 and values[9] in ("adamw", "muon")
    assert tab.preset_values("default")[9] == "muon" and tab.preset_values("adamw")[9] == "adamw"

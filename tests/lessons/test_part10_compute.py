"""Tab 10: the handlers called directly (numbers recomputed by hand) and one browser run of the key flows."""
import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest

from core import compute as C
from core import jobs, sessions
from lessons import part10_compute as tab
from tests.conftest import open_tab
from tests.lessons.test_part03_core_math import _toasts, record_toasts
from tests.lessons.test_part04_minigpt import _error_badges

DEFAULT_MEMORY = dict(batch=1, inference_dtype="bf16", checkpointing=False, fused_attention=False, dropout=False,
                      lora_rank=8, lora_targets="all linear", zero_stage=0)


def test_importing_the_tab_does_not_import_torch():
    code = "import sys; import lessons.part10_compute; print(sorted({'torch', 'transformers', 'peft'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "[]"


def _labs(preset="tinyllama-1.1b", hardware="A100", gpus=16, mfu=59, price=2.0, measured=None, state=None, **memory):
    d = tab.preset_values(preset)
    shape = [d[k] for k in tab.SHAPE_FIELDS] + [d["glu"]]
    settings = {**DEFAULT_MEMORY, **memory}
    return tab.both_labs(state or d["state"], *shape, hardware, gpus, mfu, price, measured,
                         *[settings[k] for k in tab.MEMORY_FIELDS])


def test_tinyllama_on_16_a100s_is_the_published_90_days():
    summary, chart, _, _ = _labs()
    n, d = 1_100_048_384, 3e12
    per_token = 6 * n + 12 * 22 * 2048 * 2048
    seconds = per_token * d / (16 * 312e12 * 0.59)
    assert f"{seconds / 86400:,.1f} days" in summary and f"{seconds / 86400:,.1f}" == "90.9"  # the published ~90 days
    assert f"USD {seconds / 3600 * 16 * 2:,.0f}" in summary
    assert "1.98 × 10²² FLOPs" in summary and "2,727" in summary and "136.4× the Chinchilla tokens" in summary
    bars = dict(zip(chart.data[0].y, chart.data[0].x))
    assert set(bars) == set(C.GPUS)  # this machine not measured yet: left out, not a zero
    assert bars["H100"] == pytest.approx(per_token * d / (16 * 989e12 * 0.59) / 86400)
    chart.to_figure()  # valid against plotly's schema


def test_this_machine_uses_the_measured_speed():
    summary, chart, _, _ = _labs("minigpt", hardware=C.THIS_MACHINE, gpus=1, mfu=50, measured=2e10)
    p = C.preset("minigpt")
    seconds = (6 * p.params + 12 * 4 * 128 * 192) * p.tokens / (2e10 * 0.5)
    assert tab._duration(seconds) in summary
    assert C.THIS_MACHINE in chart.data[0].y


def test_memory_bars_are_the_formulas_parts():
    _, _, table, fig = _labs("llama-2-7b", hardware="A100", gpus=8, zero_stage=3, batch=2, checkpointing=True)
    p = C.preset("llama-2-7b")
    n, s, h, L = p.params, 4096, 4096, 32
    by_part = {trace.name: trace.y for trace in fig.data}
    full = [by_part[tab.PART_LABELS[k]][1] for k in C.PARTS]
    assert full[0] == pytest.approx(2 * n / 8 / 1e9)  # bf16 weights, sharded over 8 (stage 3)
    assert full[2] == pytest.approx(12 * n / 8 / 1e9)  # fp32 master + two moments, sharded
    layer = C.activation_bytes(C.Shape(**{**p.shape.__dict__, "n_layer": 1}), 2, dropout=False)  # with its top
    top = (2 * s * 2 * h + s * 2 * 32000) * 2
    assert full[3] == pytest.approx((L * s * 2 * h * 2 + layer) / 1e9)  # checkpointed: inputs + one layer (+ top)
    assert layer > top
    assert "A100: 80 GB" in fig.layout.annotations[0]["text"]
    assert "| **no** |" not in table.split("\n")[3]  # sharded over 8, full fine-tuning fits
    fig.to_figure()


def test_a_typo_is_refused_once_and_the_last_good_values_stay():
    state = tab.preset_values("pocket")["state"]
    refused = tab.check_run("1.1 billion", "3T", state)
    assert refused.error and "must be a number" in refused.error
    assert refused.good == state.good
    summary, *_ = _labs("pocket", state=refused)  # the labs read the last good values
    assert tab._flops(6 * 869_504 * 20 * 869_504) + " FLOPs" in summary  # pocket N, D = 20 N: the good values
    with pytest.raises(gr.Error, match="MFU"):
        _labs(mfu=0)
    with pytest.raises(gr.Error, match="Give the shape's Layers L a value"):
        d = tab.preset_values("pocket")
        tab.calculator(d["state"], None, 128, 4, 2, 352, 1024, 256, True, "A100", 1, 40, 2.0, None)
    with pytest.raises(gr.Error, match="still being measured"):
        _labs(hardware=C.THIS_MACHINE, measured=None)


def test_measure_refuses_before_queueing():
    user = sessions.new_user_id()
    form = dict(n_layer=2, n_head=3, n_embd=128, block_size=64, batch=8, steps=20, mfu_percent=40)
    with pytest.raises(gr.Error, match="divisible"):
        tab.prepare_measure(user_id=user, **form)
    with pytest.raises(gr.Error, match="steps"):
        tab.prepare_measure(user_id=user, **{**form, "n_head": 4, "steps": 1000})
    plan = tab.prepare_measure(user_id=user, **{**form, "n_head": 4})["plan"]
    assert plan == dict(model_config=dict(n_layer=2, n_head=4, n_embd=128, block_size=64), batch=8, steps=20,
                        assumed_mfu=0.4)
    prediction = tab.measure_prediction(**{**form, "n_head": 4}, measured_flops=1e10)
    assert "predicted" in prediction["prediction"] and prediction["chart"].data[0].x == [0, 20]
    assert not jobs.has_job(user)


@pytest.mark.browser
def test_tab_in_the_browser(page):
    """Default results on load (this machine measured), a typo said once, a preset, then a measured run."""
    open_tab(page, "10 · Cost & compute")
    summary = page.locator("#compute-summary")
    summary.get_by_text("1.98 × 10²² FLOPs").wait_for()
    page.locator("#compute-machine").get_by_text("GFLOP/s").wait_for()
    page.locator("#compute-memory-table").get_by_text("QLoRA (NF4 base)").wait_for()
    record_toasts(page)
    box = page.locator("#compute-params input")
    box.fill("lots")
    box.press("Enter")
    page.get_by_text("must be a number").first.wait_for()
    box.blur()
    page.wait_for_timeout(800)
    assert _toasts(page, "must be a number") == 1
    assert "1.98 × 10²² FLOPs" in summary.inner_text()  # the last good result stays
    box.fill("175B")
    page.locator("#compute-tokens input").fill("300B")
    page.locator("#compute-tokens input").press("Enter")
    summary.get_by_text("3.15 × 10²³ FLOPs").wait_for()
    assert _error_badges(page) == 0  # the refusal badged no result
    page.locator("#predict-checkpointing-guess textarea").fill("500")
    page.locator("#predict-checkpointing-button").click()
    page.locator("#predict-checkpointing-feedback").get_by_text("the lab:").wait_for()
    assert page.get_by_label("Activation checkpointing (keep each layer's input only)").is_checked()
    page.locator("#part10-check").get_by_text("Check yourself").wait_for()

    page.locator("#compute-run").click()
    page.locator("#compute-status").get_by_text("Done.").wait_for(timeout=180_000)
    table = page.locator("#compute-comparison").inner_text()
    assert "achieved" in table and "autograd's saved tensors" in table
    print("\n" + page.locator("#compute-status").inner_text())


# ---------- predict, then run ----------

def _the_lab(feedback: str) -> float:
    import re
    return float(re.search(r"\*\*the lab:\*\* ([0-9.e+-]+)", feedback).group(1))


def _model(preset="tinyllama-1.1b"):
    d = tab.preset_values(preset)
    return {"state": d["state"], **{k: d[k] for k in (*tab.SHAPE_FIELDS, "glu")}}


def test_predictions_refuse_no_guess():
    model = _model()
    calls = [lambda g: tab.predict_chinchilla(g, **model, hardware="A100", gpus=16, mfu_percent=50, price=2.0,
                                              measured_flops=None),
             lambda g: tab.predict_checkpointing(g, **model, gpus=1, **{k: v for k, v in DEFAULT_MEMORY.items()
                                                                         if k != "checkpointing"}),
             lambda g: tab.predict_batch_memory(g, n_layer=2, n_head=4, n_embd=128, block_size=64, batch=8)]
    for call in calls:
        for empty in (None, ""):
            with pytest.raises(gr.Error):
                call(empty)


def test_chinchilla_gpu_hours_are_6nd_plus_attention_over_the_peak():
    out = tab.predict_chinchilla(100, **_model(), hardware="A100", gpus=16, mfu_percent=50, price=2.0,
                                 measured_flops=None)
    n = 1_100_048_384
    d = 20 * n
    seconds = (6 * n + 12 * 22 * 2048 * 2048) * d / (16 * 312e12 * 0.5)
    assert _the_lab(out["feedback"]) == pytest.approx(seconds / 3600 * 16, rel=1e-3)


def test_checkpointing_prediction_ticks_the_box_and_matches_the_parts():
    memory = {k: v for k, v in DEFAULT_MEMORY.items() if k != "checkpointing"}
    out = tab.predict_checkpointing(10, **_model(), gpus=1, **memory)
    p = C.preset("tinyllama-1.1b")
    s, h, L = 2048, 2048, 22
    layer = C.activation_bytes(C.Shape(**{**p.shape.__dict__, "n_layer": 1}), 1, dropout=False)
    expected = 16 * p.params + L * s * h * 2 + layer  # bf16 weights + grads + fp32 Adam, checkpointed inputs
    assert out["checkpointing"] is True
    assert _the_lab(out["feedback"]) == pytest.approx(expected / 1e9, rel=1e-3)


def test_batch_memory_prediction_sets_the_batch_and_matches_adamw_fp32():
    from core.minigpt.config import GPTConfig
    from core.minigpt.model import MiniGPT
    from core import text_input

    out = tab.predict_batch_memory(5, n_layer=2, n_head=4, n_embd=128, block_size=64, batch=8)
    config = GPTConfig(vocab_size=len(set(text_input.builtin_corpus())), block_size=64, n_layer=2, n_head=4, n_embd=128)
    n = sum(p.numel() for p in MiniGPT(config).parameters())
    activations = C.activation_bytes(C.Shape.of(config), tab.PREDICT_BATCH, 64, value_bytes=4,
                                     dropout=config.dropout > 0, mask_bytes=4)
    assert out["batch"] == tab.PREDICT_BATCH
    assert _the_lab(out["feedback"]) == pytest.approx((16 * n + activations) / 1e6, rel=1e-3)

"""core.accumulation, core.sweeps and core.hyperparameters, checked against independent computations.

How long the sweep takes next to one default tab-4 run is measured by bench/sweep_vs_default.py (both
in one process, one after the other, so the ratio is fair on a shared machine); never asserted here.
"""
import inspect
import math
from dataclasses import fields

import pytest
import torch

from core import accumulation, hyperparameters, sweeps
from core.minigpt import data, train
from core.minigpt.config import GPTConfig
from core.minigpt.data import CharDataset
from core.minigpt.model import MiniGPT

CORPUS = data.builtin_corpus()


# ---------- batch x context x accumulation ----------

def test_tokens_per_step_is_the_product():
    t = accumulation.tokens_per_step(16, 192, 4, 8)
    assert t["sequences"] == 16 * 4 * 8 and t["tokens"] == 16 * 4 * 8 * 192 and t["micro_batch_tokens"] == 16 * 192
    with pytest.raises(ValueError, match="at least 1"):
        accumulation.tokens_per_step(0, 64)


def _float64_gradient(micro_batch, accum, context):
    """The big batch's gradient in float64: the same model and windows, an independent reference."""
    vocab, x, y = accumulation._windows(CORPUS, micro_batch * accum, context, 0)
    model = MiniGPT(GPTConfig(vocab_size=vocab, block_size=context, dropout=0.0, **accumulation.PROOF_SHAPE), seed=0).double()
    logits, _ = model(x)
    torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1)).backward()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


@pytest.mark.parametrize("micro_batch, accum, context", [(4, 4, 64), (2, 8, 32)])
def test_accumulated_micro_batches_give_the_big_batch_gradient(micro_batch, accum, context):
    r = accumulation.prove_equivalence(micro_batch, accum, context)
    print(f"\naccumulation {micro_batch} x {accum}, context {context}: max |diff| {r['max_abs_diff']:.2e}, "
          f"max |grad| {r['max_abs_grad']:.3f}")
    assert 0 < r["max_abs_diff"] < 1e-6 * max(1.0, r["max_abs_grad"])  # float32 rounding, not 0, not more
    assert r["accumulated_loss"] == pytest.approx(r["big_batch_loss"], abs=1e-6)
    reference = _float64_gradient(micro_batch, accum, context)
    assert r["max_abs_grad"] == pytest.approx(reference.abs().max().item(), rel=1e-5)
    assert r["num_params"] == reference.numel()


def test_without_accumulation_the_two_ways_are_identical():
    assert accumulation.prove_equivalence(8, 1, 32)["max_abs_diff"] == 0.0


def test_the_proof_is_bounded():
    with pytest.raises(ValueError, match="at most 8,192"):
        accumulation.prove_equivalence(32, 16, 128)
    with pytest.raises(ValueError, match="outside the supported range"):
        accumulation.prove_equivalence(0, 4, 64)


# ---------- the sweep ----------

def test_a_sweep_is_the_trainers_own_runs_and_is_saved(tmp_path):
    folder = tmp_path / "learner" / "sweep" / "run-1"
    folder.mkdir(parents=True)
    snaps = list(sweeps.learning_rate_sweep(CORPUS, [1e-2, 1e-3], steps=20, out_dir=folder))
    last = snaps[-1]
    assert last.done and not last.stop_reason and [r.learning_rate for r in last.runs] == [1e-3, 1e-2]
    assert all(not s.done for s in snaps[:-1]) and len(snaps) > 4  # it streams
    run = last.runs[1]  # the same run trained directly: the same curves (same seed, same batches)
    direct = list(train.train(CORPUS, sweeps.sweep_shape(), sweeps.sweep_recipe(20, run.learning_rate)))[-1]
    assert run.train_curve == direct.train_curve and run.val_curve == direct.val_curve
    assert last.runs[0].train_curve != run.train_curve  # ...and the rates really differ
    assert all(r.initial_loss == pytest.approx(math.log(len(set(CORPUS)))) for r in last.runs)
    assert last.num_params == sweeps.sweep_shape(len(set(CORPUS))).num_params()
    assert sweeps.read_series(folder) == last
    assert sweeps.latest_series(tmp_path / "learner", "sweep") == last
    assert sweeps.latest_series(tmp_path / "learner", "overfitting") is None


def test_stop_ends_the_whole_sweep_with_a_normal_report():
    calls = iter(range(10**6))
    snaps = list(sweeps.learning_rate_sweep(CORPUS, [1e-3, 1e-2, 3e-2], steps=40, should_stop=lambda: next(calls) >= 25))
    last = snaps[-1]
    assert last.done and last.stop_reason == "stopped" and last.status_line().startswith("stopped")
    assert last.runs[0].steps_done == 26 and last.runs[1].steps_done == 0  # the rest never started


@pytest.mark.parametrize("rates, message", [([1e-3], "Pick 2 to 6"), ([1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1], "Pick 2 to 6"),
                                            ([1e-3, 5.0], "outside the trainer's range"),
                                            ([1e-3, float("nan")], "outside the trainer's range")])
def test_bad_rates_are_refused(rates, message):
    with pytest.raises(ValueError, match=message):
        sweeps.check_rates(rates)


def test_steps_outside_the_range_are_refused():
    with pytest.raises(ValueError, match="Steps per run"):
        next(sweeps.learning_rate_sweep(CORPUS, [1e-3, 1e-2], steps=5000))


def _run(lr, finals, initial=4.2, diverged=None, steps=100):
    curve = [(i * 10, loss) for i, loss in enumerate(finals)]
    return sweeps.Run(f"lr {lr:g}", lr, 0.0, 1000, steps_done=steps, train_curve=curve, diverged=diverged,
                      initial_loss=initial)


def test_verdicts_tell_the_story_of_the_curves():
    runs = [_run(1e-4, [4.2, 3.4]), _run(1e-3, [4.2, 2.5]), _run(1e-2, [4.2, 2.4]), _run(3e-2, [4.2, 2.9]),
            _run(1e-1, [4.2, 4.5]), _run(1e-1, [4.2, 3.0], diverged="stopped: the loss became nan at step 40")]
    series = sweeps.Series("sweep", runs, steps=100, done=True)
    assert sweeps.verdicts(series) == ["too low", "about right", "about right", "too high", "diverges", "diverges"]


# ---------- overfitting ----------

def test_every_overfitting_run_validates_on_the_same_held_out_text():
    small, large, held_out = sweeps.overfit_texts(CORPUS, 3000)
    assert len(small) == 3000 and len(large) == 12000 and held_out == CORPUS[-sweeps.HELD_OUT_CHARS:]
    for body in (small, large):
        corpus = body + held_out
        cfg = sweeps.overfit_recipe(100, (sweeps.HELD_OUT_CHARS + 0.5) / len(corpus))
        ds = CharDataset(corpus, 64, cfg.val_fraction)  # what the trainer builds from these settings
        assert ds.tokenizer.decode(ds.val.tolist()) == held_out
    with pytest.raises(ValueError, match="needs at least"):
        sweeps.overfit_texts(CORPUS[:5000], 3000)


def test_overfitting_runs_report_their_real_gaps(tmp_path, monkeypatch):
    # the lab's model (~0.8M parameters) is the point of the lab; the mechanics are the same for a small one
    monkeypatch.setattr(sweeps, "overfit_shape", lambda vocab_size=65, dropout=0.0: GPTConfig(
        vocab_size=vocab_size, block_size=64, n_layer=1, n_head=2, n_embd=32, dropout=dropout))
    last = list(sweeps.overfitting_runs(CORPUS, steps=50, train_chars=1000, dropout=0.3, out_dir=tmp_path))[-1]
    assert last.done and [r.dropout for r in last.runs] == [0.0, 0.3, 0.0]
    assert [r.train_chars for r in last.runs] == [1000, 1000, 4000]
    gaps = sweeps.generalisation_gaps(last)
    for run, gap in zip(last.runs, gaps):
        assert run.steps_done == 50 and run.val_curve[-1][0] == 50 and run.train_curve[-1][0] == 50
        assert gap == pytest.approx(run.val_curve[-1][1] - run.train_curve[-1][1])
    print("\noverfitting runs (50 steps): gaps", [f"{g:.3f}" for g in gaps])
    assert sweeps.read_series(tmp_path) == last
    with pytest.raises(ValueError, match="dropout above 0"):
        sweeps.check_overfit(CORPUS, 50, 1000, 0.0)


# ---------- the reference table ----------

def test_the_reference_table_shows_what_tabs_4_and_7_use():
    from core.finetune.lora import LoraSettings
    from core.finetune.train import TrainSettings

    values = hyperparameters.app_values()
    recipes = [t for _, t in train.PRESETS.values()]
    assert {t.learning_rate for t in recipes} == {5e-3} and values["Peak learning rate"][0].startswith("AdamW 0.005;")
    for t in recipes:
        assert f"{t.warmup_steps}" in values["Warmup"][0] and f"{t.batch_size}" in values["Batch size"][0]
    for m, _ in train.PRESETS.values():
        assert f"{m.block_size}" in values["Context length"][0]
    assert values["Peak learning rate"][1] == f"{TrainSettings().learning_rate:g} (LoRA)"
    assert values["LoRA rank r, α"][1] == f"r = {LoraSettings().rank}, α = {LoraSettings().alpha}"
    assert values["Adam betas"][0] == "0.9, 0.99"
    table = hyperparameters.reference_markdown()
    assert "1e-3 to 3e-4" not in table and table.count("\n|") == len(hyperparameters.PUBLISHED) + 1


def test_tab_7s_column_matches_its_trainer_and_transformers_defaults():
    """What tab 7 leaves to transformers (weight decay, clipping, betas) is transformers' default."""
    from transformers import TrainingArguments

    from core.finetune import train as lora_train

    defaults = {f.name: f.default for f in fields(TrainingArguments)}
    assert (defaults["weight_decay"], defaults["max_grad_norm"]) == (0.0, 1.0)
    assert (defaults["adam_beta1"], defaults["adam_beta2"]) == (0.9, 0.999)
    source = inspect.getsource(lora_train)
    assert "weight_decay" not in source and "max_grad_norm" not in source and "adam_beta" not in source
    assert 'lr_scheduler_type="constant_with_warmup"' in source and "warmup_steps=min(5, max(0, total // 10))" in source


# ---------- the example series shipped with the app (the tab shows them before a learner's first run) ----------

def _prefix(curve, before: int) -> list:
    return [(step, loss) for step, loss in curve if step < before]


@pytest.mark.parametrize("kind", ["sweep", "overfitting"])
def test_the_shipped_examples_are_the_defaults_and_retrain_to_the_same_curves(kind):
    from core import text_input

    shipped = sweeps.shipped_series(kind)
    assert shipped is not None and shipped.done and not shipped.stop_reason and shipped.kind == kind
    assert all(r.steps_done == shipped.steps and r.diverged is None for r in shipped.runs)
    text = text_input.learner_text(text_input.BUILTIN, None, None)
    calls = iter(range(10**6))
    stop_after_30 = lambda: next(calls) >= 30  # noqa: E731 - the first 30 steps of the first run are enough
    if kind == "sweep":
        assert [r.learning_rate for r in shipped.runs] == list(sweeps.DEFAULT_RATES)
        assert shipped.steps == sweeps.DEFAULT_SWEEP_STEPS
        again = list(sweeps.learning_rate_sweep(text, sweeps.DEFAULT_RATES, shipped.steps, should_stop=stop_after_30))[-1]
    else:
        assert shipped.steps == sweeps.DEFAULT_OVERFIT_STEPS
        assert [(r.train_chars, r.dropout) for r in shipped.runs] == [
            (sweeps.DEFAULT_TRAIN_CHARS, 0.0), (sweeps.DEFAULT_TRAIN_CHARS, sweeps.DEFAULT_DROPOUT),
            (4 * sweeps.DEFAULT_TRAIN_CHARS, 0.0)]
        again = list(sweeps.overfitting_runs(text, shipped.steps, sweeps.DEFAULT_TRAIN_CHARS, sweeps.DEFAULT_DROPOUT,
                                             should_stop=stop_after_30))[-1]
    # the same seed and batches: the first run's curves start exactly as the shipped ones (another CPU may
    # round float32 sums differently, hence the tolerance)
    for ours, theirs in ((again.runs[0].train_curve, shipped.runs[0].train_curve),
                         (again.runs[0].val_curve, shipped.runs[0].val_curve)):
        ours, theirs = _prefix(ours, 30), _prefix(theirs, 30)
        assert len(ours) >= 1 and [s for s, _ in ours] == [s for s, _ in theirs]
        assert [loss for _, loss in ours] == pytest.approx([loss for _, loss in theirs], abs=2e-3)


def test_the_sweep_command_trains_and_saves_a_series(tmp_path, capsys):
    from core.__main__ import main

    assert main(["sweep", "--rates", "1e-3", "1e-2", "--steps", "20", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    saved = sweeps.read_series(tmp_path)
    assert saved.done and [r.learning_rate for r in saved.runs] == [1e-3, 1e-2]
    for run in saved.runs:  # each printed final loss is the saved curve's last point
        assert f"{run.label}: train {run.final_loss:.3f} · validation {run.final_val_loss:.3f}" in out

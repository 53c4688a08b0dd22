"""Tab 8: handlers called directly (numbers checked against transformers and core's own runs) and one
real browser session on the schedules and the sweep."""
import ast
import inspect
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from core import jobs, schedules, sessions, sweeps
from lessons import part08_key_concepts as tab
from tests.core.test_schedules import transformers_rates

SCHEDULE_DEFAULTS = dict(names=["cosine", "warmup_stable_decay", "linear"], total_steps=480, warmup_steps=30,
                         peak_lr=5e-3, min_lr_ratio=0.1, decay_fraction=0.2, trainer=True)


def test_importing_the_tab_does_not_import_torch():
    code = ("import sys; import lessons.part08_key_concepts; "
            "print(sorted({'torch', 'transformers', 'peft', 'trl'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "[]"


def test_every_function_in_the_tab_is_short():
    tree = ast.parse(inspect.getsource(tab))
    lengths = {n.name: n.end_lineno - n.lineno + 1 for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert max(lengths.values()) <= 60, sorted(lengths.items(), key=lambda kv: -kv[1])[:3]


def test_the_schedule_chart_is_transformers_schedule_and_the_trainers():
    from core.minigpt import train

    out = tab.draw_schedules(**SCHEDULE_DEFAULTS)
    traces = out["chart"].data
    assert [t.name for t in traces] == ["cosine", "warmup-stable-decay", "linear decay", "MiniGPT's trainer (tab 4)"]
    total = 480
    expected = {"cosine": transformers_rates("cosine_with_min_lr", total, 5e-3, 30, min_lr_rate=0.1),
                "warmup-stable-decay": transformers_rates("warmup_stable_decay", total, 5e-3, 30, num_decay_steps=96,
                                                          min_lr_ratio=0.1),
                "linear decay": transformers_rates("linear", total, 5e-3, 30)}
    for trace in traces[:3]:
        assert list(trace.x) == list(range(total))
        assert list(trace.y) == pytest.approx(expected[trace.name][:total], rel=1e-12, abs=1e-15)
    cfg = train.TrainConfig(steps=total, learning_rate=5e-3, warmup_steps=30, min_lr_ratio=0.1)
    assert list(traces[3].y) == [train.learning_rate_at(s, cfg) for s in range(total)]
    assert "| cosine | 0 | 0.005 |" in out["summary"]
    out["chart"].to_figure()  # valid against plotly's schema


def test_no_schedule_ticked_is_one_clear_message():
    with pytest.raises(gr.Error, match="Tick at least one schedule"):
        tab.draw_schedules(**{**SCHEDULE_DEFAULTS, "names": []})
    with pytest.raises(gr.Error, match="decay"):  # WSD's decay cannot fit after a warmup of the whole run
        tab.draw_schedules(**{**SCHEDULE_DEFAULTS, "warmup_steps": 480})


def test_tokens_per_step_and_the_proof_show_cores_numbers():
    from core import accumulation

    assert tab.tokens_summary(16, 192, 4, 8).startswith(f"**{16 * 192 * 4 * 8:,} tokens per optimizer step**")
    text = tab.prove(4, 64, 4)
    r = accumulation.prove_equivalence(4, 4, 64)  # seeded: the same computation gives the same numbers
    assert f"**{r['max_abs_diff']:.1e}**" in text and f"{r['big_batch_loss']:.6f}" in text
    with pytest.raises(gr.Error, match="at most 8,192"):
        tab.prove(32, 128, 16)


def test_the_reference_table_is_on_the_tab():
    table = tab.reference_table()
    assert "AdamW 0.005" in table and "Llama 2" in table


def _sweep(user, **overrides):
    settings = {"rates": [1e-3, 1e-2], "steps": 20, **overrides}
    return tab.prepare_sweep(user_id=user, **settings)


@pytest.mark.parametrize("overrides, message", [({"rates": [1e-3]}, "Pick 2 to 6"), ({"rates": []}, "Pick 2 to 6"),
                                                ({"steps": 5}, "Steps per run")])
def test_a_refused_sweep_says_why_and_leaves_no_folder(overrides, message):
    user = sessions.new_user_id()
    with pytest.raises(gr.Error, match=message):
        _sweep(user, **overrides)
    assert not (sessions.user_dir(user) / "sweep").exists() or not any((sessions.user_dir(user) / "sweep").iterdir())


def test_a_refused_overfitting_job_says_why():
    with pytest.raises(gr.Error, match="dropout above 0"):
        tab.prepare_overfit(user_id=sessions.new_user_id(), steps=100, train_chars=3000, dropout=0.0)


def test_the_sweep_is_one_job_in_a_worker_that_stops_as_a_result_and_comes_back():
    user = sessions.new_user_id()
    prepared = _sweep(user, steps=200)
    views = []
    for view in tab.run_series(user_id=user, plan=prepared["plan"]):
        views.append(view)
        if len(views) == 2:  # running: in a worker process, one job for this learner
            running = [j for j in jobs.running() if j["owner"] == user]
            assert [j["kind"] for j in running] == ["learning-rate sweep"] and running[0]["pid"] != os.getpid()
            with pytest.raises(gr.Error, match="already have a run going"):
                _sweep(user)
            assert tab.request_stop(prepared["job"])["stop_btn"].value == tab.STOPPING_LABEL
    last = views[-1]
    assert last["status"].startswith("**stopped") and "ETA" not in last["status"]
    assert not jobs.has_job(user) or jobs.wait_finished(user)
    shown = tab.show_last(user, "sweep")  # a reload: the saved series, whole
    saved = sweeps.read_series(prepared["job"])
    assert shown["table"] == tab.sweep_table(saved) and saved.stop_reason == "stopped"
    assert [t.name for t in shown["chart"].data] == [r.label for r in saved.runs if r.train_curve]
    assert list(shown["chart"].data[0].y) == [loss for _, loss in saved.runs[0].train_curve]


@pytest.mark.parametrize("kind, runs", [("sweep", len(tab.DEFAULT_RATES)), ("overfitting", 3)])
def test_before_a_learners_first_run_the_lab_shows_the_shipped_example(kind, runs):
    shown = tab.show_last(sessions.new_user_id(), kind)  # a new learner: nothing of theirs yet
    example = sweeps.shipped_series(kind)
    assert shown["status"].startswith("**An example, shipped with the app**") and f"--kind {kind}" in shown["status"]
    lines = [t for t in shown["chart"].data]
    assert len({t.name.split(":")[0] for t in lines}) == runs  # every run drawn, none empty
    assert list(lines[0].y) == [loss for _, loss in example.runs[0].train_curve]
    table = tab.sweep_table(example) if kind == "sweep" else tab.overfit_table(example)
    assert shown["table"] == table


# ---------- predict, then run ----------

@pytest.mark.parametrize("reveal", [lambda g: tab.predict_schedule(g, ["linear"]), lambda g: tab.predict_undivided(g, 64),
                                    lambda g: tab.predict_passes(g, 300, 3000), lambda g: tab.predict_sweep(g, None)])
@pytest.mark.parametrize("guess", [None, "", "  "])
def test_no_guess_reveals_nothing(reveal, guess):
    with pytest.raises(gr.Error, match="first"):
        reveal(guess)


def test_predict_schedule_is_the_cosine_midway_and_moves_the_lab_there():
    out = tab.predict_schedule("0.0005", ["linear"])
    a = tab.ASKED_SCHEDULE
    progress = (tab.ASKED_STEP - a["warmup_steps"]) / (a["total_steps"] - a["warmup_steps"])  # float64, by hand
    expected = a["peak_lr"] * (a["min_lr_ratio"] + (1 - a["min_lr_ratio"]) * 0.5 * (1 + np.cos(np.pi * progress)))
    hf = transformers_rates("cosine_with_min_lr", a["total_steps"], a["peak_lr"], a["warmup_steps"],
                            min_lr_rate=a["min_lr_ratio"])[tab.ASKED_STEP]
    assert np.isclose(expected, hf, rtol=1e-12) and np.isclose(expected, 5.5e-4)
    assert f"**the lab:** {expected:.5g}" in out["feedback"] and "halfway" in out["feedback"]
    assert {k: out[k] for k in a} == a and out["names"] == ["cosine", "linear"]
    drawn = tab.draw_schedules(**{**SCHEDULE_DEFAULTS, **a, "names": out["names"], "trainer": False})
    assert drawn["chart"].data[0].y[tab.ASKED_STEP] == pytest.approx(expected)  # the chart then shows it


def test_predict_undivided_is_k_times_the_big_batch_and_shows_the_proof():
    out = tab.predict_undivided("4", 64)
    ratio = float(re.search(r"\*\*the lab:\*\* ([\d.]+)", out["feedback"]).group(1))
    assert np.isclose(ratio, tab.FORGOT_STEPS, rtol=1e-4)  # sum of k means = k × the mean
    assert "spot on" in out["feedback"] and "times" in out["feedback"]
    assert (out["micro_batch"], out["accum_steps"]) == (tab.FORGOT_MICRO, tab.FORGOT_STEPS)
    assert f"{tab.FORGOT_STEPS} micro-batches of {tab.FORGOT_MICRO}" in out["proof"]


def test_predict_passes_counts_predicted_characters_over_the_text():
    out = tab.predict_passes("10", 300, 3000)
    passes = np.prod([300, 16, 64], dtype=np.float64) / 3000  # batch 16, context 64: the lab's recipe
    assert f"**the lab:** {passes:.4g} passes" in out["feedback"] and "too low" in out["feedback"]
    with pytest.raises(gr.Error, match="Training characters"):
        tab.predict_passes("10", 300, 10)


def _save_sweep(user, rates, steps, finals, done=True):
    runs = [sweeps.Run(f"lr {r:g}", r, 0.0, 1000, steps_done=steps if done else steps // 2,
                       train_curve=[(1, 4.0), (steps, f)], initial_loss=4.17) for r, f in zip(rates, finals)]
    folder = sessions.new_run_dir(user, "sweep")
    sweeps.save_series(folder, sweeps.Series("sweep", runs, steps, done=True, stop_reason=None if done else "stopped"))


def test_the_sweep_prediction_waits_for_the_run_then_judges_it():
    user = sessions.new_user_id()
    out = tab.predict_sweep("0.01", user)  # nothing run yet: no verdict, the asked sweep is set up
    assert out["pending"] == tab.SweepGuess(0.01) and "press **Run**" in out["feedback"]
    assert out["rates"] == list(tab.ASKED_RATES) and out["steps"] == tab.ASKED_SWEEP_STEPS
    assert tab.sweep_finished(None, user) == {}
    finals = [2.4, 2.1, 2.2, 2.6]
    _save_sweep(user, tab.ASKED_RATES, tab.ASKED_SWEEP_STEPS, finals, done=False)  # stopped half way
    assert "Still waiting" in tab.sweep_finished(out["pending"], user)["feedback"]
    _save_sweep(user, tab.ASKED_RATES[:2], tab.ASKED_SWEEP_STEPS, finals[:2])  # another sweep
    assert "Still waiting" in tab.sweep_finished(out["pending"], user)["feedback"]
    _save_sweep(user, tab.ASKED_RATES, tab.ASKED_SWEEP_STEPS, finals)
    best = f"{tab.ASKED_RATES[int(np.argmin(finals))]:g}"
    done = tab.sweep_finished(out["pending"], user)
    assert done["pending"] is None and f"**the lab:** {best}" in done["feedback"] and "lr 0.003 → 2.100" in done["feedback"]
    again = tab.predict_sweep(best, user)  # already run: judged at once, nothing moved
    assert "Right." in again["feedback"] and again["pending"] is None and "rates" not in again
    with pytest.raises(gr.Error, match="Pick one of the sweep"):
        tab.predict_sweep("0.5", user)


# ---------- in a real browser ----------

def _fill(page, label, value):
    box = page.get_by_label(f"number input for {label}").first
    box.fill(str(value))
    box.press("Enter")


BADGES = ".wrap.error, .error-badge, [data-testid='status-tracker'] .error"


def _error_badges(page):
    return page.locator(BADGES).count()


def _badged_ids(page) -> list:
    """Which components carry an Error badge (their nearest element id), for the message of a failure."""
    return page.evaluate(f"() => Array.from(document.querySelectorAll({BADGES!r})).map(e => "
                         "(e.closest('[id]') || {id: '?'}).id + ': ' + e.innerText.slice(0, 200))")


@pytest.mark.browser
def test_browser_schedules_redraw_and_a_short_sweep_runs(page, tmp_path):
    from tests.conftest import click_tab, wait_until_quiet

    page.set_default_timeout(120_000)  # 2 shared cores: a busy machine is slow, not wrong
    start = time.perf_counter()
    click_tab(page, "8 · Key concepts")
    traces = page.locator("#schedule-chart .js-plotly-plot .scatterlayer .trace")
    traces.first.wait_for()
    assert traces.count() == 4
    page.locator("#accum-proof").get_by_text("max |difference|").wait_for()
    print(f"\ntab 8 first open: {time.perf_counter() - start:.2f} s until the schedules and the proof show")
    wait_until_quiet(page)
    _fill(page, "Warmup steps", 100)
    halfway = f"{schedules.learning_rate('cosine', 240, 480, 5e-3, 100, min_lr_ratio=0.1):.3g}"
    page.wait_for_function(f"() => document.querySelector('#schedule-summary').innerText.includes('{halfway}')")
    page.locator("#predict-schedule-guess textarea").fill("0.0005")  # predict, then run: the lab moves there
    page.locator("#predict-schedule-button").click()
    a = tab.ASKED_SCHEDULE
    asked = schedules.learning_rate("cosine", tab.ASKED_STEP, a["total_steps"], a["peak_lr"], a["warmup_steps"],
                                    min_lr_ratio=a["min_lr_ratio"])
    page.locator("#predict-schedule-feedback").get_by_text(f"{asked:.5g}").wait_for()
    moved = f"{schedules.learning_rate('cosine', 500, 1000, 1e-3, 100, min_lr_ratio=0.1):.3g}"  # the table's halfway
    page.wait_for_function(f"() => document.querySelector('#schedule-summary').innerText.includes('{moved}')")
    page.locator("#sweep-status").get_by_text("Press").wait_for()
    if sweeps.shipped_series("overfitting") is not None:  # before any run: the shipped example, 3 runs × 2 curves
        page.locator("#overfit-status").get_by_text("An example, shipped with the app").wait_for()
        assert page.locator("#overfit-chart .js-plotly-plot .scatterlayer .trace").count() == 6
    for rate in ("0.0001", "0.03", "0.1"):  # leave 0.001 and 0.01
        page.locator("#sweep-rates").get_by_label(rate, exact=True).uncheck()
    _fill(page, "Steps per run", 20)
    page.locator("#sweep-run").click()
    page.locator("#sweep-status").get_by_text("done: 2 of 2 runs finished").wait_for(timeout=180_000)
    assert page.locator("#sweep-chart .js-plotly-plot .scatterlayer .trace").count() == 2
    assert page.locator("#sweep-table").get_by_text("lr 0.01").count() == 1
    wait_until_quiet(page)  # the run's last step (buttons back, the sweep prediction's check) has run too
    assert _error_badges(page) == 0, _badged_ids(page)
    assert page.locator("#sweep-run").is_enabled()
    page.screenshot(path=str(tmp_path / "tab8.png"), full_page=True)

"""Tab 7: handlers called directly on the pocket model, and one browser run of the main flow."""
import re
import zipfile
from pathlib import Path

import gradio as gr
import pytest

from core import jobs, registry, sessions
from core.finetune import data, lora, models
from lessons import part07_lora as tab
from tests.conftest import build_tab_alone

SHIPPED_ADAPTER = str(sessions.CHECKPOINTS_DIR / "lora" / "pocket-answer-format")
ALL_LINEAR = lora.PRESETS["all linear"]


@pytest.fixture(scope="module")
def user_id():
    return sessions.new_user_id()


def test_tab_builds():
    labels = build_tab_alone(tab)
    assert "Target modules" in labels and "Base + adapter" in labels


def test_on_load_names_the_setting_and_disables_4bit_with_the_reason():
    env = models.detect_environment()
    text, dropdown, four_bit = tab.on_load()
    assert env.setting in text and dropdown.value == env.default_model
    if not env.cuda:
        assert "offline" in text and dropdown.value == models.POCKET
        assert four_bit.interactive is False and "GPU" in four_bit.info


def test_loading_says_what_it_does_then_time_and_memory():
    (first, no_name), (last, name) = list(tab.load_and_describe(models.POCKET))
    loaded = models.load_model(models.POCKET)
    assert "Loading `pocket`" in first and isinstance(no_name, type(gr.skip())) and name == models.POCKET
    assert f"{loaded.weight_bytes / 2**20:.1f} MB" in last and f"{loaded.parameters / 1e6:.2f} M parameters" in last
    assert loaded.weight_bytes == sum(p.numel() * p.element_size() for p in loaded.model.parameters()) + sum(
        b.numel() * b.element_size() for b in loaded.model.buffers())
    with pytest.raises(gr.Error, match="offline"):
        list(tab.load_and_describe("someone-nonexistent/model-xyz"))
    # a name that cannot be a model is refused before loading; a failed load says what is still in use
    with pytest.raises(gr.Error, match="neither a Hub id"):
        tab.check_model("not a model")
    assert tab.kept_model(models.POCKET).startswith("Still using `pocket`: Loaded `pocket`")
    assert "everything below still uses `pocket`" in tab.model_pending("owner/other", models.POCKET)
    assert isinstance(tab.model_pending(models.POCKET, models.POCKET), type(gr.skip()))


def test_lora_summary_numbers_match_peft():
    from peft import get_peft_model

    text, fig = tab.lora_summary(models.POCKET, 4, 8, 0.0, ["q_proj", "v_proj"])
    settings = lora.LoraSettings(4, 8, 0.0, ["q_proj", "v_proj"])
    fresh = models.load_model(models.POCKET, copy_for_training=True).model
    n_base = sum(p.numel() for p in fresh.parameters())
    trainable, total = get_peft_model(fresh, settings.peft_config()).get_nb_trainable_parameters()
    assert f"{trainable:,} of {total:,} parameters = {100 * trainable / total:.3f}%" in text
    assert r"\frac{8}{4}" in text
    bars = fig.data[0].y
    assert fig.layout.yaxis.title.text == "MB"  # a 0.9M-parameter model: megabytes
    frozen = next(fresh.parameters()).element_size()  # float32 here on a CPU: the chart says so
    assert list(fig.data[0].x)[1].replace("<br>", " ") == {2: "LoRA (16-bit base)", 4: "LoRA (float32 base)"}[frozen]
    assert bars[0] == pytest.approx(16 * n_base / 1e6) and bars[1] == pytest.approx((frozen * n_base + 16 * trainable) / 1e6)
    # no targets: refused by the check that runs first (its event has no outputs, so nothing is badged)
    with pytest.raises(gr.Error, match="target"):
        tab.check_lora(4, 8, 0.0, [])
    tab.check_lora(4, 8, 0.0, ["q_proj"])


def test_malformed_upload_is_reported_by_line(tmp_path, monkeypatch):
    warnings = []
    monkeypatch.setattr(gr, "Warning", lambda msg, *a, **k: warnings.append(msg))
    path = tmp_path / "d.jsonl"
    path.write_text('{"instruction": "Say hi", "output": "hi"}\n{broken\n', encoding="utf-8")
    dataset = tab.read_data(tab.UPLOAD, str(path), "", "")
    summary, _ = tab.describe_data(dataset, tab.UPLOAD, str(path), "")
    assert len(dataset.examples) == 1 and "line 2" in summary and "line 2" in warnings[0]
    assert str(tmp_path) not in summary  # the file's name, not this server's path
    with pytest.raises(gr.Error, match="No usable examples"):
        path.write_text("{broken\n", encoding="utf-8")
        tab.read_data(tab.UPLOAD, str(path), "", "")
    with pytest.raises(gr.Error, match="offline"):
        tab.read_data(tab.HUB, None, "tatsu-lab/alpaca", "train[:10]")
    # picking a source before its file: a hint, and the current data stays (and is named)
    kept = tab.read_data(tab.UPLOAD, None, "", "")
    hint, slider = tab.describe_data(dataset, tab.UPLOAD, None, "")
    assert isinstance(kept, type(gr.skip())) and isinstance(slider, type(gr.skip()))
    assert "Choose a .jsonl" in hint and "In use: **1 examples**" in hint


def test_preview_counts_the_answer_tokens():
    dataset = tab.read_data(tab.BUILTIN, None, "", "")
    html = tab.preview_html(models.POCKET, dataset, 3, 256)
    tokenizer = models.load_model(models.POCKET).tokenizer
    answer = dataset.examples[3][-1]["content"] + "<|end|>\n"
    n_answer = len(tokenizer(answer)["input_ids"])  # independent: the answer tokenized on its own
    assert f"<b>{n_answer} coloured answer tokens</b>" in html


def test_the_answer_share_prediction_counts_every_examples_answer_tokens():
    dataset = tab.read_data(tab.BUILTIN, None, "", "")
    with pytest.raises(gr.Error, match="guess"):
        tab.predict_answer_share(guess="", loaded_name=models.POCKET, dataset=dataset, max_length=256)
    with pytest.raises(gr.Error, match="Load a model"):
        tab.predict_answer_share(guess="20", loaded_name=None, dataset=dataset, max_length=256)
    feedback = tab.predict_answer_share(guess="20", loaded_name=models.POCKET, dataset=dataset, max_length=256)["feedback"]
    tokenizer = models.load_model(models.POCKET).tokenizer
    answers = total = 0
    for messages in dataset.examples:  # independent: each answer tokenized alone, each whole chat templated
        answers += len(tokenizer(messages[-1]["content"] + "<|end|>\n")["input_ids"])
        total += len(tokenizer.apply_chat_template(messages, tokenize=True)["input_ids"])
    assert f"{answers:,} of {total:,} tokens" in feedback
    assert f"**the lab:** {100 * answers / total:.3g} %" in feedback


def test_the_double_rank_prediction_is_peft_s_count_and_moves_the_slider():
    from peft import get_peft_model

    with pytest.raises(gr.Error, match="guess"):
        tab.predict_double_rank(guess="", loaded_name=models.POCKET, rank=4, alpha=8, dropout=0.0, targets=ALL_LINEAR)
    with pytest.raises(gr.Error, match="32 or less"):
        tab.predict_double_rank(guess="1", loaded_name=models.POCKET, rank=40, alpha=8, dropout=0.0, targets=ALL_LINEAR)
    out = tab.predict_double_rank(guess="1000", loaded_name=models.POCKET, rank=4, alpha=8, dropout=0.0,
                                  targets=ALL_LINEAR)
    fresh = models.load_model(models.POCKET, copy_for_training=True).model
    trainable, _ = get_peft_model(fresh, lora.LoraSettings(8, 8, 0.0, ALL_LINEAR).peft_config()).get_nb_trainable_parameters()
    assert out["rank"] == 8 and f"**the lab:** {trainable} parameters" in out["feedback"]


def test_the_taught_form_prediction_runs_both_answers_greedily(user_id):
    with pytest.raises(gr.Error, match="Pick your guess"):
        tab.predict_taught_form(guess=None, user_id=user_id, adapter=SHIPPED_ADAPTER, prompt="What is a token?",
                                max_new_tokens=60, seed=0)
    out = tab.predict_taught_form(guess="both", user_id=user_id, adapter=SHIPPED_ADAPTER, prompt="What is a token?",
                                  max_new_tokens=60, seed=0)
    base, tuned = list(tab.compare_chat(user_id, SHIPPED_ADAPTER, "What is a token?", 60, 0.0, 0))[-1]
    assert (out["base"], out["tuned"], out["temperature"]) == (base, tuned, 0)
    assert tuned.startswith("Answer:") and not base.startswith("Answer:")  # the shipped adapter learned the form
    assert "**the lab:** only base + adapter" in out["feedback"] or "Right" in out["feedback"]
    assert all(data.follows_taught_form(m[-1]["content"]) for m in data.builtin().examples)  # the form of every answer


def test_the_merged_size_prediction_is_the_count_of_a_real_merge(user_id, tmp_path):
    from transformers import AutoModelForCausalLM

    from core.finetune import chat

    with pytest.raises(gr.Error, match="Pick your guess"):
        tab.predict_merged_size(guess=None, user_id=user_id, adapter=SHIPPED_ADAPTER)
    out = tab.predict_merged_size(guess=tab.MERGE_CHOICES[1], user_id=user_id, adapter=SHIPPED_ADAPTER)
    merged = AutoModelForCausalLM.from_pretrained(str(chat.merge_and_save(SHIPPED_ADAPTER, tmp_path / "merged")))
    count = sum(p.numel() for p in merged.parameters())
    assert f"**the lab:** {tab.MERGE_CHOICES[0]}" in out["feedback"] and f"holds {count:,}, the base's count" in out["feedback"]
    from safetensors.torch import load_file

    adapter = load_file(str(Path(SHIPPED_ADAPTER) / "adapter_model.safetensors"))
    assert f"this adapter {sum(t.numel() for t in adapter.values()):,}" in out["feedback"]


SETTINGS = dict(rank=4, alpha=8, dropout=0.0, targets=ALL_LINEAR, lr=2e-3, unit="steps", amount=2, batch=4,
                accum=1, max_length=128, eval_fraction=0.0, four_bit=False, checkpointing=False)


def _start(user_id, dataset=None, model=models.POCKET, **changes):
    values = dict(SETTINGS, **changes)
    return tab.start_training(model, dataset if dataset is not None else data.builtin(), user_id, *values.values())


def test_refusals_are_errors_not_tracebacks(user_id):
    lora_root = sessions.user_dir(user_id) / "lora"
    before = set(lora_root.iterdir()) if lora_root.is_dir() else set()
    if not models.detect_environment().cuda:
        with pytest.raises(gr.Error, match="4-bit"):
            _start(user_id, four_bit=True)
    with pytest.raises(gr.Error, match="target"):
        _start(user_id, targets=[])
    with pytest.raises(gr.Error, match="Load a model first"):
        _start(user_id, model=None)
    after = set(lora_root.iterdir()) if lora_root.is_dir() else set()
    assert after == before  # a refused start leaves no empty run folder
    with pytest.raises(gr.Error, match="characters"):
        next(tab.compare_chat(user_id, SHIPPED_ADAPTER, "x" * 2000, 10, 0.0, 0))
    with pytest.raises(gr.Error, match="not available"):
        next(tab.compare_chat(user_id, "/etc", "hi", 10, 0.0, 0))


def test_shipped_adapter_visibly_follows_the_taught_format(user_id):
    questions = ("What is a token?", "Why do we normalize layers?", "What is your favourite colour?", "Why use dropout?")
    finished = 0
    for question in questions:
        base, tuned = list(tab.compare_chat(user_id, SHIPPED_ADAPTER, question, 100, 0.0, 0))[-1]
        assert tuned.startswith("Answer:") and not base.startswith("Answer:")
        finished += tuned.rstrip().endswith("[done]")
    assert finished >= len(questions) - 1  # a 0.9M-parameter model after 80 steps: the format, nearly always


def test_train_then_chat_download_merge_export(user_id):
    job, busy, stop = _start(user_id, targets=["q_proj", "v_proj"], lr=3e-3, amount=4, eval_fraction=0.1)
    assert busy.value == tab.BUSY_LABEL and busy.interactive is False and stop.interactive is True
    outputs = list(tab.train_lab(job, data.builtin()))
    status, fig = outputs[-1]
    run_dir = str(job.run_dir)
    record = __import__("json").loads((job.run_dir / "run.json").read_text())
    assert status.startswith("**Done: 4 steps**") and f"saved as `{job.run_dir.name}`" in status
    assert list(fig.data[0].y) == record["losses"]
    cleared, idle, stop_idle, dropdown = tab.end_training(user_id, job, SHIPPED_ADAPTER)
    assert cleared is None and idle.value == tab.TRAIN_LABEL and idle.interactive and stop_idle.interactive is False
    run_id = "run/" + job.run_dir.name  # the dropdown holds an id, never a server path
    assert dropdown.value == run_id and run_id in [v for _, v in dropdown.choices]
    assert str(job.run_dir) not in str(dropdown.choices)
    # picking the run later (after a reload) shows the same line and curve, from its record
    shown, curve = tab.show_run(user_id, run_id, None)
    assert shown == status and list(curve.data[0].y) == record["losses"]
    assert all(isinstance(x, type(gr.skip())) for x in tab.show_run(user_id, run_dir, job))  # never over a live run
    base, tuned = list(tab.compare_chat(user_id, run_id, "What is a token?", 8, 0.0, 0))[-1]
    assert base and tuned
    names = zipfile.ZipFile(tab.download_adapter(user_id, run_dir)).namelist()
    assert any(n.endswith("adapter_model.safetensors") for n in names)
    bundle = zipfile.ZipFile(tab.export_script(user_id, run_dir))
    script = next(n for n in bundle.namelist() if n.endswith("/finetune_lora.py"))
    assert "accelerate launch" in bundle.read(script).decode()
    assert any("/base-model/" in n and n.endswith("model.safetensors") for n in bundle.namelist())
    merged = zipfile.ZipFile(tab.merge_adapter(user_id, run_dir)).namelist()
    assert any(n.endswith("config.json") for n in merged) and any(n.endswith("model.safetensors") for n in merged)
    assert registry.list_checkpoints("lora", user_id)[0].path == Path(run_dir)


def test_stop_ends_the_run_as_a_result_with_its_curve(user_id):
    job, _, _ = _start(user_id, amount=300)
    statuses = []
    for status, fig in tab.train_lab(job, data.builtin()):
        statuses.append(status)
        step = re.search(r"step (\d+)/300", status)
        if step and int(step.group(1)) >= 2 and not job.stop_requested:
            assert tab.request_stop(job).value == "Stopping…"
    record = __import__("json").loads((job.run_dir / "run.json").read_text())
    assert record["stopped_early"] and record["steps"][-1] < 300
    assert statuses[-1].startswith(f"**Stopped at step {record['steps'][-1]} of 300**")
    assert "ETA" not in statuses[-1] and list(fig.data[0].y) == record["losses"]
    assert (job.run_dir / "adapter_config.json").is_file()


def test_one_job_per_learner_across_tabs_4_and_7():
    """While a learner's MiniGPT trains (tab 4, a worker process), their Fine-tune is refused in the check
    step: one message, no folder; and the other way round. Another learner is not affected."""
    from core import jobs
    from lessons import part04_minigpt as tab4

    learner = sessions.new_user_id()
    small = dict(n_layer=1, n_head=2, n_embd=32, block_size=16, batch_size=4, learning_rate=5e-3, steps=2000,
                 dropout=0.0, bf16=False, optimizer="adamw", short_window=0)
    plan = tab4.prepare_training(user_id=learner, source=tab4.text_input.BUILTIN, pasted=None, upload=None,
                                 preset="default", **small)
    run = tab4.run_training(user_id=learner, plan=plan["plan"])
    next(run)
    with pytest.raises(gr.Error, match="You already have a run going \\(MiniGPT training"):
        _start(learner)
    assert not (sessions.user_dir(learner) / "lora").exists()
    other = sessions.new_user_id()
    job, _, _ = _start(other)  # someone else may start
    job.run_dir.rmdir()
    tab4.request_stop(job=plan["job"])
    list(run)
    assert jobs.wait_finished(learner, 10)
    lora_job, _, _ = _start(learner, amount=300)
    lora_run = tab.train_lab(lora_job, data.builtin())
    next(lora_run)
    with pytest.raises(gr.Error, match="You already have a run going \\(LoRA fine-tune"):
        tab4.prepare_training(user_id=learner, source=tab4.text_input.BUILTIN, pasted=None, upload=None,
                              preset="default", **small)
    tab.request_stop(lora_job)
    list(lora_run)
    assert jobs.wait_finished(learner, 10)


def test_the_lora_cap_and_a_crashed_worker_are_one_message_each(user_id, monkeypatch):
    import os

    from core import jobs

    monkeypatch.setenv("PLAYGROUND_MAX_LORA_STEPS", "50")
    with pytest.raises(gr.Error, match="LoRA steps is 60, over this server's cap of 50"):
        _start(user_id, amount=60)
    monkeypatch.delenv("PLAYGROUND_MAX_LORA_STEPS")
    job, _, _ = _start(user_id, amount=300)
    run = tab.train_lab(job, data.builtin())
    for status, _ in run:
        if "step " in status:
            break
    [running] = [j for j in jobs.running() if j["owner"] == user_id]
    os.kill(running["pid"], 9)
    status, _ = list(run)[-1]
    assert status.startswith("**The run ended early.** The training process was killed by signal SIGKILL")
    assert str(sessions.runs_root()) not in status
    assert jobs.wait_finished(user_id, 10)


def test_stop_before_the_job_starts_saves_nothing_and_leaves_no_folder(user_id):
    job, _, _ = _start(user_id)
    tab.request_stop(job)
    (status, _), = list(tab.train_lab(job, data.builtin()))
    assert "Stopped before training began" in status and not job.run_dir.exists()


def test_importing_the_tab_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, lessons.part07_lora; heavy = [m for m in ('torch', 'transformers', 'peft', 'trl', "
            "'datasets') if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stdout + result.stderr[-1000:]


def test_first_open_is_one_event_with_everything_named(user_id):
    """The tab's defaults come in one event (a chain would wait in the queue once per step)."""
    import time

    tab.first_open(user_id, 8, 16, 0.05, ALL_LINEAR, 256)  # warm: the model is loaded once per process
    start = time.perf_counter()
    values = tab.first_open(user_id, 8, 16, 0.05, ALL_LINEAR, 256)
    seconds = time.perf_counter() - start
    print(f"first_open handler, warm: {seconds * 1000:.0f} ms")  # speed: bench/first_open.py, not asserted here
    assert values["loaded"] == models.POCKET and "coloured answer tokens" in values["preview"]
    assert values["lora_text"] == tab.lora_summary(models.POCKET, 8, 16, 0.05, ALL_LINEAR)[0]
    assert values["dataset"].examples == data.builtin().examples
    shipped = __import__("json").loads((Path(SHIPPED_ADAPTER) / "run.json").read_text())
    if not registry.user_checkpoints("lora", user_id):  # a learner without runs sees the shipped run's curve
        assert values["status"].startswith("Shipped run: **Done: 80 steps**")
        assert list(values["loss_plot"].data[0].y) == shipped["losses"]


def _toasts(page, text: str) -> int:
    return page.locator(".toast-body", has_text=text).count()


def _badged(page, elem_id: str) -> bool:
    """Gradio marks a component whose event failed with an "Error" badge in its status tracker."""
    return page.locator(f"#{elem_id} [data-testid='status-tracker'] .error").count() > 0


def _check_typed_rank_and_one_message(page):
    """Typing a rank updates the share and the formula; a refused setting: one toast, no badge, not again."""
    box = page.get_by_label("number input for Rank r")
    box.fill("4")
    box.press("Enter")
    expected = tab.lora_summary(models.POCKET, 4, 16, 0.05, ALL_LINEAR)[0].split("**")[1]
    page.locator("#lora-params").get_by_text(expected).wait_for()
    assert r"\frac{16}{4}" in page.locator("#lora-params annotation").first.text_content()
    page.get_by_role("radio", name="attention only").check()
    page.locator("#lora-params").get_by_text("(16 adapted layers").wait_for()
    for name in lora.ATTENTION:
        page.get_by_role("checkbox", name=name, exact=True).uncheck()
    page.locator(".toast-body", has_text="Tick at least one target").first.wait_for()
    page.wait_for_timeout(1500)  # time for any further (wrong) toasts to appear
    assert _toasts(page, "Tick at least one target") == 1 and not _badged(page, "lora-params")
    # the chat lab does not raise the old refusal again
    page.locator(".toast-body .toast-close").first.click()
    page.locator(".toast-body", has_text="Tick at least one target").first.wait_for(state="detached")
    page.get_by_role("button", name="Ask both").click()
    page.wait_for_function("() => document.querySelector('#lora-tuned-answer textarea').value.length > 10",
                           timeout=90_000)
    assert _toasts(page, "Tick at least one target") == 0
    page.get_by_role("radio", name="all linear").check()
    page.locator("#lora-params").get_by_text("(28 adapted layers").wait_for()
    box.fill("8")  # back to the default rank for the runs below
    box.press("Enter")
    page.locator("#lora-params annotation", has_text=r"\frac{16}{8}").first.wait_for(state="attached")


def _second_tab_is_refused_once(page):
    """The same learner in a second browser tab presses Fine-tune while their run trains (in a worker
    process): one message, no badge, nothing started."""
    import os

    from core import jobs
    from tests.conftest import open_tab

    assert [j for j in jobs.running() if j["kind"] == "LoRA fine-tune" and j["pid"] not in (None, os.getpid())]
    second = page.context.new_page()
    second.goto(page.url)
    second.get_by_text("Running on").wait_for(timeout=120_000)
    open_tab(second, "7 · LoRA fine-tuning")
    second.locator("#lora-params").get_by_text("Trainable:").wait_for(timeout=90_000)
    second.locator("#lora-train").click()
    second.locator(".toast-body.error").first.wait_for()
    second.wait_for_timeout(1000)  # any duplicate would arrive now
    assert _toasts(second, "You already have a run going (LoRA fine-tune") == 1
    assert not any(_badged(second, e) for e in ("lora-status", "lora-loss", "lora-params", "lora-adapter"))
    assert second.locator("#lora-train").inner_text().strip() == tab.TRAIN_LABEL
    second.close()


def _check_busy_then_stop(page) -> str:
    """Fine-tune is disabled and says so, Stop is enabled; button, status and chart fit one 1280×800
    screen; Stop ends the run as a result: 'Stopped at step N of 300', the curve kept, no badge."""
    page.get_by_label("How many").fill("300")
    page.locator("#lora-train").click()
    train = page.locator("#lora-train")
    page.wait_for_function("() => document.querySelector('#lora-train').disabled")
    assert train.inner_text().strip() == tab.BUSY_LABEL and page.locator("#lora-stop").is_enabled()
    page.locator("#lora-train-buttons").evaluate("e => e.scrollIntoView({block: 'start'})")
    top = page.locator("#lora-train-buttons").bounding_box()["y"]
    status, chart = page.locator("#lora-status").bounding_box(), page.locator("#lora-loss").bounding_box()
    assert -1 <= top and status["y"] + status["height"] <= 800 and chart["y"] + chart["height"] <= 800
    page.locator("#lora-status").get_by_text("loss ").wait_for(timeout=120_000)
    _second_tab_is_refused_once(page)
    page.locator("#lora-stop").click(timeout=90_000)  # a browser starved of CPU redraws the curve slowly
    stopped = page.locator("#lora-status").get_by_text("Stopped at step")
    stopped.wait_for(timeout=90_000)
    text = page.locator("#lora-status").inner_text()
    assert "of 300" in text and "ETA" not in text and "saved as" in text
    page.wait_for_function("() => !document.querySelector('#lora-train').disabled")
    assert train.inner_text().strip() == tab.TRAIN_LABEL and not page.locator("#lora-stop").is_enabled()
    assert page.locator("#lora-loss .scatterlayer .trace").count() >= 1  # the curve stays
    assert not any(_badged(page, e) for e in ("lora-status", "lora-loss", "lora-params", "lora-adapter"))
    return text


def _check_three_links(page):
    """Download, merge and export each keep their own file link (Gradio's file table: td.filename)."""
    names = {}
    for button, elem_id in (("Download adapter (zip)", "lora-zip-file"), ("Export as an accelerate script",
                            "lora-script-file"), ("Merge into the base and save", "lora-merged-file")):
        page.get_by_role("button", name=button).click()
        page.locator(f"#{elem_id} td.filename").first.wait_for(timeout=90_000)
    for elem_id in ("lora-zip-file", "lora-script-file", "lora-merged-file"):  # all three still there
        names[elem_id] = "".join(page.locator(f"#{elem_id} td.filename").first.text_content().split())
    assert names["lora-zip-file"].startswith("lora-") and names["lora-script-file"].startswith("finetune_lora-")
    assert names["lora-merged-file"].startswith("merged-") and all(n.endswith(".zip") for n in names.values())


def _check_phone_formulas(page):
    """At 400 px a wide formula scrolls instead of being cut off (the rule lives in lessons/style.py)."""
    from lessons.style import CSS

    wide = page.evaluate("""() => Array.from(document.querySelectorAll('.katex-display')).filter(e => e.offsetParent)
        .map(e => [e.scrollWidth > e.clientWidth + 1, getComputedStyle(e).overflowX])""")
    cut = [overflow for too_wide, overflow in wide if too_wide and overflow not in ("auto", "scroll")]
    if cut and "katex-display" not in CSS:
        pytest.skip("wide formulas need the shared .katex-display scroll rule in lessons/style.py (tabs-3-5-6)")
    assert not cut


@pytest.mark.browser
def test_browser_tab7_behaviours(page, tmp_path):
    """One learner's path through the tab in Chromium at 1280×800: first open, typed rank, one message,
    busy state, Stop as a result, a full run that learned the format, reload brings the run back, three file
    links."""
    import time

    from tests.conftest import click_tab, wait_until_quiet

    page.set_viewport_size({"width": 1280, "height": 800})
    start = time.perf_counter()
    click_tab(page, "7 · LoRA fine-tuning")
    page.get_by_text("coloured answer tokens").wait_for(timeout=90_000)
    page.locator("#lora-params").get_by_text("Trainable:").wait_for()
    page.locator("#lora-loss .scatterlayer .trace").first.wait_for()
    print(f"tab 7 first open: {time.perf_counter() - start:.2f} s from the click to its defaults shown")
    wait_until_quiet(page)
    _check_typed_rank_and_one_message(page)
    _check_busy_then_stop(page)
    # a short full run, then ask both models: the adapter has learned the taught format
    page.get_by_label("How many").fill("40")
    page.locator("#lora-train").click()
    page.locator("#lora-status").get_by_text("Done: 40 steps").wait_for(timeout=180_000)
    done = page.locator("#lora-status").inner_text()
    page.get_by_role("button", name="Ask both").click()
    # the base answers first, with the adapter's box emptied: wait for that, then for the adapter's answer
    page.wait_for_function("() => document.querySelector('#lora-tuned-answer textarea').value === ''")
    wait_until_quiet(page)  # both answers streamed to their end (a slow machine: slow, not wrong)
    tuned = page.locator("#lora-tuned-answer textarea").input_value()
    assert tuned.startswith("Answer:") and len(tuned) > len("Answer:"), tuned
    assert page.locator("#lora-base-answer textarea").input_value()
    # a reload brings the newest run back whole: listed, its line and its curve, and its files
    page.reload()
    page.get_by_text("Running on").wait_for(timeout=120_000)
    start = time.perf_counter()
    click_tab(page, "7 · LoRA fine-tuning")
    page.locator("#lora-status").get_by_text("Done: 40 steps").wait_for(timeout=90_000)
    print(f"tab 7 open after a reload (warm server): {time.perf_counter() - start:.2f} s")
    wait_until_quiet(page)
    assert page.locator("#lora-status").inner_text() == done
    assert page.locator("#lora-loss .scatterlayer .trace").count() >= 1
    _check_three_links(page)
    # predict, then run: twice the rank, and the slider moves there
    rank = page.get_by_label("number input for Rank r")
    before = int(rank.input_value())
    page.locator("#predict-double-rank-guess textarea").fill("1000")
    page.locator("#predict-double-rank-button").click()
    page.locator("#predict-double-rank-feedback").get_by_text("the summary shows it").wait_for()
    wait_until_quiet(page)
    assert int(rank.input_value()) == 2 * before
    assert f"at r = {2 * before}" in page.locator("#predict-double-rank-feedback").inner_text()
    page.screenshot(path=str(tmp_path / "part07-desktop.png"), full_page=True)


@pytest.mark.browser
def test_browser_tab7_on_a_phone(page, tmp_path):
    from tests.conftest import open_tab

    page.set_viewport_size({"width": 400, "height": 900})
    open_tab(page, "7 · LoRA fine-tuning")
    page.locator("#lora-params annotation").first.wait_for(state="attached", timeout=90_000)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 400  # the page itself does not scroll sideways; only a wide formula may
    page.screenshot(path=str(tmp_path / "part07-400px.png"), full_page=True)
    _check_phone_formulas(page)


def test_two_lora_starts_of_one_learner_at_once_give_one_job(user_id):
    """As in tab 4 (tests/test_classroom.py): the start's reservation is atomic, so of two Fine-tune presses
    checked at the same moment exactly one gets the learner's slot; the other is told why, leaving no folder."""
    from tests.conftest import at_once

    runs = sessions.user_dir(user_id) / "lora"
    before = set(runs.iterdir()) if runs.is_dir() else set()  # the module's other tests share this learner
    results = at_once(lambda: _start(user_id)[0])
    started = [r for r in results if not isinstance(r, str)]
    refusals = [r for r in results if isinstance(r, str)]
    assert len(started) == 1 and len(refusals) == 1 and "already have a run" in refusals[0]
    assert [p.name for p in set(runs.iterdir()) - before] == [started[0].run_dir.name]
    [row] = [j for j in jobs.table() if j["owner"] == user_id]
    assert row["queued"] and row["pid"] is None
    assert jobs.request_stop(user_id) and not jobs.has_job(user_id)  # Stop while queued frees the learner


def test_the_lessons_share_of_trained_parameters_is_peft_s_count_for_the_labs_defaults():
    from peft import get_peft_model

    settings = lora.LoraSettings(target_modules=list(lora.PRESETS["all linear"]))  # the lab's defaults: r = 8
    fresh = models.load_model(models.POCKET, copy_for_training=True).model
    trainable, total = get_peft_model(fresh, settings.peft_config()).get_nb_trainable_parameters()
    width = fresh.config.hidden_size
    lesson = (Path(tab.__file__).parent / "text" / "part07_lora.md").read_text(encoding="utf-8")
    assert f"trains {trainable:,} of {total:,} parameters: **{100 * trainable / total:.1f}%**" in lesson
    assert f"${width} \\times {width}$ matrix is already {100 * settings.rank * 2 / width:.1f}%" in lesson


def test_on_a_zero_gpu_space_chat_and_in_process_training_borrow_the_gpu():
    import subprocess
    import sys

    # a fake `spaces` package, present before the tab is imported (as on a Space): what does spaces.GPU wrap?
    code = """
import sys, types
wrapped = []
spaces = types.ModuleType("spaces")
spaces.__spec__ = types.SimpleNamespace(name="spaces")
def GPU(fn=None, duration=None):
    def deco(f):
        wrapped.append((f.__name__, duration))
        return f
    return deco(fn) if fn is not None else deco
spaces.GPU = GPU
sys.modules["spaces"] = spaces
import lessons.part07_lora as tab
print(sorted(wrapped))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
                         cwd=Path(tab.__file__).resolve().parents[1])
    assert out.stdout.strip() == str(sorted([("_in_process", 300), ("compare_chat", tab.CHAT_GPU_SECONDS)]))

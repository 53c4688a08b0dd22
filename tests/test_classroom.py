"""The server's rules for a class, through the queue as a browser (or an attacker) speaks it.

A tiny app with one training-like event wired the way the tabs wire theirs (core.jobs.stream with
lessons.watched), so the rules are tested on Gradio's real queue without a tab's cost.
"""
import json
import time
import urllib.request

import gradio as gr
import pytest

from core import jobs, teacher
from lessons import watched
from lessons.common import shows_errors
from tests.conftest import at_once, free_port


@pytest.fixture(scope="module")
def tiny_app():
    with gr.Blocks() as demo:
        owner = gr.Textbox()
        n = gr.Number(precision=0)
        out = gr.Textbox()

        @shows_errors
        def run(who, steps, request: gr.Request):
            for item in jobs.stream("tests.core.job_targets:count", {"n": int(steps), "delay": 0.01}, owner=who,
                                    limits=jobs.Limits(grace_s=1, threads=1), listening=watched(demo, request)):
                yield str(item["i"])

        owner.submit(run, [owner, n], out, api_name=False, concurrency_limit=4)  # fn_index 0, as the tabs wire it
        n.submit(run, [owner, n], out, api_name="run", concurrency_limit=4)  # the same, for gradio_client
        out.submit(run, [owner, n], out, api_name="one_slot", concurrency_limit=1)  # one training slot
    demo.queue(api_open=False)
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True)
    yield demo, f"http://127.0.0.1:{port}"
    demo.close()


def join(url: str, data: list, session: str) -> dict:
    """What the browser's client sends (and what `api_name=False` does not hide): queue/join by fn_index."""
    body = json.dumps({"data": data, "fn_index": 0, "session_hash": session, "trigger_id": None}).encode()
    request = urllib.request.Request(f"{url}/gradio_api/queue/join", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def wait_until(condition, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_job_joined_without_a_listener_is_stopped(tiny_app):
    _, url = tiny_app
    who = "nobody-listens"
    assert "event_id" in join(url, [who, 100_000], "s-unheard")  # api_name=False: still runs
    assert wait_until(lambda: jobs.has_job(who), 20), "the event should start"
    # 100,000 steps at 10 ms would take 17 minutes; nobody reads the stream, so it stops within seconds
    assert wait_until(lambda: not jobs.has_job(who), 20), "a job without a listener kept running"


def test_a_listened_job_runs_to_its_end_and_a_second_start_is_refused(tiny_app):
    from gradio_client import Client

    _, url = tiny_app
    client = Client(url + "/", verbose=False)
    who = "one-learner"
    first = client.submit(who, 300, api_name="/run")
    assert wait_until(lambda: jobs.has_job(who), 20)
    second = Client(url + "/", verbose=False)  # the same learner in another tab (another session)
    with pytest.raises(Exception, match="already have a run going"):
        second.predict(who, 5, api_name="/run")
    assert first.result(timeout=60) == "299"
    assert wait_until(lambda: not jobs.has_job(who), 10)


def test_a_queued_learner_sees_their_position_and_can_cancel(tiny_app):
    from gradio_client import Client

    _, url = tiny_app
    running = Client(url + "/", verbose=False).submit("runner", 100_000, api_name="/one_slot")
    assert wait_until(lambda: jobs.has_job("runner"), 20)
    queued = Client(url + "/", verbose=False).submit("waiter", 5, api_name="/one_slot")
    assert wait_until(lambda: queued.status().code.name == "IN_QUEUE" and queued.status().rank is not None, 20)
    assert queued.status().rank == 0  # first in line behind the running job
    assert queued.cancel()  # what the tab's Stop (cancels=) does to a queued event
    assert wait_until(lambda: queued.status().code.name == "CANCELLED", 20)
    assert not jobs.has_job("waiter")
    assert running.cancel()  # closing the stream: Gradio closes the generator, core.jobs kills the child
    assert wait_until(lambda: not jobs.has_job("runner"), 30)


def test_auth_closes_the_app_and_limits_guessing(monkeypatch):
    import urllib.error
    import urllib.parse

    import app

    monkeypatch.setenv("PLAYGROUND_LOGIN_FAILURES", "3")
    with gr.Blocks() as demo:
        gr.Markdown("inside")
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True, auth=app.login_check("teacher:s3cret"))
    url = f"http://127.0.0.1:{port}"

    def login(password: str) -> int:
        body = urllib.parse.urlencode({"username": "teacher", "password": password}).encode()
        try:
            with urllib.request.urlopen(urllib.request.Request(f"{url}/login", body), timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as err:
            return err.code

    try:
        with pytest.raises(urllib.error.HTTPError) as closed:
            urllib.request.urlopen(f"{url}/config", timeout=10)
        assert closed.value.code == 401
        assert login("s3cret") == 200
        assert [login(f"guess{i}") for i in range(3)] == [400, 400, 400]
        assert login("s3cret") == 400, "past the failure budget, logins wait for the window"
    finally:
        demo.close()


# ---------- fair start: one learner, one job, even when two starts are checked at the same moment ----------

def test_two_starts_of_one_learner_at_once_give_one_job():
    """Two tabs (or a client joining the queue twice) press Train together: the check step's reservation is
    atomic, so exactly one start gets the learner's slot; the other is told why, and leaves no folder."""
    from pathlib import Path

    from core import sessions
    from lessons import part04_minigpt as tab

    user = sessions.new_user_id()
    small = dict(n_layer=1, n_head=2, n_embd=32, block_size=16, batch_size=4, learning_rate=5e-3, steps=20,
                 dropout=0.0, bf16=False, optimizer="adamw", short_window=0)
    results = at_once(lambda: tab.prepare_training(user_id=user, source="builtin", pasted=None, upload=None,
                                                   preset="default", **small))
    plans = [r for r in results if isinstance(r, dict)]
    refusals = [r for r in results if isinstance(r, str)]
    assert len(plans) == 1 and len(refusals) == 1 and "already have a run" in refusals[0]
    assert [p.name for p in (sessions.user_dir(user) / "minigpt").iterdir()] == [Path(plans[0]["job"]).name]
    [row] = [j for j in jobs.table() if j["owner"] == user]
    assert row["queued"] and row["pid"] is None  # reserved: waiting for a training slot, not running
    assert jobs.request_stop(user)  # Stop while queued (the teacher's cancel does the same) frees the learner
    assert not jobs.has_job(user)
    [view] = list(tab.run_training(user_id=user, plan=plans[0]["plan"]))  # its turn comes: nothing is trained
    assert view["status"].startswith("Stopped before training started")


def test_a_reservation_ends_with_its_queued_event_or_becomes_the_job(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "RESERVATION_GRACE_S", 0.0)
    wanted = {"yes": True}
    jobs.reserve("r-owner", "test", tmp_path, still_wanted=lambda: wanted["yes"])
    with pytest.raises(jobs.JobError, match="waiting for a free training slot"):
        jobs.check_free("r-owner")
    with pytest.raises(jobs.JobError, match="waiting for a free training slot"):
        next(jobs.stream("tests.core.job_targets:count", {"n": 1}, owner="r-owner"))  # not its run folder
    wanted["yes"] = False  # the tab closed: Gradio dropped the queued event
    jobs.check_free("r-owner")
    jobs.reserve("r-owner", "test", tmp_path)
    items = list(jobs.stream("tests.core.job_targets:count", {"n": 2}, owner="r-owner", stop_dir=tmp_path,
                             limits=jobs.Limits(grace_s=1, threads=1)))
    assert [i["i"] for i in items] == [0, 1] and not jobs.has_job("r-owner")  # taken over, then released
    jobs.reserve("r-owner", "test", tmp_path)
    assert jobs.release_reservation("r-owner", tmp_path) and not jobs.has_job("r-owner")


# ---------- the whole app, set up for a class, through the queue as the browser speaks it ----------

ADMIN = "chalk-and-talk"


@pytest.fixture(scope="module")
def class_app():
    """The real app with the class settings on: one training slot, the board, the teacher's view."""
    import app
    from lessons import build_app
    from lessons.style import CSS, THEME

    with pytest.MonkeyPatch.context() as mp:
        for name, value in {"PLAYGROUND_TRAINING_JOBS": "1", "PLAYGROUND_BOARD": "1",
                            "PLAYGROUND_ADMIN_PASSWORD": ADMIN}.items():
            mp.setenv(name, value)
        demo = build_app()
        demo.queue(api_open=False, default_concurrency_limit=app.CONCURRENCY, max_size=app.QUEUE_SIZE)
        port = free_port()
        demo.launch(server_port=port, prevent_thread_lock=True, quiet=True, theme=THEME, css=CSS, max_file_size="5mb")
        yield demo, port
        demo.close()


def _dep(config: dict, label: str, event: str, tab: str) -> dict:
    """The dependency a learner triggers with `event` on the control labelled `label` in tab `tab`."""
    import class_load

    components = {c["id"]: c for c in config["components"]}
    parents = class_load._parents(config["layout"])
    for dep in config["dependencies"]:
        for target, trigger in dep["targets"]:
            comp = components.get(target)
            if (comp and trigger == event and (comp["props"].get("label") == label or comp["props"].get("value") == label)
                    and (class_load._tab_label(target, parents, components) or "").startswith(tab)):
                return dep
    raise AssertionError(f"no {event} of {label!r} in tab {tab}")


def _send(port: int, config: dict, dep: dict, session: str, user_id: str, **values) -> dict:
    """Join the queue with `dep`'s inputs (their defaults, `values` by label) and read until completed."""
    import class_load

    components = {c["id"]: c for c in config["components"]}
    data = []
    for i in dep["inputs"]:
        comp = components[i]
        label = comp["props"].get("label")
        data.append(values[label] if label in values else class_load.input_value(comp, None, user_id, moved=False))
    event = class_load.join(port, dep["id"], data, session, dep["targets"][0][0])
    return class_load.read_until_completed(port, session, event, time.monotonic() + 120)


def _error(message: dict) -> str | None:
    return None if message.get("success") else str((message.get("output") or {}).get("error"))


@pytest.fixture(scope="module")
def queue_client():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))  # bench/class_load.py: the protocol
    yield
    sys.path.pop(0)


def test_bad_inputs_through_the_queue_get_one_clear_message_and_the_app_goes_on(class_app, queue_client):
    import secrets

    import class_load

    _, port = class_app
    config = class_load.get_json(port, "/config")
    session, user = secrets.token_hex(6), secrets.token_hex(16)
    cases = [  # (tab, control, event, values by label, what the message must say)
        ("6 ", "Reset (back to bytes)", "click", {"Special tokens (separated by spaces; never split)": "<t> " * 25_000},
         "keep them under 400"),
        ("4 ", "Generate", "click", {"Seed (empty = random)": 2**70, "Checkpoint": "shipped/default"},
         "seed must be a whole number"),
        ("4 ", "Generate", "click", {"Checkpoint": "/etc/passwd"}, "not in the list of choices"),  # Gradio's own check
        ("4 ", "Post to the class board", "click", {"Nickname": "x" * 5000}, "5,000 characters"),
        ("4 ", "Post to the class board", "click", {"Nickname": "ada"}, "Train a run to the end first"),
        ("Teacher", "Show the class", "click", {"Teacher's password": "guess"}, "not the teacher's password"),
        ("4 ", "Train", "click", {"Layers (blocks)": 8, "Embedding size": 384, "Context (characters)": 256,
                                  "Batch size": 128}, "over this server's cap"),  # the sliders' maximums: ~60 hours
    ]
    for tab, control, event, values, expected in cases:
        start = time.perf_counter()
        error = _error(_send(port, config, _dep(config, control, event, tab), session, user, **values))
        print(f"\n{control!r} {event}: {time.perf_counter() - start:.2f} s -> {error}")
        assert error and expected in error, (control, error)
        assert "Traceback" not in error and "/work/" not in error  # a message, no server internals
        assert "invalid literal" not in error and "Overflow" not in error  # not a raw Python message
    # and the app goes on: the teacher's view answers, a quick lab of tab 3 answers
    report = _send(port, config, _dep(config, "Show the class", "click", "Teacher"), session, user,
                   **{"Teacher's password": ADMIN})
    assert _error(report) is None and "Caps" in str(report["output"]["data"][0])
    quick = next(lab for lab in class_load.find_labs(config) if lab.name.startswith("3 "))
    data = class_load.lab_inputs(quick, __import__("random").Random(0), user)
    assert class_load.one_event(port, quick, data, session, time.monotonic() + 60)[1] is None


def test_two_train_clicks_of_one_learner_through_the_queue_give_one_job(class_app, queue_client):
    """The issue's attack: one learner queues several starts (two sessions, the same id, at once)."""
    import secrets
    import threading

    import class_load

    _, port = class_app
    config = class_load.get_json(port, "/config")
    user = secrets.token_hex(16)
    train = class_load.find_training(config)
    outcomes = []
    barrier = threading.Barrier(3)

    def press():
        session = secrets.token_hex(6)
        barrier.wait()
        outcomes.append(_error(_send(port, config, {"id": train.fn_index, "inputs": [c["id"] for c in train.inputs],
                                                     "targets": [[train.trigger, "click"]]}, session, user)))

    threads = [threading.Thread(target=press) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    refused = [o for o in outcomes if o]
    assert len(outcomes) == 3 and len(refused) == 2 and all("already have a run" in o for o in refused), outcomes
    assert [j["queued"] for j in jobs.table() if j["owner"] == user] == [True]
    assert jobs.request_stop(user) and not jobs.has_job(user)


# ---------- in a real browser: two learners, one training slot; the teacher; the board ----------

def _learner_page(browser, port: int):
    from tests.conftest import open_tab

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(120_000)  # 2 shared cores: a busy machine is slow, not wrong
    page.goto(f"http://127.0.0.1:{port}/")
    page.get_by_text("Running on").wait_for()
    open_tab(page, "4 · MiniGPT")
    page.locator("#minigpt-status").get_by_text("Press").wait_for()
    page.locator("#minigpt-size").get_by_text("× context 192").wait_for()  # the default preset is in
    return page


def _fill(page, label, value):
    box = page.get_by_label(f"number input for {label}")
    box.fill(str(value))
    box.press("Enter")


@pytest.mark.browser
def test_browser_a_queued_learner_sees_their_place_and_cancels_the_teacher_stops_a_job_the_board_posts(
        browser, class_app, tmp_path):
    import re

    from tests.conftest import open_tab

    _, port = class_app
    started = time.perf_counter()
    others = {j["owner"] for j in jobs.table()}  # the suite's other tests share this process's job table

    def ours():
        return sorted(j["queued"] for j in jobs.table() if j["owner"] not in others)

    ada, bo = _learner_page(browser, port), _learner_page(browser, port)
    ada.locator("#minigpt-train").click()  # the default preset, 480 steps: it holds the one slot for a while
    ada.locator("#minigpt-status").get_by_text("ETA").wait_for()
    bo.locator("#minigpt-train").click()
    bo.get_by_role("button", name="Training…").wait_for()
    place = bo.locator(".progress-text, .meta-text, .meta-text-center").filter(has_text=re.compile("queue", re.I))
    place.first.wait_for()  # Gradio's queue tells Bo where they are
    bo.screenshot(path=tmp_path / "queued.png")
    print(f"\nBo sees: {place.first.inner_text()!r}")
    assert re.search(r"queue: 1/1", place.first.inner_text())
    assert ours() == [False, True]  # Ada runs, Bo is reserved
    bo.locator("#minigpt-stop").click()  # Bo cancels while queued: the reservation is gone at once
    assert wait_until(lambda: ours() == [False], 10)

    open_tab(bo, "Teacher")  # the teacher's view (here on Bo's screen): Ada's job, then cancel it
    bo.locator("#teacher-password input").fill(ADMIN)
    bo.locator("#teacher-show").click()
    report = bo.locator("#teacher-report")
    report.get_by_text("1 running").wait_for()
    assert "MiniGPT training" in report.inner_text() and "Caps" in report.inner_text()
    ada_owner, = [j["owner"] for j in jobs.table() if j["owner"] not in others]
    bo.locator("#teacher-job input").click()
    # the suite's other tests may have left jobs in this process's table: pick Ada's by her short id
    bo.get_by_role("option").filter(has_text=teacher.short(ada_owner)).first.click()
    bo.locator("#teacher-cancel").click()
    ada.locator("#minigpt-status").get_by_text("Stopped at step").wait_for()
    open_tab(bo, "4 · MiniGPT")
    bo.locator("#minigpt-status").get_by_text("Stopped before training started").wait_for()

    for label, value in [("Layers (blocks)", 1), ("Embedding size", 32), ("Context (characters)", 16),
                         ("Batch size", 4), ("Training steps", 10)]:
        _fill(bo, label, value)
    bo.locator("#minigpt-size").get_by_text("at batch 4 × context 16").wait_for()
    bo.locator("#minigpt-train").click()
    bo.locator("#minigpt-status").get_by_text("step 10/10").wait_for()
    bo.locator("#board-run input").wait_for()
    bo.locator("#board-nickname textarea, #board-nickname input").first.fill("<b>Bo</b>")
    bo.locator("#board-post").click()
    table = bo.locator("#class-board")
    table.get_by_text("<b>Bo</b>").wait_for()  # shown as typed: escaped, never markup
    assert table.locator("b", has_text="Bo").count() == 0
    # the toast too, escaped (the training's own warning toast may still be shown above it)
    bo.locator(".toast-body", has_text="Posted as <b>Bo</b>").wait_for()
    assert "built-in corpus" in table.inner_text() and "1×4×32, ctx 16" in table.inner_text()
    table.scroll_into_view_if_needed()
    bo.screenshot(path=tmp_path / "board.png")
    bo.set_viewport_size({"width": 400, "height": 900})
    table.scroll_into_view_if_needed()
    bo.screenshot(path=tmp_path / "board-400.png")
    open_tab(bo, "Teacher")
    bo.locator("#teacher-show").click()
    report.get_by_text("0 running").wait_for()
    bo.set_viewport_size({"width": 1280, "height": 800})
    bo.screenshot(path=tmp_path / "teacher.png")
    print(f"two learners, a queued start, the teacher's cancel, a 10-step run and a post: "
          f"{time.perf_counter() - started:.0f} s (load average {__import__('os').getloadavg()[0]:.1f})")
    for page in (ada, bo):
        page.context.close()


# ---------- the board's and the teacher's modules ----------

def test_the_board_table_escapes_learners_text_and_shows_the_entrys_numbers():
    from core import board as core_board
    from lessons import board

    entry = core_board.Entry(nickname="<img src=x onerror=alert(1)>", corpus="built-in corpus (66 distinct characters)",
                             settings="4×4×128, ctx 192 · muon", params=834_816, steps=480, elapsed_s=60.0,
                             final_val=2.618, val_curve=((0, 4.2), (120, 1.95), (210, 1.6)), sample="a <script>x</script>",
                             posted=0.0)
    page = board.board_html({entry.corpus: [entry]}, target=2.0)
    assert "<img" not in page and "<script>" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "≈ 15 s" in page  # 60 s x step 120 / 480 steps: the first evaluation at or under 2.0
    assert "1.600" in page and "2.618" in page and "834,816" in page


def test_the_classroom_modules_import_without_torch_and_keep_functions_short():
    import ast
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = ("import sys; import lessons.board, lessons.teacher, core.board, core.teacher, core.spaces_support; "
            "print(sorted({'torch', 'transformers'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"
    for path, limit in [("lessons/board.py", 60), ("lessons/teacher.py", 60), ("core/board.py", 80),
                        ("core/teacher.py", 80), ("core/admin.py", 80), ("core/spaces_support.py", 80),
                        ("core/jobs.py", 80)]:
        for node in ast.walk(ast.parse((root / path).read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < limit, f"{path}:{node.name}"

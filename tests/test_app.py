"""The app assembles all eleven tabs in order, starts offline, and answers a client."""
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import gradio as gr

ROOT = Path(__file__).resolve().parent.parent

EXPECTED_TABS = [
    "1 · What is an LLM", "2 · Three phases", "3 · Core math", "4 · MiniGPT", "5 · Attention",
    "6 · Tokenization", "7 · LoRA fine-tuning", "8 · Key concepts", "9 · Libraries",
    "10 · Cost & compute", "11 · Workflow",
]


def test_eleven_tabs_in_the_guides_order():
    import app

    (lesson_tabs,) = [b for b in app.demo.blocks.values() if isinstance(b, gr.Tabs) and b.elem_id == "lesson-tabs"]
    # only the top level: a lab may use inner tabs of its own
    assert [tab.label for tab in lesson_tabs.children] == EXPECTED_TABS


def test_a_page_load_runs_no_lesson_computation_and_each_tab_fills_itself_once():
    """A page load costs the learner's id, the environment line and the first tab's flag; every lab's
    default runs from its own tab's flag (lessons.common.opened_flag), so a class does not compute eleven
    tabs for each page opened, and re-opening a tab (the flag is already True) recomputes nothing."""
    import app

    fns = list(app.demo.fns.values())
    on_load = {fn.name for fn in fns if any(t[1] == "load" for t in fn.targets)}
    assert on_load == {"_ensure_user_id", "_environment_line"}
    flags = [b for b in app.demo.blocks.values() if isinstance(b, gr.State) and b.value is False
             and any(fn.name == "_now_open" and fn.outputs == [b] for fn in fns)]
    assert len(flags) >= len(EXPECTED_TABS)
    # the first tab's flag follows the id event; every other flag is set by its tab's select only
    setters = [fn for fn in fns if fn.name == "_now_open"]
    after_id = [fn for fn in setters if fn.targets[0][1] == "then"]
    assert len(after_id) == 1 and app.demo.fns[after_id[0].trigger_after].name == "_ensure_user_id"
    assert {fn.outputs[0]._id for fn in setters if fn.targets[0][1] == "select"} == {b._id for b in flags}
    changed = {t[0] for fn in fns for t in fn.targets if t[1] == "change"}
    assert all(b._id in changed for b in flags), "a tab's flag that starts nothing"


def test_every_tab_predicts_then_runs_and_ends_with_its_check():
    """Issue 17: at least one predict-then-run box per tab (one per lab: each tab's own tests) and the
    tab's end-of-tab check, last, with its questions in core/quizzes."""
    import app
    from core.quizzes import quiz_for

    (lesson_tabs,) = [b for b in app.demo.blocks.values() if isinstance(b, gr.Tabs) and b.elem_id == "lesson-tabs"]

    def inside(block):
        for child in getattr(block, "children", []):
            yield child
            yield from inside(child)

    for number, tab in enumerate(lesson_tabs.children, start=1):
        ids = [b.elem_id for b in inside(tab) if b.elem_id]
        part = f"part{number:02d}"
        assert any(i.startswith("predict-") and i.endswith("-button") for i in ids), f"{tab.label}: no prediction"
        assert f"{part}-check" in ids and len(quiz_for(part).questions) >= 3, f"{tab.label}: no check"
        top = [c for c in tab.children if c.elem_id or isinstance(c, gr.Accordion)]
        assert top[-1].elem_id == f"{part}-check", f"{tab.label}: the check is not last"


def test_every_tab_starts_with_its_lesson_text():
    from lessons import LESSONS
    from lessons.common import read_text

    for _, module in LESSONS:
        text = read_text(module)
        assert text.startswith("## Part "), module
        assert len(text.split()) > 150, f"{module} lesson text is too short"
        # $ is the LaTeX delimiter: an odd count would swallow the rest of the page into a formula
        assert text.count("$") % 2 == 0, module


def test_importing_the_app_does_not_import_the_training_stack():
    code = (
        "import sys, app\n"
        "heavy = [m for m in ('transformers', 'peft', 'trl', 'datasets', 'bitsandbytes', 'accelerate') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_the_shell_of_the_app_does_not_import_torch():
    """app.py, lessons/__init__.py, core.sessions/environment/jobs/caps/quotas stay torch-free (issue 12).
    The lesson tabs are checked by test_importing_the_app_does_not_import_torch below."""
    code = (
        "import sys\n"
        "import lessons, lessons.common, core.sessions, core.environment, core.jobs, core.caps, core.quotas\n"
        "from core import environment\n"
        "line = environment.summary_line(environment.quick())\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert line.startswith('Running on ') and 'PyTorch' in line, line\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_a_training_child_does_not_rebuild_the_app():
    """core.jobs' spawned children re-import the server's main file as __mp_main__: that must be cheap."""
    code = ("import runpy, sys\n"
            "runpy.run_path('app.py', run_name='__mp_main__')\n"
            "assert 'gradio' not in sys.modules and 'lessons' not in sys.modules, 'the child built the app'\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_the_app_leaves_garbage_collection_on_with_itself_frozen():
    """app.py turns the collector off while Gradio is imported and the app built, then freezes what it made
    and turns it back on: left off, every learner's cyclic garbage would pile up for the server's life."""
    code = ("import gc, app\n"
            "assert gc.isenabled(), 'garbage collection left off'\n"
            "assert gc.get_freeze_count() > 100_000, gc.get_freeze_count()\n"
            "assert any(o is app.demo for o in gc.get_objects()) is False  # frozen objects are not tracked\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_importing_the_app_does_not_import_torch():
    code = "import sys, app\nassert 'torch' not in sys.modules, 'torch imported'\n"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_the_browser_secret_survives_a_rebuild_and_its_key_file_is_private(tmp_path, monkeypatch):
    from core import sessions
    from lessons import build_app

    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path))
    monkeypatch.delenv("PLAYGROUND_SECRET", raising=False)

    def secret_of(demo):
        (state,) = [b for b in demo.blocks.values() if isinstance(b, gr.BrowserState)]
        return state.secret

    first, second = secret_of(build_app()), secret_of(build_app())
    key = tmp_path / sessions.SECRET_FILE
    assert first == second == key.read_text() and len(first) >= 32
    assert key.stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("PLAYGROUND_SECRET", "from-the-space-secrets")
    assert secret_of(build_app()) == "from-the-space-secrets"


def test_login_attempts_are_limited(monkeypatch):
    import app

    monkeypatch.setenv("PLAYGROUND_LOGIN_FAILURES", "3")
    check = app.login_check("teacher:s3cret")
    assert check("teacher", "s3cret") and not check("teacher", "wrong") and not check("x", "s3cret")
    assert not check("teacher", "guess")  # the third failure
    assert not check("teacher", "s3cret"), "past the budget even the right password waits for the window"
    assert app.login_check(None) is None


def test_login_limiter_window_passes():
    from core.sessions import LoginLimiter

    check = LoginLimiter("a", "b", max_failures=1, window_s=0.2)
    assert not check("a", "x") and not check("a", "b")
    time.sleep(0.25)
    assert check("a", "b")


def test_command_line_options_and_environment(monkeypatch):
    import app

    args = app.parse_args(["--host", "0.0.0.0", "--port", "8000", "--share", "--auth", "teacher:secret"])
    assert (args.host, args.port, args.share, args.auth) == ("0.0.0.0", 8000, True, "teacher:secret")
    monkeypatch.setenv("PLAYGROUND_PORT", "7999")
    monkeypatch.setenv("PLAYGROUND_AUTH", "a:b")
    monkeypatch.setenv("PLAYGROUND_SHARE", "1")
    args = app.parse_args([])
    assert (args.host, args.port, args.share, args.auth) == ("127.0.0.1", 7999, True, "a:b")


def test_client_talks_to_the_running_app(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    line = client.predict(api_name="/environment")
    assert line.startswith("Running on ") and "PyTorch" in line


def test_queue_is_bounded_and_uploads_expire(app_url):
    import app

    assert app.demo._queue.max_size == app.QUEUE_SIZE > 0
    frequency, age = app.demo.delete_cache
    assert 0 < frequency <= 3600 and 60 <= age <= 86400


def test_config_publishes_no_server_paths(app_url):
    from core import sessions

    config = urllib.request.urlopen(app_url + "config", timeout=30).read().decode()
    assert str(ROOT) not in config
    assert str(sessions.runs_root()) not in config and str(sessions.CHECKPOINTS_DIR) not in config
    assert '"shipped/' in config  # the checkpoint lists are there, named by ids

"""Test settings: offline, quiet, and gentle with the CPU (tests may share 2 cores with other work)."""
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the Hub is unreachable here: fail fast, never hang
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("PLAYGROUND_TORCH_THREADS", "1")

import socket  # noqa: E402
import tempfile  # noqa: E402

import pytest  # noqa: E402

# Per-session outputs of the tests go to a temporary folder, never into checkpoints/runs.
os.environ.setdefault("PLAYGROUND_RUNS_DIR", tempfile.mkdtemp(prefix="playground-test-runs-"))

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url():
    """The whole app, launched once per test session on a free local port."""
    import app

    port = free_port()
    app.launch(app.parse_args(["--port", str(port)]), prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.demo.close()


CHROMIUM = "/usr/bin/chromium"
PAGE_LOAD_MS = 120_000
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright. Required in CI; skipped locally when not installed."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing: .ci/run must install Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_url):
    """A fresh browser tab (a new learner) on the app, with the page fully loaded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    # 2 shared cores: while the page loads, Chromium can be starved for tens of seconds (slow, not wrong)
    pg.set_default_timeout(90_000)
    pg.goto(app_url)
    # the page's load events: seconds on an idle machine, much longer on a shared CI runner (never a timing test)
    pg.get_by_text("Running on").wait_for(timeout=PAGE_LOAD_MS)
    yield pg
    context.close()


def open_tab(page, label: str) -> None:
    """Inactive tabs render lazily: click the tab before looking inside it."""
    page.get_by_role("tab", name=label).click()


def build_tab_alone(module) -> list[str]:
    """Build one lesson tab in a Blocks of its own; return the labels of its components."""
    import gradio as gr

    from lessons.common import LessonContext

    with gr.Blocks() as demo:
        user_id = gr.BrowserState(None)
        with gr.Tabs(), gr.Tab("alone") as tab:
            module.build(LessonContext(demo=demo, tab=tab, user_id=user_id))
    return [b.label for b in demo.blocks.values() if getattr(b, "label", None)]


def at_once(start, n: int = 2) -> list:
    """Call `start()` from n threads released at the same moment (two tabs pressing a button together);
    each result is what it returned, or the message of the gr.Error it raised."""
    import threading

    import gradio as gr

    barrier, results = threading.Barrier(n), []

    def run():
        barrier.wait()
        try:
            results.append(start())
        except gr.Error as err:
            results.append(str(err))

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results

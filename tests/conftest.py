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
import time  # noqa: E402

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
QUIET_S = 1.5  # no Gradio event in flight for this long: the gap between one event and its `.then` is shorter
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


class QueueWatch:
    """A page's Gradio events in flight: each `queue/join` POST until it is answered (seen from the browser),
    then each event the server still holds for the page's session, queued, running, or finished with its last
    message not yet delivered (`pending_event_ids_session`, read from the in-process server). Quiet for a
    while means every event and every `.then` after it has finished.

    Not the `queue/data` stream: Gradio closes it after a session's last event, except when an event left
    the queue another way (its `clean_events`): then the stream stays open, idle, with nothing pending."""

    def __init__(self, page):
        self.page, self.joins, self.last_change, self.was_busy = page, 0, time.monotonic(), False
        self.sessions: set[str] = set()
        self.open_requests: dict[int, str] = {}  # the joins still in flight, for the message when one never ends
        page.on("request", lambda req: self._count(req, +1))
        page.on("requestfinished", lambda req: self._count(req, -1))
        page.on("requestfailed", lambda req: self._count(req, -1))

    def _count(self, request, step: int) -> None:
        if step > 0 and request.is_navigation_request() and request.frame == self.page.main_frame:
            # a (re)load is a new session: what the old page left pending (undelivered, forever) is not this
            # page's. Not `framenavigated`: it also fires when a tab click changes the URL, mid-event
            self.sessions.clear()
        if "/queue/join" in request.url:
            self.joins += step
            self.last_change = time.monotonic()
            if step > 0:
                self.open_requests[id(request)] = f"{request.url} {(request.post_data or '')[:300]}"
                self._note_session(request.post_data or "")
            else:
                self.open_requests.pop(id(request), None)

    def _note_session(self, body: str) -> None:
        import json

        try:
            session = json.loads(body).get("session_hash")
        except (ValueError, AttributeError):
            return
        if session:
            self.sessions.add(session)

    def busy(self) -> bool:
        busy = self.joins > 0 or bool(server_pending(self.sessions))
        if busy != self.was_busy:
            self.was_busy, self.last_change = busy, time.monotonic()
        return busy

    def wait_until_quiet(self, page, quiet_s: float = QUIET_S, timeout_s: float = PAGE_LOAD_MS / 1000) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            page.wait_for_timeout(100)  # lets Playwright deliver the request events
            if not self.busy() and time.monotonic() - self.last_change > quiet_s:
                return
        raise AssertionError(f"the page still had {self.joins} join(s) in flight and events pending after "
                             f"{timeout_s:.0f} s:\n" + "\n".join(self.open_requests.values())
                             + f"\nthe server holds for this page: {server_pending(self.sessions)}")


def server_pending(sessions: set[str]) -> list[str]:
    """The in-process server's events of these sessions not yet finished and delivered: which handler each
    runs, so a page that never goes quiet says what it waits for."""
    import sys

    app = sys.modules.get("app")
    queue = getattr(getattr(app, "demo", None), "_queue", None)
    if queue is None:
        return []
    pending = {event_id for s in sessions for event_id in queue.pending_event_ids_session.get(s, ())}
    names = []
    for event_id in sorted(pending):
        event = queue.event_ids_to_events.get(event_id)
        fn = getattr(getattr(event, "fn", None), "fn", None)
        names.append(f"{event_id[:8]}:{getattr(fn, '__qualname__', 'running or finished')}")
    return names


@pytest.fixture
def page(browser, app_url):
    """A fresh browser tab (a new learner) on the app, with the page and its first tab fully loaded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    # 2 shared cores: while the page loads, Chromium can be starved for tens of seconds (slow, not wrong)
    pg.set_default_timeout(90_000)
    pg.queue_watch = QueueWatch(pg)
    pg.goto(app_url)
    # the page's load events: seconds on an idle machine, much longer on a shared CI runner (never a timing test)
    pg.get_by_text("Running on").wait_for(timeout=PAGE_LOAD_MS)
    pg.queue_watch.wait_until_quiet(pg)
    yield pg
    context.close()


def open_tab(page, label: str) -> None:
    """Click a tab and wait until its first-open defaults (lessons.common `ctx.on_open`) have all arrived, so
    a test's own input is never overwritten by them. Inactive tabs render lazily: open before looking inside."""
    click_tab(page, label)
    wait_until_quiet(page)


def click_tab(page, label: str) -> None:
    """Only the click, for a test that measures how the tab fills in (then `wait_until_quiet` before typing)."""
    page.get_by_role("tab", name=label).click()
    watch = getattr(page, "queue_watch", None)
    if watch is not None:
        watch.last_change = time.monotonic()  # the click's own events start a moment after it


def wait_until_quiet(page) -> None:
    watch = getattr(page, "queue_watch", None)
    if watch is not None:
        watch.wait_until_quiet(page)


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

"""The eleven tabs, in the guide's order. Each module's `build(ctx)` fills its tab; UI only."""
from __future__ import annotations

import importlib
import os

import gradio as gr

from core import admin, sessions
from lessons.common import LessonContext, opened_flag
from lessons.signatures import remember_block_signatures

# (tab label, module in lessons/) in the guide's order; labels follow shared/UI-GUIDE.md
LESSONS: list[tuple[str, str]] = [
    ("1 · What is an LLM", "part01_what_is_llm"),
    ("2 · Three phases", "part02_three_phases"),
    ("3 · Core math", "part03_core_math"),
    ("4 · MiniGPT", "part04_minigpt"),
    ("5 · Attention", "part05_attention"),
    ("6 · Tokenization", "part06_tokenization"),
    ("7 · LoRA fine-tuning", "part07_lora"),
    ("8 · Key concepts", "part08_key_concepts"),
    ("9 · Libraries", "part09_libraries"),
    ("10 · Cost & compute", "part10_compute"),
    ("11 · Workflow", "part11_workflow"),
]

TITLE = "LLM Training Playground"


# More progress messages than this waiting unread for one session: its browser is not reading the stream.
UNREAD_LIMIT = 50


def watched(demo: gr.Blocks, request: gr.Request | None):
    """A `listening()` check for core.jobs.stream: False once nobody reads this session's stream.

    Gradio runs a queued job to its end even when no browser listens: a client that joins the queue
    (`queue/join`, any fn_index, `api_name=False` or not) but never opens the data stream gets the
    whole job. Every yield becomes a message in the session's queue, which an open stream drains at
    once; messages piling up unread mean nobody is there. (A stream that opens and then closes is
    Gradio's own case: it cancels the event, which closes the generator.)
    """
    session = getattr(request, "session_hash", None)
    if session is None:  # called directly (tests, benches): there is no stream to watch
        return lambda: True

    def listening() -> bool:
        queue = demo._queue.pending_messages_per_session.get(session)
        return queue is not None and queue.qsize() <= UNREAD_LIMIT

    return listening


def warm_up() -> None:
    """What the first page views would otherwise wait for (importing torch, the shipped model, tab 5's
    default maps), done once in the background right after the server starts: each lesson module may
    define `warm_up()`. A failure here only means the first learner waits; it is logged, never raised."""
    import logging

    for _, module_name in LESSONS:
        warm = getattr(importlib.import_module(f"lessons.{module_name}"), "warm_up", None)
        if warm is None:
            continue
        try:
            warm()
        except Exception as err:  # noqa: BLE001 - a warm-up must never take the server down
            logging.getLogger(__name__).warning("warm-up of %s failed: %s", module_name, err)


def queued(demo: gr.Blocks, request: gr.Request | None):
    """A `still_wanted()` check for core.jobs.reserve: False once this session has no event left in Gradio's
    queue (its tab closed: Gradio drops a closed session's queued events, so its training will never run).
    Between a check step and its training event the session holds no event for a moment: core.jobs gives a
    reservation a grace period before asking."""
    session = getattr(request, "session_hash", None)
    if session is None:  # called directly (tests, benches): no queue to look at
        return None

    def still_wanted() -> bool:
        return bool(demo._queue.pending_event_ids_session.get(session))

    return still_wanted


def _ensure_user_id(user_id: str | None) -> str:
    # The id lives in the browser's local storage, so a learner who reloads keeps their runs.
    return user_id if sessions.is_valid_user_id(user_id) else sessions.new_user_id()


def _environment_line() -> str:
    from core import environment

    return environment.summary_line(environment.quick())  # never imports torch: see core.environment


def cache_policy() -> tuple[int, int]:
    """Gradio's cache of uploads and outputs: every half hour, delete what is older than
    `PLAYGROUND_CACHE_MAX_AGE_MINUTES` (default 120). Without it the cache grows for the life of the server."""
    minutes = float(os.environ.get("PLAYGROUND_CACHE_MAX_AGE_MINUTES") or 120)
    return 1800, max(60, int(minutes * 60))


def build_app(queue: dict | None = None) -> gr.Blocks:
    """The whole app. `queue`: the settings of `Blocks.queue` (app.QUEUE), applied first, while the app is
    still empty: queue() rebuilds Gradio's server app from the whole config (0.25 s for this app after it is
    built; nothing before)."""
    remember_block_signatures()  # 0.1-0.2 s of start-up (lessons/signatures.py)
    with gr.Blocks(title=TITLE, fill_width=False, delete_cache=cache_policy()) as demo:
        demo.queue(**(queue or {}))
        # A persistent secret: the id stored in the browser still decrypts after a restart (core.sessions).
        user_id = gr.BrowserState(None, storage_key="llm_playground_user", secret=sessions.browser_secret())
        gr.Markdown(f"# {TITLE}\nLearn how large language models are trained by training them, one part of the guide per tab.")
        # the first tab's defaults run once the learner's id is known (their own runs are listed at once)
        id_known = demo.load(_ensure_user_id, inputs=user_id, outputs=user_id, api_name=False)
        # "wrap": all eleven tabs stay visible (in rows on a phone) instead of hiding behind a "…" menu
        with gr.Tabs(overflow_behavior="wrap", elem_id="lesson-tabs"):
            for index, (label, module_name) in enumerate(LESSONS):
                with gr.Tab(label, id=module_name) as tab:
                    module = importlib.import_module(f"lessons.{module_name}")
                    opened = opened_flag(tab, first_open=id_known if index == 0 else None)
                    module.build(LessonContext(demo=demo, tab=tab, user_id=user_id, opened=opened))
            if admin.enabled():  # the teacher's view exists only where a teacher set the admin password
                with gr.Tab("Teacher", id="teacher") as tab:
                    ctx = LessonContext(demo=demo, tab=tab, user_id=user_id, opened=opened_flag(tab))
                    importlib.import_module("lessons.teacher").build(ctx)
        environment = gr.Markdown(elem_id="environment-line")
        demo.load(_environment_line, outputs=environment, api_name="environment")
    return demo

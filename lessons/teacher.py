"""The teacher's tab, behind the admin password (PLAYGROUND_ADMIN_PASSWORD): who is here, which jobs run or
wait (and whose), disk and memory, the caps in force; cancel a job; clear the class board.

UI only: core.teacher computes the figures, core.admin checks the password (every action asks again: no
"logged in" state to steal), core.board clears. Added by lessons/__init__.py only when the password is set.
"""
from __future__ import annotations

import functools

import gradio as gr

from core import admin, board, teacher, threads
from core.sessions import LoginLimiter
from lessons.common import LessonContext, markdown, named_event, shows_errors


def _queue_figures(demo: gr.Blocks | None) -> tuple[int, int]:
    """(sessions with an event queued or running, events waiting in the training queue), from Gradio's queue."""
    queue = getattr(demo, "_queue", None)
    if queue is None:
        return 0, 0
    in_flight = sum(1 for ids in queue.pending_event_ids_session.values() if ids)
    training = queue.event_queue_per_concurrency_id.get(threads.TRAINING_CONCURRENCY_ID)
    return in_flight, len(training.queue) if training is not None else 0


def _job_choices() -> list[tuple[str, str]]:
    return [(f"{row.learner} · {row.kind} · {row.state}", row.learner) for row in teacher.job_rows()]


@shows_errors
def show_class(password, limiter: LoginLimiter | None = None, demo: gr.Blocks | None = None) -> dict:
    admin.check(password, limiter)
    return {"report": teacher.report(*_queue_figures(demo)), "job": gr.Dropdown(choices=_job_choices(), value=None)}


@shows_errors
def cancel_job(password, job, limiter: LoginLimiter | None = None, demo: gr.Blocks | None = None) -> dict:
    admin.check(password, limiter)
    if not job:
        raise ValueError("Pick a job to cancel (press Show the class first).")
    gr.Info(teacher.cancel(job))
    return {"report": teacher.report(*_queue_figures(demo)), "job": gr.Dropdown(choices=_job_choices(), value=None)}


@shows_errors
def clear_board(password, limiter: LoginLimiter | None = None) -> dict:
    removed = board.clear(password, limiter)
    gr.Info(f"The class board is empty ({removed} entries removed).")
    return {}


def build(ctx: LessonContext) -> None:
    limiter = admin.new_limiter()  # this app's guess budget, shared by the three actions
    markdown("### Teacher's view\nEvery action asks for the teacher's password (`PLAYGROUND_ADMIN_PASSWORD`).")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            password = gr.Textbox(label="Teacher's password", type="password", max_length=admin.MAX_PASSWORD_CHARS,
                                  elem_id="teacher-password")
            show_btn = gr.Button("Show the class", variant="primary", elem_id="teacher-show")
            job = gr.Dropdown(label="Job", choices=[], interactive=True, elem_id="teacher-job")
            cancel_btn = gr.Button("Cancel this job", variant="stop", elem_id="teacher-cancel")
            clear_btn = gr.Button("Clear the class board", elem_id="teacher-clear", visible=board.enabled())
        with gr.Column(scale=3):
            report = markdown("Enter the password and press **Show the class**.", elem_id="teacher-report")
    outputs = {"report": report, "job": job}
    show_btn.click(**named_event(functools.partial(show_class, limiter=limiter, demo=ctx.demo), {"password": password},
                                 outputs), api_name=False)
    cancel_btn.click(**named_event(functools.partial(cancel_job, limiter=limiter, demo=ctx.demo),
                                   {"password": password, "job": job}, outputs), api_name=False)
    clear_btn.click(**named_event(functools.partial(clear_board, limiter=limiter), {"password": password}),
                    api_name=False)

"""Tab 4's class board lab: post a finished MiniGPT run, see the class ranked by time to a validation loss.

UI only: core.board verifies the run from the server's own record and ranks; this module draws the table,
every learner-given text escaped. Built only when the teacher turns the board on (PLAYGROUND_BOARD=1).
"""
from __future__ import annotations

import html

import gradio as gr

from core import board, registry
from lessons.common import LessonContext, checkpoint_id, markdown, named_event, shows_errors, try_this

COLUMNS = ("#", "nickname", "time to target", "best val loss", "final val loss", "parameters", "settings",
           "steps", "last sample")


def finished_runs(user_id, current=None) -> gr.Dropdown:
    """The learner's finished MiniGPT runs (the board takes no stopped run), newest first; keeps the pick,
    or selects a run just saved (`current` is then its folder)."""
    runs = [c for c in registry.user_checkpoints("minigpt", user_id) if c.summary.finished]
    values = [c.id for c in runs]
    chosen = checkpoint_id("minigpt", user_id, current)
    return gr.Dropdown(choices=[(c.label, c.id) for c in runs],
                       value=chosen if chosen in values else (values[0] if values else None))


def _row(rank: int, e: board.Entry, target: float) -> str:
    reached = e.time_to(target)
    cells = [str(rank), e.nickname, f"≈ {reached:,.0f} s" if reached is not None else "not reached",
             f"{e.best_val:.3f}", f"{e.final_val:.3f}", f"{e.params:,}", e.settings, f"{e.steps:,}", e.sample]
    return "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"


def board_html(standings: dict | None = None, target: float | None = None) -> str:
    """The board as HTML tables, one per corpus. Every cell is escaped: nicknames and samples are learners' text."""
    target = board.target_loss() if target is None else target
    standings = board.standings(target) if standings is None else standings
    if not standings:
        return "<p>No runs on the board yet: train the default preset and post it.</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    parts = [f"<p>Ranked by the time until the validation loss first reached <b>{target:g}</b> "
             "(estimated from the run's total time), then by best validation loss.</p>"]
    for corpus, group in standings.items():
        rows = "".join(_row(i, e, target) for i, e in enumerate(group, 1))
        parts.append(f"<h4>{html.escape(corpus)}</h4><div style='overflow-x:auto'><table class='class-board'>"
                     f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>")
    return "".join(parts)


@shows_errors
def post_run(user_id, run, nickname) -> dict:
    entry = board.post(user_id, run, nickname)
    gr.Info(f"Posted as {html.escape(entry.nickname)}.")  # a toast renders HTML: the nickname is shown as typed
    return {"table": board_html()}


def show_board() -> dict:
    return {"table": board_html()}


def board_lab(ctx: LessonContext, saved_run: gr.State) -> None:
    """Lab 3 of tab 4, when the board is on; its run list follows Lab 1's newly saved runs."""
    if not board.enabled():
        return
    markdown("### Lab 3 · Class board\nPost a finished run under a nickname: the class is ranked by how fast each run "
             "reached the target validation loss on the same corpus. The numbers come from the server's own record "
             "of your run.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            run = gr.Dropdown(label="Your finished run", choices=[], interactive=True, elem_id="board-run")
            nick = gr.Textbox(label="Nickname", max_length=board.MAX_NICKNAME_CHARS, elem_id="board-nickname")
            with gr.Row():
                post_btn = gr.Button("Post to the class board", variant="primary", elem_id="board-post")
                refresh_btn = gr.Button("Refresh", size="sm", elem_id="board-refresh")
        with gr.Column(scale=3):
            table = gr.HTML(elem_id="class-board")
    lists = {"user_id": ctx.user_id, "current": run}
    for trigger in (ctx.on_open, ctx.tab.select):
        trigger(finished_runs, inputs_kwargs=lists, outputs=run, api_name=False, show_progress="hidden")
    saved_run.change(finished_runs, inputs_kwargs={"user_id": ctx.user_id, "current": saved_run}, outputs=run,
                     api_name=False, show_progress="hidden")
    outputs = {"table": table}
    post_btn.click(**named_event(post_run, {"user_id": ctx.user_id, "run": run, "nickname": nick}, outputs),
                   api_name=False)
    gr.on([ctx.on_open, refresh_btn.click], **named_event(show_board, outputs=outputs), api_name=False,
          show_progress="hidden")
    try_this("Post the default preset's run, then change one setting (the learning rate, the batch size, the "
             "optimizer) and post again: which change reaches the target sooner?")

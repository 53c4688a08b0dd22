"""Typed boxes that a lab checks once: one message per typo, never repeated, never a stale Error badge.

A text (or number) box fires on Enter and again when the learner leaves it (blur): wired straight to a
lab, one typo gave two or three identical toasts, and the old typo came back when the learner clicked
into the next lab. Wired through here instead, every typed change runs three small steps:

1. `check` (the lab's own, e.g. part03's `check_softmax`): reads the boxes and returns a new `Checked`.
   Its outputs are only the boxes it may fix (a label list padded to the number of logits) and the
   state, so a refused value never puts an "Error" badge on a result.
2. `announce`: shows the refusal once, as a gr.Error with no outputs; a value already checked (the
   blur after an Enter) stops the chain silently.
3. the lab itself, only after a fresh, usable value (`.success`): it reads `Checked.good`, the last
   values that worked. Sliders read the same, so a typo in a box is never raised again by a slider.

    state = gr.State(Checked.start(DEFAULT_TEXT))
    on_typed([box], check_fn, [box], state, lab_fn, lab_inputs, lab_outputs)
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import gradio as gr

from lessons.common import learner_error


@dataclass(frozen=True)
class Checked:
    """What a lab made of its typed boxes: the values last seen, the last good ones, and any refusal."""

    seen: tuple
    good: tuple
    error: str | None = None
    fresh: bool = False  # the last check saw new values (its verdict has not been acted on)

    @classmethod
    def start(cls, *defaults) -> Checked:
        return cls(seen=tuple(defaults), good=tuple(defaults))

    def sees(self, *values) -> Checked:
        """The same state if nothing changed since the last check (fresh=False), else a fresh one to judge."""
        if tuple(values) == self.seen:
            return replace(self, fresh=False)
        return replace(self, seen=tuple(values), error=None, fresh=True)

    def refused(self, err: Exception | str) -> Checked:
        return replace(self, error=str(err), fresh=True)

    def accepted(self, *values) -> Checked:
        """Usable; `values` are what the lab will use (possibly fixed, e.g. padded labels), also seen."""
        return replace(self, seen=tuple(values), good=tuple(values), error=None, fresh=True)


def announce(state: Checked) -> None:
    """Step 2: the refusal, once; nothing new (a blur after Enter) stops the chain without a message."""
    if state.error and state.fresh:
        raise learner_error(state.error)
    if not state.fresh:
        raise gr.Error("unchanged", visible=False, print_exception=False)


def announce_on_click(state: Checked) -> None:
    """Step 2 for a button: a click is a new request, so the box's refusal is said again (once per
    click) and an unchanged, usable box goes on to the lab (e.g. Encode with a tokenizer trained further)."""
    if state.error:
        raise learner_error(state.error)


def on_typed(boxes: list, check: Callable, check_outputs: list, state: gr.State, lab: Callable,
             lab_inputs: list, lab_outputs: list, extra: list = (), buttons: list = ()) -> None:
    """Wire Enter and leaving the box (blur) of each box, and the lab's own buttons, as: check,
    announce, then the lab. `check` takes (*boxes, *extra, state): `extra` are controls the verdict
    depends on (e.g. a unit)."""
    quiet = dict(show_progress="hidden", api_name=False)
    events = [(event, announce) for box in boxes for event in (box.submit, box.blur)]
    events += [(button.click, announce_on_click) for button in buttons]
    for event, say in events:
        event(check, [*boxes, *extra, state], [*check_outputs, state], **quiet).then(say, state, None, **quiet).success(
            lab, lab_inputs, lab_outputs, **quiet)


def checker(parse: Callable) -> Callable:
    """A `check` for boxes that core parses as they are: `parse(*values)` raises ValueError (worded for
    the learner) when they cannot be used. The returned function takes (*values, previous state)."""

    def check(*args):
        *values, previous = args
        state = previous.sees(*values)
        if not state.fresh:
            return state
        try:
            parse(*values)
        except ValueError as err:
            return state.refused(err)
        return state.accepted(*values)

    check.__name__ = f"check_{getattr(parse, '__name__', 'values')}"
    return check

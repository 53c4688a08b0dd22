"""Building blocks shared by every tab, so eleven tabs look and behave like one product."""
from __future__ import annotations

import functools
import inspect
import logging
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from core import registry, stop_requests

TEXT_DIR = Path(__file__).resolve().parent / "text"
log = logging.getLogger("playground")

# $$…$$ for display formulas, $…$ inline. Lesson texts avoid a literal dollar sign (write USD):
# Gradio extracts $…$ spans before Markdown runs, so even an escaped \$ would start a formula.
LATEX = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "$", "right": "$", "display": False},
]


@dataclass
class LessonContext:
    """What the app hands each tab's build()."""

    demo: gr.Blocks
    tab: gr.Tab  # for tab.select(...): e.g. refresh a checkpoint list each time the tab is opened
    user_id: gr.BrowserState  # pass as an input; core.sessions.user_dir(user_id) is the learner's folder
    opened: gr.State | None = None  # True once this learner has opened the tab (see `opened_flag`)

    @property
    def on_open(self):
        """Register a lab's default computation (like `demo.load`): it runs once per learner, when the tab is
        first opened, never again on later opens (that would reset what the learner typed).

        Why not at page load: eleven tabs' defaults at once were 21 events queued for every learner who opened
        the page, and a class's server did them all before anyone's first tab settled. A tab built alone (tests,
        a notebook) has no flag: its defaults run at page load."""
        return self.opened.change if self.opened is not None else self.demo.load


def _now_open() -> bool:
    return True


def opened_flag(tab: gr.Tab, first_open=None) -> gr.State:
    """A per-learner flag that turns True when `tab` is first selected (or, for the tab shown first, after
    `first_open`, the page's own load event). Gradio fires a State's `.change` only when its value really
    changes, so `LessonContext.on_open` events run once per page, however often the tab is re-selected."""
    flag = gr.State(False)
    tab.select(_now_open, outputs=flag, api_name=False, show_progress="hidden")
    if first_open is not None:
        first_open.then(_now_open, outputs=flag, api_name=False, show_progress="hidden")
    return flag


def read_text(name: str) -> str:
    return (TEXT_DIR / f"{name}.md").read_text(encoding="utf-8")


def markdown(text: str, **kwargs) -> gr.Markdown:
    return gr.Markdown(text, latex_delimiters=LATEX, **kwargs)


def lesson_text(name: str, open: bool = False) -> gr.Accordion:
    """The lesson text from lessons/text/<name>.md, first in every tab.

    Its heading is always shown; the lesson itself is one click away in a closed accordion, so the lab's
    controls and first result fit the first screen at 1280×800 (UI-GUIDE: "the lesson is one click away,
    not a wall above the lab") and its formulas are typeset only when the learner opens it."""
    heading, rest = split_lesson(read_text(name))
    markdown(heading, elem_classes=["lesson-intro"])
    with gr.Accordion("Lesson · read it first: what this part teaches, with its formulas", open=open,
                      elem_classes=["lesson-text"]) as accordion:
        markdown(rest)
    return accordion


def split_lesson(text: str) -> tuple[str, str]:
    """(the heading line, everything after it)."""
    heading, _, rest = text.strip().partition("\n")
    return heading, rest.strip()


def try_this(*hints: str) -> gr.Markdown:
    """Concrete experiments under a lab: where the learning happens."""
    items = "\n".join(f"- {h}" for h in hints)
    return markdown(f"**Try this**\n\n{items}", elem_classes=["try-this"])


def lab_coming(description: str) -> gr.Markdown:
    """Says plainly what a tab's lab will hold until it lands: no fake widgets."""
    return markdown(f"> **Lab in preparation.** {description}", elem_classes=["lab-coming"])


def checkpoint_choices(kind: str, user_id: str | None) -> list[tuple[str, str]]:
    """(label, id) pairs for a dropdown: this learner's runs, then the shipped ones (core.registry). The
    value is the checkpoint's id ("run/<folder>", "shipped/<name>"), never a server path: Gradio publishes
    choices in /config; registry.resolve maps an id back to its folder."""
    return [(c.label, c.id) for c in registry.list_checkpoints(kind, user_id)]


def checkpoint_id(kind: str, user_id: str | None, ref) -> str | None:
    """The dropdown value for a checkpoint given by id or by a listed path (None when it is not listed)."""
    if not ref:
        return None
    try:
        return registry.resolve(kind, ref, user_id).id
    except ValueError:
        return None


def checkpoint_dropdown(kind: str, user_id: str | None, current: str | None = None) -> gr.Dropdown:
    """The checkpoint list as the learner sees it now. Keeps their pick if it is still there; with no pick
    (or a gone one) selects their best finished run, else the shipped default (core.registry.best), so a
    tab never opens on a 10-step stopped run that shows an untrained model."""
    choices, value = checkpoint_listing(kind, user_id, current)
    return gr.Dropdown(choices=choices, value=value)


def checkpoint_listing(kind: str, user_id: str | None, current: str | None = None) -> tuple[list, str | None]:
    """(choices, selected id) of `checkpoint_dropdown`, for a handler that also uses the pick (inside an
    event a gr.Dropdown update has no .value to read back)."""
    choices = checkpoint_choices(kind, user_id)
    return choices, checkpoint_pick(kind, user_id, current, [v for _, v in choices])


def checkpoint_pick(kind: str, user_id: str | None, current: str | None = None, values: list[str] | None = None) -> str | None:
    """The id `checkpoint_dropdown` selects: the learner's pick if still listed, else their best finished
    run, else the shipped default (None when there is nothing at all)."""
    if values is None:
        values = [v for _, v in checkpoint_choices(kind, user_id)]
    current = checkpoint_id(kind, user_id, current)  # a run just saved is named by its folder
    if current in values:
        return current
    best = registry.best(kind, user_id)
    return best.id if best else (values[0] if values else None)


# ---------- one way to show a learner's mistake ----------

def learner_error(err: Exception | str) -> gr.Error:
    """The gr.Error for an input the learner can fix. The server log gets one line, not a traceback:
    a typo in a box is expected, not a bug."""
    message = str(err)
    log.info("learner input refused: %s", message)
    return gr.Error(message, print_exception=False)


def shows_errors(fn):
    """Decorator for a handler (plain function or generator): core's ValueError, whose message is
    written for the learner, becomes one gr.Error shown once in the UI. Anything else is a bug and
    keeps its traceback."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except ValueError as err:
                raise learner_error(err) from None
        return generator

    @functools.wraps(fn)
    def plain(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValueError as err:
            raise learner_error(err) from None
    return plain


# ---------- named inputs and outputs ----------

def _takes_gr_request(fn) -> bool:
    """Whether `fn` has a parameter `request` annotated gr.Request (or gr.Request | None)."""
    param = inspect.signature(fn, eval_str=True).parameters.get("request")
    annotation = param.annotation if param is not None else None
    return annotation is gr.Request or gr.Request in getattr(annotation, "__args__", ())


def named_event(fn, inputs: dict | None = None, outputs: dict | None = None) -> dict:
    """The arguments of an event listener whose handler takes and gives values by name, never by position:

        btn.click(**named_event(train, inputs={"steps": steps_slider}, outputs={"status": status_md}), api_name=False)

    `fn` is called with keyword arguments (Gradio's inputs_kwargs; plus `request`, the gr.Request, when it
    has a parameter `request: gr.Request`) and returns, or yields, a dict
    {name: value} for some of `outputs` (names left out keep their value). A handler called from a test or a
    bench returns the same dict, so nothing depends on the order of a list of components."""
    outputs = dict(outputs or {})

    def to_components(result):
        if result is None and not outputs:
            return None
        if not isinstance(result, dict):
            raise TypeError(f"{fn.__name__} must return a dict of named outputs, got {type(result).__name__}")
        unknown = set(result) - set(outputs)
        if unknown:
            raise KeyError(f"{fn.__name__} returned outputs this event does not have: {sorted(unknown)}")
        if not result:  # nothing changes: Gradio reads an empty dict as one value, and badges the output "Error"
            return {component: gr.skip() for component in outputs.values()}
        return {outputs[name]: value for name, value in result.items()}

    if _takes_gr_request(fn):  # Gradio fills a gr.Request-annotated parameter in
        if inspect.isgeneratorfunction(fn):
            def handler(request: gr.Request, **kwargs):
                for result in fn(request=request, **kwargs):
                    yield to_components(result)
        else:
            def handler(request: gr.Request, **kwargs):
                return to_components(fn(request=request, **kwargs))
    elif inspect.isgeneratorfunction(fn):
        def handler(**kwargs):
            for result in fn(**kwargs):
                yield to_components(result)
    else:
        def handler(**kwargs):
            return to_components(fn(**kwargs))
    # what Gradio's logs and errors call it (a functools.partial names its function)
    handler.__name__ = handler.__qualname__ = getattr(fn, "__name__", None) or getattr(fn, "func").__name__
    return {"fn": handler, "inputs_kwargs": dict(inputs or {}), "outputs": list(outputs.values())}


STOP_LABEL, STOPPING_LABEL = "Stop", "Stopping…"


def stop_button_after_press(run_dir) -> gr.Button:
    """A job's Stop button once pressed: the stop request in its run folder (core.stop_requests), which the
    worker honours after its current step. "Stopping…" while it does; plain when nothing runs there."""
    asked = stop_requests.request_stop(run_dir)
    return gr.Button(STOPPING_LABEL if asked else STOP_LABEL, interactive=False)

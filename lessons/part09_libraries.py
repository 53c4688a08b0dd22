"""Tab: The Python libraries for LLM training (Part 9). UI only.

Two labs:
- Each library's smallest real example (core.library_examples): the code shown is the very string that
  runs, and its printed output appears under it. One example at a time per learner; at most
  EXAMPLE_SLOTS examples run at once on the server, the rest queue.
- The live environment check (core.environment): what this machine has, and what to do for each red or
  amber item. It streams: the fast checks first, then each library as it imports, then the Hub
  (a request bounded to a few seconds).

Handlers are module-level functions, so tests call exactly what the browser runs.
"""
from __future__ import annotations

import html

import gradio as gr

from core import quiz as Q
from core import sessions
from lessons.check import end_of_tab_check, prediction
from lessons.common import LessonContext, lesson_text, markdown, named_event, shows_errors, try_this
from lessons.tokens import MARKDOWN_MARKS

DEFAULT_EXAMPLE = "torch"
EXAMPLE_SLOTS = 2  # examples running at once, server-wide (the transformers one holds a core for seconds)
EXAMPLES_CONCURRENCY_ID = "library-examples"
# Text symbols with a colour (emoji fonts are missing on many Linux desktops), and a word for screen readers
ICONS = {status: f'<span style="color:{colour}" title="{word}">{symbol}</span>' for status, symbol, colour, word in [
    ("ok", "✔", "#2b8a3e", "ok"), ("warn", "⚠", "#e8590c", "look at this"), ("fail", "✖", "#c92a2a", "fix this"),
    ("info", "ℹ", "#0c8599", "information")]}
RUN_LABEL, BUSY_LABEL = "Run this code", "Running…"
TIKTOKEN_SENTENCE = "Tokenization turns text into integers."  # the sentence of the tiktoken example
GPU_CHOICES = ["yes", "no"]


def example_choices() -> list[tuple[str, str]]:
    from core.library_examples import EXAMPLES

    return [(e.library, e.key) for e in EXAMPLES.values()]


# --- the examples lab ------------------------------------------------------------------------------

@shows_errors
def show_example(library: str) -> dict:
    """The picked example's code and what to notice; its old output is cleared (it belongs to another)."""
    from core.library_examples import example

    ex = example(library)
    return {"code": gr.update(value=ex.code, label=f"{ex.library}: {ex.title} — exactly the code that runs"),
            "why": ex.why, "output": "",
            "status": f"Press **{RUN_LABEL}** to run it here."}


def _owner(user_id: str | None, request: gr.Request | None) -> str:
    """Whose example this is: the learner's id, or before it arrives this browser session."""
    if sessions.is_valid_user_id(user_id):
        return user_id
    return f"session-{getattr(request, 'session_hash', None) or 'direct'}"


@shows_errors
def run_example(library: str, user_id: str | None = None, request: gr.Request = None):
    """Run the example's code on the server and show what it printed (a generator: model loads take seconds)."""
    from core import library_examples

    ex = library_examples.example(library)
    # the learner's one-at-a-time claim comes first: a refused second click changes nothing on the page
    with library_examples.one_at_a_time(_owner(user_id, request)):
        yield {"status": f"Running the {ex.library} example… (the first run after the server starts imports the "
                         "library and loads its model: up to ~15 s)", "button": gr.update(value=BUSY_LABEL, interactive=False)}
        ran = library_examples.run(library)
    took = f"{ran.seconds * 1000:.0f} ms" if ran.seconds < 1 else f"{ran.seconds:.1f} s"
    yield {"output": ran.output, "status": f"The {ex.library} example ran on this server in {took}: the output is "
                                           "what its code printed.",
           "button": gr.update(value=RUN_LABEL, interactive=True)}


def ready_button() -> dict:
    return {"button": gr.update(value=RUN_LABEL, interactive=True)}


def _examples_lab(ctx: LessonContext) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=220):
            library = gr.Radio(example_choices(), value=DEFAULT_EXAMPLE, label="Library", elem_id="example-library")
            button = gr.Button(RUN_LABEL, variant="primary", elem_id="example-run")
            status = markdown("", elem_id="example-status")
            why = markdown("", elem_id="example-why")
        with gr.Column(scale=3):
            code = gr.Code(language="python", label="Code: exactly what runs (copy it into a notebook)",
                           interactive=False, lines=12, buttons=["copy"], wrap_lines=True, elem_id="example-code")
            output = gr.Code(language=None, label="Output", interactive=False, lines=6, wrap_lines=True,
                             elem_id="example-output")
    tokens = prediction(f"how many tokens will GPT-4's tokenizer (cl100k_base) use for “{TIKTOKEN_SENTENCE}”?",
                        unit="tokens", elem_id="predict-tokens")
    try_this("Run **torch**, then work the gradient out by hand: ∂loss/∂w = 2(w·x − y)·x. Does it match?",
             "Run **tokenizers** and **tiktoken**: which one gives more characters per token, and why (a vocabulary "
             "of 500 learned from 30 kB of text, against GPT-4's ~100,000)?",
             "Run **peft**, then count by hand: each adapted layer trains r·(in + out) numbers.")
    shown = {"code": code, "why": why, "output": output, "status": status}
    library.input(**named_event(show_example, {"library": library}, shown), api_name=False, show_progress="hidden")
    inputs = {"library": library, "user_id": ctx.user_id}
    results = {"output": output, "status": status, "button": button}
    run = button.click(**named_event(run_example, inputs, results), api_name=False, show_progress="minimal",
                       concurrency_id=EXAMPLES_CONCURRENCY_ID, concurrency_limit=EXAMPLE_SLOTS)
    run.then(**named_event(ready_button, outputs={"button": button}), api_name=False, show_progress="hidden")
    tokens.reveal(named_event(predict_tokens, {"guess": tokens.guess},
                              {"feedback": tokens.feedback, "library": library, **shown}))
    loaded = ctx.on_open(**named_event(show_example, {"library": library}, shown), api_name=False,
                           show_progress="hidden")
    loaded.then(**named_event(run_example, inputs, results), api_name=False, show_progress="hidden",
                concurrency_id=EXAMPLES_CONCURRENCY_ID, concurrency_limit=EXAMPLE_SLOTS)


@shows_errors
def predict_tokens(guess) -> dict:
    """Reveal: how many cl100k_base tokens the tiktoken example's sentence takes; the lab switches to that
    example, so Run shows the ids."""
    from core.tiktoken_offline import get_encoding

    enc = get_encoding("cl100k_base")
    ids = enc.encode(TIKTOKEN_SENTENCE)
    pieces = " | ".join(enc.decode([i]).replace(" ", "␣") for i in ids)
    chars = len(TIKTOKEN_SENTENCE)
    reason = (f"{chars} characters in {len(ids)} tokens ({chars / len(ids):.1f} characters per token): {pieces}. "
              "Common words are one token with their leading space; a rarer word splits into pieces.")
    return {"feedback": Q.compare_guess(guess, len(ids), reason, unit="tokens"), "library": "tiktoken",
            **show_example("tiktoken")}


@shows_errors
def predict_gpu(guess) -> dict:
    """Reveal: does PyTorch see a CUDA GPU on this server (what the environment table's GPU row reports)."""
    import torch

    cuda = torch.cuda.is_available()
    reason = (f"PyTorch sees {torch.cuda.get_device_name(0)}: training and 4-bit QLoRA can use it." if cuda else
              "torch.cuda.is_available() is False: everything here runs on the CPU, and bitsandbytes' 4-bit "
              "(QLoRA) needs a CUDA GPU, so tab 7 loads the model in 32-bit instead.")
    return {"feedback": Q.compare_choice(guess, "yes" if cuda else "no", reason)}


# --- the environment check -------------------------------------------------------------------------

def _cell(text: str) -> str:
    """Prose shown literally in a table cell: no HTML, no Markdown marks, no formula, no column break."""
    text = html.escape(text, quote=False).replace("$", "＄").translate(MARKDOWN_MARKS)
    return text.replace("|", "&#124;").replace("\n", " ")


def checks_table(checks) -> str:
    """The checks as a two-column Markdown table (it fits a phone): the item, then what was found and
    what to do about it."""
    rows = ["| item | found, and what to do |", "|---|---|"]
    for c in checks:
        area = f" · {_cell(c.area)}" if c.area.lower() != c.name.lower() else ""
        fix = f"<br>**What to do:** {_cell(c.fix)}" if c.fix and c.status != "ok" else ""
        rows.append(f"| {ICONS[c.status]} **{_cell(c.name)}**{area} | {_cell(c.found)}{fix} |")
    return "\n".join(rows)


def checks_summary(checks, done: bool) -> str:
    from core import environment

    n = environment.counts(checks)
    line = (f"{ICONS['ok']} {n['ok']} ok · {ICONS['warn']} {n['warn']} to look at · {ICONS['fail']} {n['fail']} to fix "
            f"· {ICONS['info']} {n['info']} for information")
    flagged = [f"**{_cell(c.name)}**" for c in checks if c.status in ("fail", "warn")]
    if flagged:
        line += "\n\nSee what to do for: " + ", ".join(flagged) + "."
    return line if done else f"Checking… ({len(checks)} checks so far; importing the libraries takes a few seconds)\n\n{line}"


def environment_check():
    """Every check of core.environment, streamed: the table grows as libraries import."""
    from core import environment

    checks = []
    for check in environment.all_checks():
        checks.append(check)
        if check.area != "library" or check.name in ("transformers", "peft", "trl", "gradio"):  # the slow ones
            yield {"summary": checks_summary(checks, done=False), "table": checks_table(checks)}
    yield {"summary": checks_summary(checks, done=True) + "\n\nThe same check in a terminal: `python -m core info` "
           "(add `--json` for a machine-readable report).", "table": checks_table(checks)}


def _environment_lab(ctx: LessonContext) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=220):
            again = gr.Button("Check again", elem_id="environment-check")
            summary = markdown("Opening this tab runs the check.", elem_id="environment-summary")
        with gr.Column(scale=3):
            table = markdown("", elem_id="environment-table")
    gpu = prediction("does this server have a CUDA GPU that PyTorch can use? (then find its row in the table)",
                     choices=GPU_CHOICES, elem_id="predict-gpu")
    gpu.reveal(named_event(predict_gpu, {"guess": gpu.guess}, {"feedback": gpu.feedback}))
    try_this("Find the row for bitsandbytes' 4-bit: why can (or can't) QLoRA run on this machine?",
             "Run `python -m core info` on your own laptop and compare: which rows turn amber or red there?")
    outputs = {"summary": summary, "table": table}
    kwargs = dict(api_name=False, show_progress="minimal", concurrency_id="environment-check", concurrency_limit=4)
    again.click(**named_event(environment_check, outputs=outputs), **kwargs)
    ctx.tab.select(**named_event(environment_check, outputs=outputs), **kwargs)


def build(ctx: LessonContext) -> None:
    lesson_text("part09_libraries")
    with gr.Accordion("Lab 1 · Each library's smallest real example", open=True):
        _examples_lab(ctx)
    with gr.Accordion("Lab 2 · This machine: the live environment check", open=True):
        _environment_lab(ctx)
    end_of_tab_check("part09")

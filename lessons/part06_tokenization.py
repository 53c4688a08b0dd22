"""Tab: BPE tokenization and tiktoken (Part 6). UI only: core.bpe and core.token_compare compute.

Three labs, each built by its own `_<name>_lab(ctx, ...)`: train a BPE tokenizer merge by merge,
encode/decode with it, and compare it with OpenAI's tokenizers. Each lab asks the learner to predict
first (how long the text is after 100 more merges, how many tokens a new sentence takes, how many
times as many tokens cl100k_base needs for the non-English example as for English); the reveal runs the lab's own call and shows it.
The tab ends with core/quizzes/part06.py's check. The learner's text is read by
core.text_input (the same bytes as in tabs 4 and 7). Play is a generator that checks a stop request
every merge, so Stop ends it with a normal last frame ("stopped at merge N"), never a cancelled one.
The trainer (~35 MB for 300 k characters) is released when the learner closes or reloads the tab.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import gradio as gr

from core import bpe, sessions, text_input, tiktoken_offline
from core import quiz as Q
from core.token_compare import EXAMPLES, by_bpe, by_characters, by_tiktoken, usage
from lessons.check import end_of_tab_check, prediction
from lessons.common import LessonContext, lesson_text, markdown, named_event, shows_errors, try_this
from lessons.inputs import Checked, checker, on_typed
from lessons.plots import PALETTE, Chart, chart
from lessons.tokens import OUTLINE_STYLE, tokens_html

SOURCES = ["Built-in corpus", "Paste text", "Upload a .txt file"]
SOURCE_KEYS = dict(zip(SOURCES, text_input.SOURCES))  # the radio's words → core.text_input's sources
PATTERNS = {"none": None, "GPT-2": "gpt2", "GPT-4": "gpt4"}
MAX_TARGET = 2048  # the target slider's maximum
MAX_TRAIN_CHARS = 300_000  # keeps one learner's step-through state small on a shared server
MAX_INPUT_CHARS = 20_000  # encode / decode / compare boxes
MAX_SPECIAL_CHARS = 400  # the special-tokens box (10 MB there once took 85 s of CPU): checked here, not only in the browser
MAX_SPECIAL_TOKENS = 16
PREVIEW_CHARS = 1_500  # how much of the training text is shown re-coloured
PLAY_YIELD_S = 0.5  # Play refreshes the page about this often (a redraw costs the browser more than a merge)
PLAY_CURVE_S = 2.0  # and redraws the curve (the heaviest part) this often
TOP_K = 10
NEW_TOKEN_OUTLINE = OUTLINE_STYLE


@dataclass
class Session:
    """One learner's step-through: the trainer, the settings it was built from, and a stop request
    (set by Stop while Play runs: both events hold this same object from the learner's gr.State)."""

    key: tuple
    trainer: bpe.Trainer
    preview: str
    target: int
    last: bpe.MergeStep | None = None
    stop_requested: bool = False


# training text and state -------------------------------------------------------------------------
def training_text(source: str, pasted: str | None, upload: str | None, warn: bool = True) -> str:
    """The learner's text through core.text_input (UTF-8 check, BOM/CRLF cleanup, size limit), cropped
    to what the step-through holds."""
    text = text_input.learner_text(SOURCE_KEYS.get(source, source), pasted, upload)
    if len(text) > MAX_TRAIN_CHARS:
        if warn:
            gr.Warning(f"The text has {len(text):,} characters; training here uses the first {MAX_TRAIN_CHARS:,} "
                       "(the command line `python -m core bpe FILE` takes any size).")
        text = text[:MAX_TRAIN_CHARS]
    return text


def special_list(special: str | None) -> list[str]:
    special = special or ""
    if len(special) > MAX_SPECIAL_CHARS:
        raise ValueError(f"The special tokens take {len(special):,} characters; keep them under {MAX_SPECIAL_CHARS} "
                         "(a few short markers such as <|endoftext|>).")
    tokens = special.split()
    if len(tokens) > MAX_SPECIAL_TOKENS:
        raise ValueError(f"That is {len(tokens)} special tokens; use at most {MAX_SPECIAL_TOKENS}.")
    return tokens


def _settings_key(source, pasted, upload, pattern, special, warn: bool = False) -> tuple[tuple, str]:
    text = training_text(source, pasted, upload, warn=warn)
    return (source, hash(text), pattern, tuple(special_list(special))), text


def new_session(source, pasted, upload, target, pattern, special) -> Session:
    key, text = _settings_key(source, pasted, upload, pattern, special, warn=True)
    trainer = bpe.Trainer(text, PATTERNS[pattern], list(key[3]))
    return Session(key, trainer, text[:PREVIEW_CHARS], int(target))


def current_session(session, source, pasted, upload, target, pattern, special) -> Session:
    """The learner's trainer; started again from bytes if the text or settings changed since."""
    key, _ = _settings_key(source, pasted, upload, pattern, special)
    if session is None or session.key != key:
        if session is not None:
            gr.Info("The text or the settings changed, so training started again from the 256 bytes.")
        session = new_session(source, pasted, upload, target, pattern, special)
    session.target = int(target)
    return session


@shows_errors
def check_settings(source, pasted, upload, target, pattern, special) -> None:
    """First step of Step/Play/Reset: a text or setting that cannot be used is said here, in an event
    with no outputs, so no result gets an "Error" badge; the work runs after it (.success)."""
    _settings_key(source, pasted, upload, pattern, special)
    if pattern not in PATTERNS:
        raise ValueError(f"Pick a pre-split pattern from {', '.join(PATTERNS)}.")


# views -------------------------------------------------------------------------------------------
def piece(trainer: bpe.Trainer, token_id: int) -> str:
    return trainer.vocab[token_id].decode("utf-8", errors="backslashreplace")


def status_line(session: Session) -> str:
    t = session.trainer
    done, total = len(t.merges), max(0, session.target - 256)
    ratio = t.n_bytes / t.index.length if t.index.length else 0.0
    return (f"**Merges {done:,} / {total:,}** · vocabulary {t.vocab_size:,} · the text: {t.n_bytes:,} bytes → "
            f"{t.index.length:,} tokens ({ratio:.2f} bytes per token)")


def last_merge_text(session: Session) -> str:
    step, t = session.last, session.trainer
    if step is None:
        return "No merge yet: every token is one byte. Press **Step** to make the first merge."
    a, b = step.pair
    return (f"**Merge {step.rank + 1}:** the pair `{piece(t, a)!r}` + `{piece(t, b)!r}` (ids {a}, {b}) occurred "
            f"**{step.count:,}** times, so it became token **{step.new_id}** = `{piece(t, step.new_id)!r}`.")


def top_pairs_rows(session: Session) -> list[list]:
    t = session.trainer
    return [[f"{a} + {b}", f"{piece(t, a)!r} + {piece(t, b)!r}", count] for (a, b), count in t.top_pairs(TOP_K)]


def preview_html(session: Session) -> str:
    """The text coloured token by token, with the token the last merge made outlined."""
    tokenizer = session.trainer.tokenizer()
    ids = tokenizer.encode(session.preview)
    newest = session.last.new_id if session.last is not None else None
    return tokens_html([tokenizer.token_text(i) for i in ids], ids, outlined=[i == newest for i in ids])


def length_curve(session: Session) -> Chart:
    t = session.trainer
    sizes = list(range(256, 256 + len(t.lengths)))
    ratios = [t.n_bytes / n if n else 0.0 for n in t.lengths]
    fig = chart("Length of the text in tokens as the vocabulary grows", "vocabulary size (tokens)", "text length (tokens)",
                height=320, margin=dict(r=60),
                yaxis2=dict(title=dict(text="bytes per token (compression)"), overlaying="y", side="right", showgrid=False))
    fig.add("scatter", x=sizes, y=t.lengths, mode="lines", name="tokens", line=dict(color=PALETTE[0]),
            hovertemplate="vocab %{x}<br>%{y:,} tokens<extra></extra>")
    fig.add("scatter", x=sizes, y=ratios, mode="lines", name="bytes per token", yaxis="y2", line=dict(color=PALETTE[1]),
            hovertemplate="vocab %{x}<br>%{y:.3f} bytes per token<extra></extra>")
    return fig


def render(session: Session, with_curve: bool = True):
    return (session, status_line(session), last_merge_text(session), top_pairs_rows(session),
            length_curve(session) if with_curve else gr.skip(), preview_html(session))


def retarget(session, target):
    """The target slider: the status line says the new goal at once (training itself waits for Step)."""
    if session is None:
        return gr.skip(), gr.skip()
    session.target = int(target)
    return session, status_line(session)


# actions -----------------------------------------------------------------------------------------
@shows_errors
def reset(source, pasted, upload, target, pattern, special):
    return render(new_session(source, pasted, upload, target, pattern, special))


@shows_errors
def start(source, pasted, upload, target, pattern, special, merges: int = 12):
    """Page load: the built-in corpus with a few merges already made, so nothing is empty."""
    session = new_session(source, pasted, upload, target, pattern, special)
    advance(session, merges)
    return render(session)


def advance(session: Session, n: int) -> int:
    """Up to `n` merges, stopping at the target vocabulary size; how many were made."""
    made = 0
    while made < n and session.trainer.vocab_size < session.target:
        step = session.trainer.step()
        if step is None:
            gr.Warning("No pair is left to merge: every chunk of the text is already a single token.")
            break
        session.last, made = step, made + 1
    return made


@shows_errors
def step(session, source, pasted, upload, target, pattern, special, n: int = 1):
    session = current_session(session, source, pasted, upload, target, pattern, special)
    if session.trainer.vocab_size >= session.target:
        gr.Warning(f"The vocabulary already has {session.trainer.vocab_size} tokens (the target): raise the target to merge more.")
    advance(session, n)
    return render(session)


def step10(session, source, pasted, upload, target, pattern, special):
    return step(session, source, pasted, upload, target, pattern, special, n=10)


def play_buttons(busy: bool) -> tuple[dict, dict]:
    """(Play, Stop) updates: while Play runs it says so and only Stop can be pressed."""
    if busy:
        return gr.update(value="Playing…", interactive=False), gr.update(value="Stop", interactive=True)
    return gr.update(value="Play", interactive=True), gr.update(value="Stop", interactive=False)


@shows_errors
def play(session, source, pasted, upload, target, pattern, special, speed=25):
    """Merge until the target at `speed` merges per second, refreshing the page a few times a second
    (not every merge: drawing costs more than merging). Stop sets `session.stop_requested`, checked
    every merge: the run ends with a normal last frame that says where it stopped."""
    session = current_session(session, source, pasted, upload, target, pattern, special)
    session.stop_requested = False
    begin, start_merges = time.perf_counter(), len(session.trainer.merges)
    last_yield = last_curve = 0.0
    yield (*render(session, with_curve=False), *play_buttons(busy=True))
    while session.trainer.vocab_size < session.target and not session.stop_requested:
        if advance(session, 1) == 0:
            break
        made = len(session.trainer.merges) - start_merges
        wait = begin + made / float(speed) - time.perf_counter()
        if wait > 0:
            time.sleep(wait)  # a pace the eye can follow; at top speed this never waits
        now = time.perf_counter()
        if now - last_yield >= PLAY_YIELD_S:
            with_curve = now - last_curve >= PLAY_CURVE_S
            last_yield, last_curve = now, (now if with_curve else last_curve)
            # the buttons were set busy by the first frame: re-sending them every frame re-renders them
            # under the learner's pointer (a Stop click could miss)
            yield (*play_view(session, begin, start_merges, with_curve=with_curve), gr.skip(), gr.skip())
    stopped, session.stop_requested = session.stop_requested, False
    yield (*play_view(session, begin, start_merges, finished=True, stopped=stopped), *play_buttons(busy=False))


def play_view(session: Session, begin: float, start_merges: int, finished: bool = False, with_curve: bool = True,
              stopped: bool = False):
    out = list(render(session, with_curve or finished))
    elapsed = time.perf_counter() - begin
    made = len(session.trainer.merges) - start_merges
    left = session.target - session.trainer.vocab_size
    rate = made / elapsed if elapsed > 0 else 0.0
    if stopped:
        eta = f"stopped at merge {len(session.trainer.merges):,} (Play goes on from here)"
    elif finished:
        eta = "done"
    else:
        eta = f"ETA {left / rate:.1f} s" if rate and left > 0 else ""
    out[1] += f" · {elapsed:.1f} s elapsed, {rate:,.0f} merges/s, {eta}"
    return tuple(out)


def request_stop(session):
    """Stop: ask the running Play to end after its current merge (it then shows where it stopped)."""
    if session is not None:
        session.stop_requested = True
    return gr.update(value="Stopping…", interactive=False)


def release(demo: gr.Blocks, state: gr.State, session_hash: str | None) -> bool:
    """Drop a closed session's trainer now: Gradio keeps a closed tab's gr.State for an hour, and a
    trainer on 300 k characters holds ~35 MB. True if there was one to drop."""
    holder = getattr(demo, "state_holder", None)
    if holder is None or not session_hash or session_hash not in holder:
        return False
    session_state = holder[session_hash]
    if session_state.get(state._id) is None:
        return False
    session_state[state._id] = None
    return True


@shows_errors
def save_tokenizer(session, user_id):
    if session is None or not session.trainer.merges:
        raise ValueError("Nothing to save yet: make at least one merge first.")
    folder = sessions.new_run_dir(user_id, "bpe", f"bpe-{session.trainer.vocab_size}")
    path = session.trainer.tokenizer().save(folder / "tokenizer.bpe")
    gr.Info("Saved: a text file with the pattern, special tokens and one merge per line.")
    return gr.update(value=str(path), visible=True)


AHEAD = 100  # lab 1's prediction: the text's length after this many more merges


@shows_errors
def predict_merges(guess, session, source, pasted, upload, target, pattern, special) -> dict:
    """Reveal of lab 1's prediction: the training text's length in tokens after AHEAD more merges. The lab
    makes them (raising the target slider if it is lower) and shows where they lead."""
    Q.parse_guess(guess)  # no merge is made for a missing guess
    check_settings(source, pasted, upload, target, pattern, special)
    session = current_session(session, source, pasted, upload, target, pattern, special)
    if session.trainer.vocab_size + AHEAD > MAX_TARGET:
        raise ValueError(f"The vocabulary has {session.trainer.vocab_size:,} tokens: {AHEAD} more would pass the "
                         f"slider's {MAX_TARGET:,}. Press Reset (back to bytes) first.")
    session.target = max(int(target), session.trainer.vocab_size + AHEAD)
    done = len(session.trainer.merges)
    made = advance(session, AHEAD)
    lengths = session.trainer.lengths
    reason = "no pair was left to merge: every chunk of the text is already one token."
    if made:
        reason = (f"{made} merges took the text from {lengths[done]:,} to {lengths[-1]:,} tokens. Each merge removes one "
                  f"token per occurrence of its pair, and the most frequent pairs go first: the first of these saved "
                  f"{lengths[done] - lengths[done + 1]:,} tokens, the last only {lengths[-2] - lengths[-1]:,}. "
                  "That is why the curve flattens.")
    shown = dict(zip(("state", "status", "last", "top", "curve", "preview"), render(session)))
    return {"feedback": Q.compare_guess(guess, lengths[-1], reason, unit="tokens"), "target": session.target, **shown}


# encode / decode ---------------------------------------------------------------------------------
def _text_limit(text: str | None, verb: str) -> str:
    text = text or ""
    if len(text) > MAX_INPUT_CHARS:
        raise ValueError(f"The text has {len(text):,} characters; {verb} at most {MAX_INPUT_CHARS:,} here.")
    return text


def _no_tokenizer(session) -> None:
    if session is None:
        raise ValueError("Train a tokenizer above first (press Reset or Step).")


@shows_errors
def encode_box(session, text):
    _no_tokenizer(session)
    text = _text_limit(text, "encode")
    tokenizer = session.trainer.tokenizer()
    ids = tokenizer.encode(text)
    summary = f"{len(text)} characters → **{len(ids)} tokens** (vocabulary of {tokenizer.vocab_size})"
    return tokens_html([tokenizer.token_text(i) for i in ids], ids, show_ids=True), " ".join(map(str, ids)), summary


def parse_ids(ids_text: str | None) -> list[int]:
    """Token ids typed by the learner: whole numbers separated by spaces or commas."""
    ids = []
    for item in _text_limit(ids_text, "decode").replace(",", " ").split():
        if not item.isdigit():
            raise ValueError(f"Could not decode: '{item[:20]}' is not a token id. "
                             "Write ids as numbers separated by spaces, e.g. '72 101 256'.")
        ids.append(int(item))
    return ids


@shows_errors
def decode_box(session, ids_text):
    _no_tokenizer(session)
    return session.trainer.tokenizer().decode(parse_ids(ids_text))


PREDICT_SENTENCE = "The model learns to predict the next word."  # lab 2's prediction encodes it


@shows_errors
def predict_encoded(guess, session) -> dict:
    """Reveal of lab 2's prediction: how many tokens the learner's tokenizer, as trained now, uses for
    PREDICT_SENTENCE; the lab then shows it encoded (and its ids decoded back)."""
    Q.parse_guess(guess)
    html, ids, summary, ids_state, decoded = start_encoded(Checked.start(PREDICT_SENTENCE), session)
    tokenizer = session.trainer.tokenizer()
    tokens = tokenizer.encode(PREDICT_SENTENCE)
    pieces = " | ".join(tokenizer.token_text(i).replace(" ", "␣") for i in tokens)
    n_bytes = len(PREDICT_SENTENCE.encode())
    reason = (f"{n_bytes} bytes → {len(tokens)} tokens with your vocabulary of {tokenizer.vocab_size:,} "
              f"({n_bytes / len(tokens):.2f} bytes per token): {pieces}. Pieces your training text has often became "
              "tokens; everything else stays in shorter pieces, down to single bytes. More merges, fewer tokens.")
    return {"feedback": Q.compare_guess(guess, len(tokens), reason, unit="tokens"), "text": PREDICT_SENTENCE,
            "text_state": Checked.start(PREDICT_SENTENCE), "view": html, "ids": ids, "summary": summary,
            "ids_state": ids_state, "decoded": decoded}


def encode_view(state: Checked, session):
    return encode_box(session, *state.good)


def decode_view(state: Checked, session):
    return decode_box(session, *state.good)


check_encode = checker(lambda text: _text_limit(text, "encode"))
check_ids = checker(parse_ids)


# tiktoken ----------------------------------------------------------------------------------------
def availability_text() -> str:
    rows = ["| encoding | used by | offline here |", "|---|---|---|"]
    for a in tiktoken_offline.availability():
        rows.append(f"| `{a.name}` | {a.models} | {'✅ ' if a.available else '❌ not available: '}{a.detail} |")
    return "\n".join(rows)


def example_text(name):
    text, why = EXAMPLES[name]
    return text, f"**Why look here:** {why}", Checked.start(text, *_COMPARE_DEFAULTS[1:])


PREDICT_EXAMPLE, PREDICT_ENCODING, ENGLISH_EXAMPLE = "Non-English", "cl100k_base", "English prose"


@shows_errors
def predict_foreign(guess, session, checked: Checked) -> dict:
    """Reveal of lab 3's prediction: how many times as many tokens cl100k_base needs for the non-English example
    as for the English one; the lab
    switches to that example (keeping the learner's context length and price) and compares it."""
    Q.parse_guess(guess)
    text, why, _ = example_text(PREDICT_EXAMPLE)
    checked = Checked.start(text, *checked.good[1:])
    table, views = compare(session, *checked.good)
    actual = by_tiktoken(text, PREDICT_ENCODING).tokens
    others = ", ".join(f"{name} {by_tiktoken(text, name).tokens}" for name in tiktoken_offline.distinct_names()
                       if name != PREDICT_ENCODING)
    english = EXAMPLES[ENGLISH_EXAMPLE][0]
    english_tokens = by_tiktoken(english, PREDICT_ENCODING).tokens
    reason = (f"{len(text)} characters ({len(text.encode())} bytes of UTF-8) take {actual} tokens "
              f"in {PREDICT_ENCODING} ({others}), while the English example's {len(english)} characters take "
              f"{english_tokens}: {actual} / {english_tokens}. A tokenizer trained mostly on English has merged few "
              "pieces of other languages, so their text stays in short pieces: the same meaning costs more tokens.")
    return {"feedback": Q.compare_guess(guess, actual / english_tokens, reason, unit="×", digits=3),
            "example": PREDICT_EXAMPLE, "text": text, "why": why, "checked": checked, "table": table, "views": views}


def _compare_problem(text, context_length, price) -> None:
    if not (text or "").strip():
        raise ValueError("Type or pick some text to compare.")
    _text_limit(text, "compare")
    if context_length is None or price is None:
        raise ValueError("Give the context length and the price a number (e.g. 8192 tokens, 2.5 per million).")
    usage(1, int(context_length), float(price))


@shows_errors
def compare(session, text, context_length, price):
    _compare_problem(text, context_length, price)
    views = [by_characters(text)]
    if session is not None:
        views.append(by_bpe(text, session.trainer.tokenizer(), f"your BPE ({session.trainer.vocab_size} tokens)"))
    views += [by_tiktoken(text, name) for name in tiktoken_offline.distinct_names()]
    rows, blocks = [], []
    for v in views:
        share, cost = usage(v.tokens, int(context_length), float(price))
        rows.append([v.name, v.tokens, round(v.chars_per_token, 2), round(v.bytes_per_token, 2),
                     f"{share:.2%}", f"${cost:.4f}"])
        blocks.append(f"<h4>{v.name}: {v.tokens} tokens</h4>" + tokens_html(v.pieces, v.ids))
    return rows, "".join(blocks)


check_compare = checker(_compare_problem)
_COMPARE_DEFAULTS = (EXAMPLES["Numbers"][0], 8192, 2.5)


def compare_view(state: Checked, session):
    return compare(session, *state.good)


# layout ------------------------------------------------------------------------------------------
def _bpe_results():
    """Lab 1's right column: (status line, last merge, top pairs, length curve, coloured preview), and the
    prediction box, right under the status line it asks about."""
    status = markdown("", elem_id="bpe-status")
    last = markdown("", elem_id="bpe-last-merge")
    box = prediction(f"the status line says how long the text is now, in tokens. After the next {AHEAD} merges, how "
                     "many tokens will it be?", unit="tokens", elem_id="predict-merges")
    with gr.Row(equal_height=False):
        with gr.Column(min_width=260):
            top = gr.Dataframe(headers=["pair (ids)", "pair (text)", "count"], label="Most frequent pairs now (the first is merged next)",
                               interactive=False, elem_id="bpe-top-pairs")
        with gr.Column(min_width=260):
            curve = gr.Plot(show_label=False)
    markdown(f"**The start of the text, token by token** (first {PREVIEW_CHARS:,} characters; the newest token is "
             "outlined in orange; hover a token for its id)")
    preview = gr.HTML(elem_id="bpe-preview")
    return (status, last, top, curve, preview), box


def _bpe_lab(ctx: LessonContext, state: gr.State):
    """Lab 1; returns its page-load event, which the other labs follow (they need its first tokenizer)."""
    markdown("### Lab 1 · Train a byte-pair-encoding tokenizer, one merge at a time")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            source = gr.Radio(SOURCES, value=SOURCES[0], label="Training text")
            pasted = gr.Textbox(label="Your text", lines=6, visible=False, max_length=MAX_TRAIN_CHARS,
                                placeholder="Paste a few paragraphs…")
            upload = gr.File(label="A UTF-8 .txt file", file_types=[".txt"], type="filepath", visible=False)
            target = gr.Slider(257, MAX_TARGET, value=512, step=1, label="Target vocabulary size (256 bytes + merges)",
                               elem_id="bpe-target")
            pattern = gr.Radio(list(PATTERNS), value="none", label="Pre-split the text before merging",
                               info="GPT-style: words, numbers, punctuation and spaces are merged separately")
            special = gr.Textbox("<|endoftext|>", label="Special tokens (separated by spaces; never split)",
                                 max_length=MAX_SPECIAL_CHARS, elem_id="bpe-special")
            with gr.Row():
                step_btn = gr.Button("Step", variant="primary", min_width=80)
                step10_btn = gr.Button("Step ×10", min_width=80)
            with gr.Row():
                play_btn = gr.Button("Play", min_width=80, elem_id="bpe-play")
                stop_btn = gr.Button("Stop", variant="stop", min_width=80, interactive=False, elem_id="bpe-stop")
            speed = gr.Slider(1, 1000, value=25, step=1, label="Play speed (merges per second)", elem_id="bpe-speed")
            reset_btn = gr.Button("Reset (back to bytes)")
            save_btn = gr.Button("Save tokenizer (text file)", size="sm")
            saved = gr.File(label="Your tokenizer: pattern, special tokens, one merge per line", visible=False, interactive=False)
        with gr.Column(scale=3):
            (status, last, top, curve, preview), box = _bpe_results()
    settings = [source, pasted, upload, target, pattern, special]
    outputs = [state, status, last, top, curve, preview]
    _merges_prediction(box, settings, outputs)
    try_this(
        "Press **Step** a few times and watch the first merges: they glue the most common letter pairs, "
        "often a letter with the space after it ('e ' or ' t').",
        "Press **Play** to 512 with pre-split **none**, then **Reset**, switch to **GPT-4** and play again: "
        "with the split, no token glues a word to the punctuation or space after it.",
        "Watch the curve: the first merges shorten the text a lot, later ones less and less (rarer pairs).",
    )
    quiet = dict(api_name=False, show_progress="hidden")
    source.change(lambda s: (gr.update(visible=s == SOURCES[1]), gr.update(visible=s == SOURCES[2])),
                  inputs=source, outputs=[pasted, upload], **quiet)
    target.change(retarget, [state, target], [state, status], trigger_mode="always_last", **quiet)
    # a text or setting that cannot be used is refused first, in an event with no outputs (no badges)
    for button, action, extra in ((step_btn, step, []), (step10_btn, step10, []), (play_btn, play, [speed])):
        button.click(check_settings, settings, None, **quiet).success(
            action, [state, *settings, *extra], outputs + ([play_btn, stop_btn] if action is play else []),
            api_name=False, show_progress="minimal")
    stop_btn.click(request_stop, state, stop_btn, **quiet)
    reset_btn.click(check_settings, settings, None, **quiet).success(reset, settings, outputs, **quiet)
    save_btn.click(save_tokenizer, [state, ctx.user_id], saved, **quiet)
    loaded = ctx.on_open(start, settings, outputs, **quiet)

    def release_on_unload(request: gr.Request) -> None:
        # a closed or reloaded tab releases its trainer now, not an hour later
        release(ctx.demo, state, request.session_hash)

    ctx.demo.unload(release_on_unload)
    return loaded


def _merges_prediction(box, settings: list, outputs: list) -> None:
    """Lab 1's prediction: the text's length after AHEAD more merges; the reveal makes them."""
    inputs = dict(zip(("source", "pasted", "upload", "target", "pattern", "special"), settings))
    shown = dict(zip(("state", "status", "last", "top", "curve", "preview"), outputs))
    box.reveal(named_event(predict_merges, inputs={"guess": box.guess, "session": outputs[0], **inputs},
                           outputs={"feedback": box.feedback, "target": inputs["target"], **shown}))


def _encode_lab(ctx: LessonContext, state: gr.State, loaded):
    markdown("### Lab 2 · Encode and decode with your tokenizer")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            enc_in = gr.Textbox(ENCODE_DEFAULT, label="Text to encode", lines=3, max_length=MAX_INPUT_CHARS,
                                elem_id="bpe-encode-in")
            enc_btn = gr.Button("Encode", variant="primary")
            ids_box = gr.Textbox(label="Token ids (edit them and decode)", lines=3, elem_id="bpe-ids", max_length=MAX_INPUT_CHARS)
            dec_btn = gr.Button("Decode ids")
        with gr.Column(scale=3):
            enc_summary = markdown("")
            enc_view = gr.HTML(elem_id="bpe-encoded")
            dec_out = gr.Textbox(label="Decoded text", lines=3, interactive=False, elem_id="bpe-decoded")
    box = prediction(f"how many tokens will your tokenizer, as trained now, use for “{PREDICT_SENTENCE}” "
                     f"({len(PREDICT_SENTENCE)} characters)?", unit="tokens", elem_id="predict-encoded")
    try_this(
        "Encode a word from the training text and a made-up one: known words become one or two tokens, "
        "new ones fall apart into small pieces — down to single bytes for emoji or Chinese.",
        "Decode only the first id of an emoji: you get '\\ufffd', half a character is not text.",
    )
    quiet = dict(api_name=False, show_progress="hidden")
    enc_state, ids_state = gr.State(Checked.start(ENCODE_DEFAULT)), gr.State(Checked.start(""))
    encoded = [enc_view, ids_box, enc_summary]
    on_typed([enc_in], check_encode, [], enc_state, encode_view, [enc_state, state], encoded, buttons=[enc_btn])
    on_typed([ids_box], check_ids, [], ids_state, decode_view, [ids_state, state], [dec_out], buttons=[dec_btn])
    box.reveal(named_event(predict_encoded, inputs={"guess": box.guess, "session": state}, outputs={
        "feedback": box.feedback, "text": enc_in, "text_state": enc_state, "view": enc_view, "ids": ids_box,
        "summary": enc_summary, "ids_state": ids_state, "decoded": dec_out}))
    # after the page load's first merges: the default text encoded, and its ids decoded back
    return loaded.then(start_encoded, [enc_state, state], [*encoded, ids_state, dec_out], **quiet)


ENCODE_DEFAULT = "Python is a high-level language. Héllo wörld! 東京 😍"


def start_encoded(enc_state: Checked, session):
    """Page load: the default text encoded by the first tokenizer, and its ids decoded back."""
    html, ids, summary = encode_box(session, *enc_state.good)
    return html, ids, summary, Checked.start(ids), decode_box(session, ids)


def _compare_lab(ctx: LessonContext, state: gr.State, loaded) -> None:
    markdown("### Lab 3 · Your BPE next to OpenAI's tokenizers (tiktoken)")
    availability = markdown("", elem_id="tiktoken-availability")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            example = gr.Dropdown(list(EXAMPLES), value="Numbers", label="Example")
            cmp_in = gr.Textbox(EXAMPLES["Numbers"][0], label="Text", lines=5, max_length=MAX_INPUT_CHARS, elem_id="compare-text")
            context_length = gr.Number(8192, label="Context length (tokens)", precision=0, minimum=1)
            price = gr.Number(2.5, label="Example price ($ per million tokens)", minimum=0)
            cmp_btn = gr.Button("Compare", variant="primary")
        with gr.Column(scale=3):
            why = markdown(f"**Why look here:** {EXAMPLES['Numbers'][1]}")
            table = gr.Dataframe(headers=["tokenizer", "tokens", "characters per token", "bytes per token",
                                          "share of the context", "cost of 1,000 such texts"],
                                 interactive=False, elem_id="compare-table")
            markdown("*Share of the context:* how much of a context window of that many tokens this text fills. "
                     "*Cost:* sending the text 1,000 times at the example price. Fewer tokens for the same text "
                     "means more text per context and a smaller bill.")
            views = gr.HTML(elem_id="compare-tokens")
    # a ratio, so the question needs no tiktoken table while the app starts (loading them takes ~1 s)
    box = prediction(f"the {PREDICT_EXAMPLE} example has about as many characters "
                     f"({len(EXAMPLES[PREDICT_EXAMPLE][0])}) as the {ENGLISH_EXAMPLE} one "
                     f"({len(EXAMPLES[ENGLISH_EXAMPLE][0])}). How many times as many tokens will GPT-4's "
                     f"{PREDICT_ENCODING} use for it?", unit="×", elem_id="predict-foreign")
    try_this(
        "Pick **Non-English**: count how many more tokens each tokenizer needs than for English — "
        "at a fixed price per token, the same message costs more and fills more of the context.",
        "Pick **Numbers** and compare cl100k (digits in groups of three) with your BPE.",
        "Paste a paragraph of the built-in corpus: your BPE, trained on it, can beat the big tokenizers there.",
    )
    quiet = dict(api_name=False, show_progress="hidden")
    checked = gr.State(Checked.start(*_COMPARE_DEFAULTS))
    on_typed([cmp_in, context_length, price], check_compare, [], checked, compare_view, [checked, state], [table, views],
             buttons=[cmp_btn])
    example.input(example_text, example, [cmp_in, why, checked], **quiet).then(compare_view, [checked, state], [table, views], **quiet)
    loaded.then(compare_view, [checked, state], [table, views], **quiet)
    box.reveal(named_event(predict_foreign, inputs={"guess": box.guess, "session": state, "checked": checked}, outputs={
        "feedback": box.feedback, "example": example, "text": cmp_in, "why": why, "checked": checked, "table": table,
        "views": views}))
    ctx.on_open(availability_text, outputs=availability, **quiet)


def build(ctx: LessonContext) -> None:
    lesson_text("part06_tokenization")
    state = gr.State(None)  # the learner's Session: the trainer of lab 1, used by labs 2 and 3
    loaded = _bpe_lab(ctx, state)
    _compare_lab(ctx, state, _encode_lab(ctx, state, loaded))
    end_of_tab_check("part06")

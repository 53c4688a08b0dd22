"""Tab: BPE tokenization and tiktoken (Part 6). UI only: core.bpe and core.token_compare compute."""
from __future__ import annotations

import time
import re
from dataclasses import dataclass

import gradio as gr
import plotly.graph_objects as go

from core import bpe, sessions, tiktoken_offline
from core.token_compare import BUILTIN_CORPUS, EXAMPLES, by_bpe, by_characters, by_tiktoken, usage
from lessons.common import LessonContext, lesson_text, markdown, try_this
from lessons.plots import PALETTE, figure
from lessons.tokens import tokens_html

SOURCES = ["Built-in corpus", "Paste text", "Upload a .txt file"]
PATTERNS = {"none": None, "GPT-2": "gpt2", "GPT-4": "gpt4"}
MAX_TRAIN_CHARS = 300_000  # keeps one learner's step-through state small on a shared server
MAX_INPUT_CHARS = 20_000  # encode / compare boxes
PREVIEW_CHARS = 1_500  # how much of the training text is shown re-coloured
PLAY_YIELD_S = 0.5  # Play refreshes the page about this often (a redraw costs the browser more than a merge)
PLAY_CURVE_S = 2.0  # and redraws the curve (the heaviest part) this often
TOP_K = 10


@dataclass
class Session:
    """One learner's step-through: the trainer and the settings it was built from."""

    key: tuple
    trainer: bpe.Trainer
    preview: str
    target: int
    last: bpe.MergeStep | None = None


# training text and state -------------------------------------------------------------------------
def training_text(source: str, pasted: str | None, upload: str | None, warn: bool = True) -> str:
    if source == "Paste text":
        if not (pasted or "").strip():
            raise gr.Error("The paste box is empty: paste some text (a few paragraphs at least) or pick the built-in corpus.")
        text = pasted
    elif source == "Upload a .txt file":
        if not upload:
            raise gr.Error("No file uploaded yet: upload a UTF-8 .txt file or pick the built-in corpus.")
        try:
            with open(upload, encoding="utf-8") as f:
                text = f.read()
        except UnicodeDecodeError:
            raise gr.Error("That file is not UTF-8 text: save it as UTF-8 .txt and upload it again.") from None
    else:
        text = BUILTIN_CORPUS.read_text(encoding="utf-8")
    if len(text) > MAX_TRAIN_CHARS:
        if warn:
            gr.Warning(f"The text has {len(text):,} characters; training here uses the first {MAX_TRAIN_CHARS:,} "
                       "(the command line `python -m core bpe FILE` takes any size).")
        text = text[:MAX_TRAIN_CHARS]
    return text


def special_list(special: str | None) -> list[str]:
    return (special or "").split()


def new_session(source, pasted, upload, target, pattern, special) -> Session:
    text = training_text(source, pasted, upload)
    specials = special_list(special)
    try:
        trainer = bpe.Trainer(text, PATTERNS[pattern], specials)
    except ValueError as err:
        raise gr.Error(str(err)) from None
    key = (source, hash(text), pattern, tuple(specials))
    return Session(key, trainer, text[:PREVIEW_CHARS], int(target))


def current_session(session, source, pasted, upload, target, pattern, special) -> Session:
    """The learner's trainer; started again from bytes if the text or settings changed since."""
    text_key = (source, hash(training_text(source, pasted, upload, warn=False)), pattern, tuple(special_list(special)))
    if session is None or session.key != text_key:
        if session is not None:
            gr.Info("The text or the settings changed, so training started again from the 256 bytes.")
        session = new_session(source, pasted, upload, target, pattern, special)
    session.target = int(target)
    return session


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


NEW_TOKEN_OUTLINE = "outline:2px solid #e8590c"


def preview_html(session: Session) -> str:
    """The text coloured token by token, with the token the last merge made outlined."""
    tokenizer = session.trainer.tokenizer()
    ids = tokenizer.encode(session.preview)
    html = tokens_html([tokenizer.token_text(i) for i in ids], ids)
    if session.last is not None:
        html = re.sub(rf'style="background:(#\w+)" title="id {session.last.new_id}:',
                      rf'style="background:\1;{NEW_TOKEN_OUTLINE}" title="id {session.last.new_id}:', html)
    return html


def length_curve(session: Session) -> go.Figure:
    t = session.trainer
    sizes = list(range(256, 256 + len(t.lengths)))
    ratios = [t.n_bytes / n if n else 0.0 for n in t.lengths]
    fig = figure("Length of the text in tokens as the vocabulary grows", "vocabulary size (tokens)", "text length (tokens)", height=320)
    fig.add_trace(go.Scatter(x=sizes, y=t.lengths, mode="lines", name="tokens", line=dict(color=PALETTE[0]),
                             hovertemplate="vocab %{x}<br>%{y:,} tokens<extra></extra>"))
    fig.add_trace(go.Scatter(x=sizes, y=ratios, mode="lines", name="bytes per token", yaxis="y2", line=dict(color=PALETTE[1]),
                             hovertemplate="vocab %{x}<br>%{y:.3f} bytes per token<extra></extra>"))
    fig.update_layout(yaxis2=dict(title="bytes per token (compression)", overlaying="y", side="right", showgrid=False),
                      margin=dict(r=60))
    return fig


def render(session: Session, with_curve: bool = True):
    return (session, status_line(session), last_merge_text(session), top_pairs_rows(session),
            length_curve(session) if with_curve else gr.skip(), preview_html(session))


# actions -----------------------------------------------------------------------------------------
def reset(source, pasted, upload, target, pattern, special):
    return render(new_session(source, pasted, upload, target, pattern, special))


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


def step(session, source, pasted, upload, target, pattern, special, n: int = 1):
    session = current_session(session, source, pasted, upload, target, pattern, special)
    if session.trainer.vocab_size >= session.target:
        gr.Warning(f"The vocabulary already has {session.trainer.vocab_size} tokens (the target): raise the target to merge more.")
    advance(session, n)
    return render(session)


def step10(session, source, pasted, upload, target, pattern, special):
    return step(session, source, pasted, upload, target, pattern, special, n=10)


def play(session, source, pasted, upload, target, pattern, special, speed=25):
    """Merge until the target at `speed` merges per second, refreshing the page a few times a
    second (not every merge: drawing costs more than merging). Stop cancels at the next refresh."""
    session = current_session(session, source, pasted, upload, target, pattern, special)
    begin, start_merges = time.perf_counter(), len(session.trainer.merges)
    last_yield = last_curve = 0.0
    while session.trainer.vocab_size < session.target:
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
            yield play_view(session, begin, start_merges, with_curve=with_curve)
    yield play_view(session, begin, start_merges, finished=True)


def play_view(session: Session, begin: float, start_merges: int, finished: bool = False, with_curve: bool = True):
    out = list(render(session, with_curve or finished))
    elapsed = time.perf_counter() - begin
    made = len(session.trainer.merges) - start_merges
    left = session.target - session.trainer.vocab_size
    rate = made / elapsed if elapsed > 0 else 0.0
    eta = f"ETA {left / rate:.1f} s" if rate and left > 0 else ("done" if finished else "")
    out[1] += f" · {elapsed:.1f} s elapsed, {rate:,.0f} merges/s, {eta}"
    return tuple(out)


def save_tokenizer(session, user_id):
    if session is None or not session.trainer.merges:
        raise gr.Error("Nothing to save yet: make at least one merge first.")
    folder = sessions.new_run_dir(user_id, "bpe", f"bpe-{session.trainer.vocab_size}")
    path = session.trainer.tokenizer().save(folder / "tokenizer.bpe")
    gr.Info("Saved: a text file with the pattern, special tokens and one merge per line.")
    return gr.update(value=str(path), visible=True)


# encode / decode ---------------------------------------------------------------------------------
def encode_box(session, text):
    if session is None:
        raise gr.Error("Train a tokenizer above first (press Reset or Step).")
    if len(text or "") > MAX_INPUT_CHARS:
        raise gr.Error(f"The text has {len(text):,} characters; encode at most {MAX_INPUT_CHARS:,} here.")
    tokenizer = session.trainer.tokenizer()
    ids = tokenizer.encode(text or "")
    summary = f"{len(text or '')} characters → **{len(ids)} tokens** (vocabulary of {tokenizer.vocab_size})"
    return tokens_html([tokenizer.token_text(i) for i in ids], ids, show_ids=True), " ".join(map(str, ids)), summary


def decode_box(session, ids_text):
    if session is None:
        raise gr.Error("Train a tokenizer above first (press Reset or Step).")
    try:
        ids = [int(x) for x in (ids_text or "").replace(",", " ").split()]
        return session.trainer.tokenizer().decode(ids)
    except ValueError as err:
        raise gr.Error(f"Could not decode: {err} Write ids as numbers separated by spaces, e.g. '72 101 256'.") from None


# tiktoken ----------------------------------------------------------------------------------------
def availability_text() -> str:
    rows = ["| encoding | used by | offline here |", "|---|---|---|"]
    for a in tiktoken_offline.availability():
        rows.append(f"| `{a.name}` | {a.models} | {'✅ ' if a.available else '❌ not available: '}{a.detail} |")
    return "\n".join(rows)


def example_text(name):
    text, why = EXAMPLES[name]
    return text, f"**Why look here:** {why}"


def compare(session, text, context_length, price):
    text = text or ""
    if not text.strip():
        raise gr.Error("Type or pick some text to compare.")
    if len(text) > MAX_INPUT_CHARS:
        raise gr.Error(f"The text has {len(text):,} characters; compare at most {MAX_INPUT_CHARS:,} here.")
    views = [by_characters(text)]
    if session is not None:
        views.append(by_bpe(text, session.trainer.tokenizer(), f"your BPE ({session.trainer.vocab_size} tokens)"))
    views += [by_tiktoken(text, name) for name in tiktoken_offline.available_names()]
    rows, blocks = [], []
    for v in views:
        share, cost = usage(v.tokens, int(context_length), float(price))
        rows.append([v.name, v.tokens, round(v.chars_per_token, 2), round(v.bytes_per_token, 2),
                     f"{share:.2%}", f"${cost:.4f}"])
        blocks.append(f"<h4>{v.name}: {v.tokens} tokens</h4>" + tokens_html(v.pieces, v.ids))
    return rows, "".join(blocks)


# layout ------------------------------------------------------------------------------------------
def build(ctx: LessonContext) -> None:
    lesson_text("part06_tokenization")
    state = gr.State(None)

    markdown("### Lab 1 · Train a byte-pair-encoding tokenizer, one merge at a time")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            source = gr.Radio(SOURCES, value=SOURCES[0], label="Training text")
            pasted = gr.Textbox(label="Your text", lines=6, visible=False, max_length=MAX_TRAIN_CHARS,
                                placeholder="Paste a few paragraphs…")
            upload = gr.File(label="A UTF-8 .txt file", file_types=[".txt"], type="filepath", visible=False)
            target = gr.Slider(257, 2048, value=512, step=1, label="Target vocabulary size (256 bytes + merges)",
                               elem_id="bpe-target")
            pattern = gr.Radio(list(PATTERNS), value="none", label="Pre-split the text before merging",
                               info="GPT-style: words, numbers, punctuation and spaces are merged separately")
            special = gr.Textbox("<|endoftext|>", label="Special tokens (separated by spaces; never split)")
            with gr.Row():
                step_btn = gr.Button("Step", variant="primary", min_width=80)
                step10_btn = gr.Button("Step ×10", min_width=80)
            with gr.Row():
                play_btn = gr.Button("Play", min_width=80)
                stop_btn = gr.Button("Stop", variant="stop", min_width=80)
            speed = gr.Slider(1, 1000, value=25, step=1, label="Play speed (merges per second)", elem_id="bpe-speed")
            reset_btn = gr.Button("Reset (back to bytes)")
            save_btn = gr.Button("Save tokenizer (text file)", size="sm")
            saved = gr.File(label="Your tokenizer: pattern, special tokens, one merge per line", visible=False, interactive=False)
        with gr.Column(scale=3):
            status = markdown("", elem_id="bpe-status")
            last = markdown("", elem_id="bpe-last-merge")
            with gr.Row(equal_height=False):
                with gr.Column(min_width=260):
                    top = gr.Dataframe(headers=["pair (ids)", "pair (text)", "count"], label="Most frequent pairs now (the first is merged next)",
                                       interactive=False, elem_id="bpe-top-pairs")
                with gr.Column(min_width=260):
                    curve = gr.Plot(label="Sequence length and compression")
            markdown(f"**The start of the text, token by token** (first {PREVIEW_CHARS:,} characters; the newest token is "
                     "outlined in orange; hover a token for its id)")
            preview = gr.HTML(elem_id="bpe-preview")
    try_this(
        "Press **Step** a few times and watch the first merges: they glue the most common letter pairs, "
        "often a letter with the space after it ('e ' or ' t').",
        "Press **Play** to 512 with pre-split **none**, then **Reset**, switch to **GPT-4** and play again: "
        "with the split, no token glues a word to the punctuation or space after it.",
        "Watch the curve: the first merges shorten the text a lot, later ones less and less (rarer pairs).",
    )

    markdown("### Lab 2 · Encode and decode with your tokenizer")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            enc_in = gr.Textbox("Python is a high-level language. Héllo wörld! 東京 😍", label="Text to encode", lines=3)
            enc_btn = gr.Button("Encode", variant="primary")
            ids_box = gr.Textbox(label="Token ids (edit them and decode)", lines=3, elem_id="bpe-ids")
            dec_btn = gr.Button("Decode ids")
        with gr.Column(scale=3):
            enc_summary = markdown("")
            enc_view = gr.HTML(elem_id="bpe-encoded")
            dec_out = gr.Textbox(label="Decoded text", lines=3, interactive=False, elem_id="bpe-decoded")
    try_this(
        "Encode a word from the training text and a made-up one: known words become one or two tokens, "
        "new ones fall apart into small pieces — down to single bytes for emoji or Chinese.",
        "Decode only the first id of an emoji: you get '\ufffd', half a character is not text.",
    )

    markdown("### Lab 3 · Your BPE next to OpenAI's tokenizers (tiktoken)")
    availability = markdown("", elem_id="tiktoken-availability")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            example = gr.Dropdown(list(EXAMPLES), value="Numbers", label="Example")
            cmp_in = gr.Textbox(EXAMPLES["Numbers"][0], label="Text", lines=5)
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
    try_this(
        "Pick **Non-English**: count how many more tokens each tokenizer needs than for English — "
        "at a fixed price per token, the same message costs more and fills more of the context.",
        "Pick **Numbers** and compare cl100k (digits in groups of three) with your BPE.",
        "Paste a paragraph of the built-in corpus: your BPE, trained on it, can beat the big tokenizers there.",
    )

    # wiring --------------------------------------------------------------------------------------
    settings = [source, pasted, upload, target, pattern, special]
    outputs = [state, status, last, top, curve, preview]
    source.change(lambda s: (gr.update(visible=s == SOURCES[1]), gr.update(visible=s == SOURCES[2])),
                  inputs=source, outputs=[pasted, upload], api_name=False)
    step_btn.click(step, [state, *settings], outputs, api_name=False, show_progress="minimal")
    step10_btn.click(step10, [state, *settings], outputs, api_name=False, show_progress="minimal")
    playing = play_btn.click(play, [state, *settings, speed], outputs, api_name=False, show_progress="minimal")
    stop_btn.click(None, cancels=[playing])
    reset_btn.click(reset, settings, outputs, api_name=False, show_progress="minimal")
    save_btn.click(save_tokenizer, [state, ctx.user_id], saved, api_name=False)
    enc_btn.click(encode_box, [state, enc_in], [enc_view, ids_box, enc_summary], api_name=False)
    dec_btn.click(decode_box, [state, ids_box], dec_out, api_name=False)
    example.change(example_text, example, [cmp_in, why], api_name=False).then(
        compare, [state, cmp_in, context_length, price], [table, views], api_name=False)
    cmp_btn.click(compare, [state, cmp_in, context_length, price], [table, views], api_name=False)

    ctx.demo.load(start, settings, outputs, api_name=False).then(
        encode_box, [state, enc_in], [enc_view, ids_box, enc_summary], api_name=False).then(
        compare, [state, cmp_in, context_length, price], [table, views], api_name=False)
    ctx.demo.load(availability_text, outputs=availability, api_name=False)

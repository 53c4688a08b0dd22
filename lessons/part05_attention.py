"""Tab: Attention, step by step (Part 5). UI only: every number comes from core.attention.

Three labs, each built by its own `_<name>_lab(ctx)`: the step-through (one matrix at a time), why
divide by √d_k, and the attention maps inside a trained MiniGPT. Each has a prediction (`predict_*`: the
learner commits a guess, the reveal computes it through core.attention and moves the lab there), and the
tab ends with its check (core/quizzes/part05.py). Charts are `lessons.plots.Chart`s
(plain data, a few ms per redraw). The sentence and the prompt go through `lessons.inputs`: checked
once per typed change, and every other control uses the last good sentence, so a typo is said once.
"""
from __future__ import annotations

import functools
from pathlib import Path

import gradio as gr
import numpy as np

from core import attention, registry
from core import quiz as Q
from lessons.check import end_of_tab_check, prediction
from lessons.common import (LessonContext, checkpoint_choices, checkpoint_dropdown, learner_error, lesson_text, markdown,
                            named_event, shows_errors, try_this)
from lessons.inputs import Checked, checker, on_typed
from lessons.plots import DIVERGING_SCALE, HEATMAP_SCALE, PALETTE, Chart, chart, heatmap
from lessons.tokens import label_text, tokens_html, visible

DEFAULT_SENTENCE = "the cat sat on the mat"
DEFAULT_PROMPT = "Python is a high-level language."
RANDOM = "random"  # the step-through's embedding source when no checkpoint is chosen
MAX_SENTENCE_CHARS = 200  # Textbox(max_length) is only enforced by the browser: checked again here
D_K_CHOICES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
SATURATION_QUERIES = 256  # random queries averaged per d_k: smooth enough, and fast enough to feel live
SATURATION_KEYS = 8
# short names of the steps, for the "you are here" strip above the matrix
STEP_SHORT = {"x": "X", "q": "Q", "k": "K", "v": "V", "scores": "QKᵀ", "scaled_scores": "÷√d_k",
              "masked_scores": "mask", "weights": "softmax", "head_outputs": "·V", "concat": "concat", "projected": "·W_o"}
CELL_TEXT_MAX_COLUMNS = 16  # beyond this the numbers no longer fit in the cells; hover still shows them


# ----------------------------------------------------------------------------- step-through


def load_checkpoint(path, user_id):
    """A MiniGPT checkpoint from the learner's list (never an arbitrary path sent by a browser)."""
    from core.minigpt import checkpoint

    return checkpoint.load(registry.resolve("minigpt", path, user_id).path)


def _text_length(text: str | None, what: str = "sentence") -> None:
    if len(text or "") > MAX_SENTENCE_CHARS:
        raise ValueError(f"The {what} has {len(text)} characters; keep it under {MAX_SENTENCE_CHARS}.")


def _inputs(sentence, unit, d_model, seed, source, user_id):
    """Tokens, X and weights: seeded random ones, or a MiniGPT's embeddings and first attention layer."""
    _text_length(sentence)
    if not source or source == RANDOM:
        tokens = attention.split_tokens(sentence, unit)
        x, w = attention.random_inputs(tokens, int(d_model), int(seed or 0))
        return tokens, x, w, ""
    loaded = load_checkpoint(source, user_id)
    tokens, x, w = attention.model_inputs(loaded, sentence, layer=0)
    pieces = ("" if loaded.tokenizer.kind == "char" else
              " The tokens are the checkpoint's own BPE pieces (the *Tokens are* choice is for random embeddings).")
    note = (f"\n\n*X and the weights come from layer 1 of the MiniGPT checkpoint: X is what that layer's attention "
            f"receives, token + position embeddings after LayerNorm (d_model = {loaded.config.n_embd}); "
            f"the model itself uses {loaded.config.n_head} heads: set Heads to {loaded.config.n_head} to see its own attention."
            f"{pieces}*")
    return tokens, x, w, note


@shows_errors
def step_through(sentence, unit, d_model, n_heads, scaled, causal, seed, step, head, query, source=RANDOM, user_id=None, move=0):
    """Everything the step-through shows, for the current controls; `move` is ±1 for Previous/Next.

    (tokens, step text, matrix, query bars, step slider, head radio, query dropdown, sentence, unit)."""
    sentence, unit, sentence_update, unit_update = _fitted(sentence, unit, source, user_id)
    v = step_values(sentence, unit, d_model, n_heads, scaled, causal, seed, step, head, query, source, user_id, move)
    return _step_outputs(v, sentence_update, unit_update)


def _step_outputs(v: dict, sentence_update, unit_update) -> tuple:
    """step_values as the step-through's component updates (STEP_OUTPUTS' order, the state aside)."""
    return (v["tokens_html"], v["text"], v["matrix"], v["bars"], gr.Slider(maximum=v["n_steps"], value=v["step"]),
            gr.Radio(choices=list(range(1, v["n_heads"] + 1)), value=v["head"], visible=v["n_heads"] > 1),
            gr.Dropdown(choices=v["queries"], value=v["query"]), sentence_update, unit_update)


def _fitted(sentence, unit, source, user_id) -> tuple:
    """(sentence, unit, sentence update, unit update): as typed for random embeddings, fitted to a MiniGPT."""
    if source and source != RANDOM:
        return _fit_to_model(sentence, unit, source, user_id)
    return sentence, unit, gr.skip(), gr.skip()


def _fit_to_model(sentence, unit, source, user_id) -> tuple:
    """A MiniGPT reads its own tokens (characters, or BPE pieces): a character model switches the unit to
    characters; a long sentence is cropped to the step-through's MAX_TOKENS of the model's tokens.
    Returns (sentence, unit, sentence update, unit update)."""
    _text_length(sentence)
    tokenizer = load_checkpoint(source, user_id).tokenizer
    unit_update = gr.skip()
    if tokenizer.kind == "char" and unit != "characters":
        unit = unit_update = "characters"
    whole = (sentence or "").strip()
    cropped = attention.crop_to_tokens(tokenizer, whole, attention.MAX_TOKENS)
    if cropped == whole:
        return sentence, unit, gr.skip(), unit_update
    reads = "characters" if tokenizer.kind == "char" else "BPE tokens"
    gr.Warning(f"This MiniGPT reads {reads}, and the step-through shows at most {attention.MAX_TOKENS}: using “{cropped}”.")
    return cropped, unit, cropped, unit_update


def step_values(sentence, unit, d_model, n_heads, scaled, causal, seed, step, head, query, source=RANDOM, user_id=None,
                move=0) -> dict:
    """What the step-through shows, as plain values (no component updates: the tab's build uses them
    for the first view, and creating a component there would add it to the page)."""
    tokens, x, w, note = _inputs(sentence, unit, d_model, seed, source, user_id)
    steps = attention.attention_steps(x, n_heads=int(n_heads), causal=bool(causal), scaled=bool(scaled), **w)
    n_heads = int(n_heads)
    described = attention.describe_steps(steps, tokens, n_heads, bool(scaled), bool(causal))
    number = min(max(int(step or 1) + move, 1), len(described))
    head = min(max(int(head or 1), 1), n_heads)
    query = int(query) if query is not None and 0 <= int(query) < len(tokens) else len(tokens) - 1
    return dict(tokens=tokens, weights=steps["weights"], tokens_html=tokens_html(tokens), text=_step_text(described, number, head, n_heads) + note,
                matrix=step_figure(described[number - 1], number, head, query),
                bars=query_bars(steps["weights"], tokens, query, n_heads), n_steps=len(described), step=number,
                n_heads=n_heads, head=head, query=query, queries=[(f"{i + 1}: {visible(t)}", i) for i, t in enumerate(tokens)])


def step_new_input(sentence, unit, d_model, n_heads, scaled, causal, seed, step, head, query, source=RANDOM, user_id=None):
    """New tokens: the picked query (an index into the old ones) goes back to the last token."""
    return step_through(sentence, unit, d_model, n_heads, scaled, causal, seed, step, head, None, source, user_id)


def step_next(*args):
    return step_through(*args, move=1)


def step_previous(*args):
    return step_through(*args, move=-1)


def check_sentence(sentence, unit, source, previous: Checked) -> Checked:
    """First step of a typed sentence: refused once if it cannot be split as asked (a MiniGPT source
    crops it instead, so only its length is checked then)."""
    state = previous.sees(sentence, unit, source)
    if not state.fresh:
        return state
    try:
        _text_length(sentence)
        if not source or source == RANDOM:
            attention.split_tokens(sentence, unit)
    except ValueError as err:
        return state.refused(err)
    return state.accepted(sentence, unit, source)


def _viewed(state: Checked, out: tuple) -> tuple:
    """The step-through's outputs plus the state: a sentence cropped for a MiniGPT becomes the good one."""
    cropped = out[7]
    return (*out, state.accepted(cropped, *state.good[1:]) if isinstance(cropped, str) else gr.skip())


def step_view(state: Checked, *controls):
    """The step-through on the last good sentence (every control but the sentence box, the page load)."""
    return _viewed(state, step_through(state.good[0], *controls))


def step_view_new(state: Checked, *controls):
    return _viewed(state, step_new_input(state.good[0], *controls))


def step_view_next(state: Checked, *controls):
    return _viewed(state, step_through(state.good[0], *controls, move=1))


def step_view_previous(state: Checked, *controls):
    return _viewed(state, step_through(state.good[0], *controls, move=-1))


# the step-through's outputs by name (the order of step_view's tuple), for the prediction's reveal
STEP_OUTPUTS = ("tokens", "text", "matrix", "bars", "step", "head", "query", "sentence", "unit", "state")
WEIGHTS_STEP = list(STEP_SHORT).index("weights") + 1  # the softmax step's number (the same with any head count)


@shows_errors
def predict_unmasked(guess, state: Checked, unit, d_model, n_heads, scaled, seed, head, source=RANDOM, user_id=None) -> dict:
    """Reveal of the step-through's prediction: the weight the first token gives itself once the causal mask is
    off (with it, exactly 1). The lab moves there: mask unticked, the softmax step, the first token's row."""
    Q.parse_guess(guess)
    # one computation: the view the lab moves to, and the weights the answer is read from
    sentence, fitted_unit, sentence_update, unit_update = _fitted(state.good[0], unit, source, user_id)
    v = step_values(sentence, fitted_unit, d_model, n_heads, scaled, False, seed, WEIGHTS_STEP, head, 0, source, user_id)
    view = dict(zip(STEP_OUTPUTS, _viewed(state, _step_outputs(v, sentence_update, unit_update))))
    weights, tokens, shown = v["weights"], v["tokens"], v["head"]
    row = (weights if weights.ndim == 3 else weights[None])[shown - 1, 0]
    T, top = len(tokens), int(np.argmax(row))
    which = f" (head {shown})" if int(n_heads) > 1 else ""
    first, most = label_text(tokens[0], markdown=True), label_text(tokens[top], markdown=True)
    reason = (f"with the mask, “{first}” sees only itself, so all its weight (1) goes there. Without it, softmax "
              f"spreads that 1 over all {T} tokens: an even split would give 1/{T} = {1 / T:.3f} each, and the scores "
              f"tilt it{which}. Its largest weight now goes to “{most}” (token {top + 1}), {row[top]:.3f}. That is why "
              "a language model needs the mask: unmasked, the first token reads the future.")
    return {"feedback": Q.compare_guess(guess, float(row[0]), reason, digits=3), "causal": False, **view}


def _step_text(described, number, head, n_heads) -> str:
    step = described[number - 1]
    strip = " → ".join(f"**[{STEP_SHORT[s.key]}]**" if i == number - 1 else STEP_SHORT[s.key] for i, s in enumerate(described))
    which = f" · showing head {head} of {n_heads}" if step.per_head else ""
    return (f"{strip}\n\n### Step {number} of {len(described)} · {step.title}\n"
            f"**{step.formula}** · shape **{step.shape_text()}**{which}\n\n{step.note}")


def step_figure(step: attention.Step, number: int, head: int, query: int) -> Chart:
    """The step's matrix as a heatmap: tokens on the rows, keys or dimensions on the columns."""
    m = step.matrix[head - 1] if step.per_head else step.matrix
    is_weights = step.key == "weights"
    scale = dict(colorscale=HEATMAP_SCALE, zmin=0, zmax=1) if is_weights else dict(colorscale=DIVERGING_SCALE, zmid=0)
    cells = {}
    if m.shape[1] <= CELL_TEXT_MAX_COLUMNS:
        cells = dict(text=[["−∞" if np.isneginf(v) else f"{v:.2f}" for v in row] for row in m], texttemplate="%{text}")
    shown = np.where(np.isneginf(m), np.nan, m)  # −∞ cells stay blank and carry the "−∞" label
    title = f"Step {number}. {step.title}: {step.formula}" + (f" (head {head})" if step.per_head else "")
    fig = heatmap(shown, step.col_labels, step.row_labels, title, height=max(300, 90 + 30 * m.shape[0]), **scale, **cells)
    keys = step.key in ("scores", "scaled_scores", "masked_scores", "weights")
    # no grid lines: they would cross the blank −∞ cells
    fig.axes(x=dict(title=dict(text="key token" if keys else "dimension"), showgrid=False),
             y=dict(title=dict(text="query token" if keys else "token"), showgrid=False))
    # outline the query picked below, so the bars and the matrix row are visibly the same numbers
    fig.layout["shapes"] = [dict(type="rect", x0=-0.5, x1=m.shape[1] - 0.5, y0=query - 0.5, y1=query + 0.5,
                                 line=dict(color=PALETTE[1], width=2))]
    return fig


def query_bars(weights: np.ndarray, tokens: list[str], query: int, n_heads: int) -> Chart:
    """One query's row of attention weights, as bars over the keys (one colour per head)."""
    rows = weights if weights.ndim == 3 else weights[None]
    labels = [label_text(t) for t in tokens]
    fig = chart(f"Where “{labels[query]}” (token {query + 1}) looks: its row of weights",
                "key token", "attention weight", height=300, barmode="group", showlegend=n_heads > 1)
    for h in range(n_heads):
        fig.add("bar", x=list(range(len(tokens))), y=rows[h, query], name=f"head {h + 1}",
                marker=dict(color=PALETTE[h % len(PALETTE)]), customdata=labels,
                hovertemplate=f"head {h + 1} · key %{{customdata}}<br>weight %{{y:.3f}}<extra></extra>")
    return fig.axes(x=dict(tickmode="array", tickvals=list(range(len(tokens))), ticktext=labels), y=dict(range=[0, 1]))


# ----------------------------------------------------------------------------- saturation


@functools.lru_cache(maxsize=1)
def saturation_curve() -> dict[str, np.ndarray]:
    """The same for every learner and every d_k (a fixed seed): computed once, then read-only."""
    curve = attention.softmax_saturation(D_K_CHOICES, n_keys=SATURATION_KEYS, n_queries=SATURATION_QUERIES)
    for values in curve.values():
        values.setflags(write=False)
    return curve


def saturation_view(d_k):
    """One query's softmax with and without 1/√d_k, and how peaked softmax gets as d_k grows."""
    d_k = int(d_k)
    if d_k not in D_K_CHOICES:
        raise learner_error(f"Pick d_k from {', '.join(map(str, D_K_CHOICES))}.")
    example = attention.saturation_example(d_k, n_keys=SATURATION_KEYS)
    curve = saturation_curve()
    i = D_K_CHOICES.index(d_k)
    summary = (f"At d_k = {d_k} the raw scores QKᵀ spread with a standard deviation of "
               f"**{curve['score_std_unscaled'][i]:.2f}** (about √{d_k} = {np.sqrt(d_k):.2f}), so softmax gives the top key "
               f"**{curve['max_weight_unscaled'][i]:.2f}** of the weight on average. Divided by √d_k the spread is "
               f"**{curve['score_std_scaled'][i]:.2f}** and the top key gets **{curve['max_weight_scaled'][i]:.2f}**.")
    return _saturation_bars(example, d_k), _saturation_lines(curve, d_k), summary


SPREAD_D_K = 1024  # the saturation prediction asks about the widest head


@shows_errors
def predict_spread(guess) -> dict:
    """Reveal of the saturation lab's prediction: how widely the raw scores spread at d_k = SPREAD_D_K; the lab
    moves there."""
    Q.parse_guess(guess)
    curve, i = saturation_curve(), D_K_CHOICES.index(SPREAD_D_K)
    bars, lines, summary = saturation_view(SPREAD_D_K)
    reason = (f"a score q·k adds up d_k = {SPREAD_D_K} products of unit-variance numbers, so its variance is {SPREAD_D_K} "
              f"and its spread √{SPREAD_D_K} = {np.sqrt(SPREAD_D_K):g}. Scores that far apart make softmax nearly one-hot: "
              f"unscaled, the top key gets {curve['max_weight_unscaled'][i]:.2f} of the weight on average. Divided by "
              f"√d_k the spread is back to {curve['score_std_scaled'][i]:.2f}, and the top key gets "
              f"{curve['max_weight_scaled'][i]:.2f}.")
    return {"feedback": Q.compare_guess(guess, float(curve["score_std_unscaled"][i]), reason, digits=3),
            "d_k": SPREAD_D_K, "bars": bars, "lines": lines, "summary": summary}


def _saturation_bars(example, d_k: int) -> Chart:
    keys = [f"key {j + 1}" for j in range(SATURATION_KEYS)]
    fig = chart(f"One query, {SATURATION_KEYS} keys, d_k = {d_k}: softmax of the scores", "key", "attention weight",
                height=300, barmode="group")
    fig.add("bar", x=keys, y=example["weights_unscaled"], name="softmax(QKᵀ)", marker=dict(color=PALETTE[1]),
            customdata=example["scores"], hovertemplate="score %{customdata:.2f}<br>weight %{y:.3f}<extra></extra>")
    fig.add("bar", x=keys, y=example["weights_scaled"], name="softmax(QKᵀ/√d_k)", marker=dict(color=PALETTE[0]),
            customdata=example["scores"] / np.sqrt(d_k),
            hovertemplate="scaled score %{customdata:.2f}<br>weight %{y:.3f}<extra></extra>")
    return fig.axes(y=dict(range=[0, 1]))


def _saturation_lines(curve, d_k: int) -> Chart:
    fig = chart(f"How peaked softmax gets as d_k grows (average over {SATURATION_QUERIES} queries)", "d_k (log scale)",
                "largest weight in a row", height=300)
    fig.add("scatter", x=curve["d_k"], y=curve["max_weight_unscaled"], name="without 1/√d_k", mode="lines+markers",
            line=dict(color=PALETTE[1]))
    fig.add("scatter", x=curve["d_k"], y=curve["max_weight_scaled"], name="with 1/√d_k", mode="lines+markers",
            line=dict(color=PALETTE[0]))
    # the uniform level and the chosen d_k as reference lines (what add_hline / add_vline drew)
    uniform = 1 / SATURATION_KEYS
    fig.layout["shapes"] = [
        dict(type="line", xref="x domain", x0=0, x1=1, yref="y", y0=uniform, y1=uniform, line=dict(color=PALETTE[7], dash="dot")),
        dict(type="line", xref="x", x0=d_k, x1=d_k, yref="y domain", y0=0, y1=1, line=dict(color=PALETTE[7], dash="dash"))]
    fig.layout["annotations"] = [dict(text=f"uniform (1/{SATURATION_KEYS})", xref="x domain", x=1, xanchor="right",
                                      yref="y", y=uniform, yanchor="bottom", showarrow=False)]
    return fig.axes(x=dict(type="log"), y=dict(range=[0, 1.05]))


# ----------------------------------------------------------------------------- inside a trained MiniGPT


def refresh_checkpoints(user_id, current):
    """The checkpoint list as this learner sees it now (a run finished in tab 4 appears here)."""
    return checkpoint_dropdown("minigpt", user_id, current)


def refresh_sources(user_id, current):
    choices = [("Random (seeded)", RANDOM)] + [(f"MiniGPT {label}", v) for label, v in checkpoint_choices("minigpt", user_id)]
    values = [v for _, v in choices]
    return gr.Dropdown(choices=choices, value=current if current in values else RANDOM)


NO_CHECKPOINT = ("No MiniGPT checkpoint is available yet: train one in tab **4 · MiniGPT**, then come back "
                 "(the list refreshes when you open this tab).")


def _model_maps(path, prompt, user_id):
    """The checkpoint and its maps on the prompt; characters it never saw are left out, with a warning."""
    _text_length(prompt, "prompt")
    try:
        found = registry.resolve("minigpt", path, user_id).path
        stamp = Path(found).stat().st_mtime_ns
    except FileNotFoundError as err:
        raise learner_error(err) from None
    unknown, tokens, maps, unit = _maps_of(str(found), stamp, prompt or "")
    if unknown:
        gr.Warning(f"Left out {len(unknown)} character(s) this model never saw: {' '.join(repr(c) for c in unknown[:10])}.")
    return list(tokens), maps, unit


# A class mostly looks at the same checkpoint with the same prompt, and "Enlarge layer/head" only picks
# another of the maps already computed: each checkpoint file (by path and modification time, so a run
# saved again is read again) and prompt is loaded and run once, then served from here. The maps are
# read-only arrays, so sharing them between learners' threads is safe. 64 entries of at most
# layers × heads × 256² float64 values.
@functools.lru_cache(maxsize=64)
def _maps_of(path: str, stamp: int, prompt: str) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray, str]:
    """(characters left out, the tokens' pieces, the maps, 'character' or 'token')."""
    from core.minigpt import checkpoint

    loaded = checkpoint.load(path)
    unknown = tuple(loaded.tokenizer.unknown(prompt))
    tokens, maps = attention.model_attention_maps(loaded, prompt, drop_unknown=True)
    maps.setflags(write=False)
    return unknown, tuple(tokens), maps, loaded.tokenizer.unit


def warm_up() -> None:
    """The default maps every learner's first open shows (see lessons.warm_up)."""
    default = registry.best("minigpt")
    if default is not None:
        _model_maps(default.id, DEFAULT_PROMPT, None)


@shows_errors
def model_view(path, prompt, layer, head, user_id):
    """Every layer × head attention map of a MiniGPT on the prompt, and the chosen one enlarged."""
    if not path:
        return "", None, None, NO_CHECKPOINT, gr.skip(), gr.skip()
    tokens, maps, unit = _model_maps(path, prompt, user_id)
    n_layer, n_head = maps.shape[:2]
    layer = min(max(int(layer or 1), 1), n_layer)
    head = min(max(int(head or 1), 1), n_head)
    l, h = layer - 1, head - 1
    big = heatmap(maps[l, h], tokens, tokens, f"Layer {layer}, head {head}: where each {unit} looks",
                  zmin=0, zmax=1, height=max(360, 100 + 16 * len(tokens)),
                  **(dict(texttemplate="%{z:.2f}") if len(tokens) <= CELL_TEXT_MAX_COLUMNS else {}))
    big.axes(x=dict(title=dict(text=f"key {unit} (looked at)")), y=dict(title=dict(text=f"query {unit} (looking)")))
    return (tokens_html(tokens), maps_grid(maps, tokens, layer, head, unit), big, maps_summary(maps, len(tokens), layer, head, unit),
            gr.Radio(choices=list(range(1, n_layer + 1)), value=layer), gr.Radio(choices=list(range(1, n_head + 1)), value=head))


def maps_summary(maps: np.ndarray, n_tokens: int, layer: int, head: int, unit: str) -> str:
    """The maps in words; `unit` is what a token is ('character', or 'token' for a BPE model)."""
    n_layer, n_head = maps.shape[:2]
    pieces = "" if unit == "character" else " (the model's BPE pieces; ␣ is a space)"
    text = (f"{n_layer} layers × {n_head} heads, {n_tokens} {unit}s{pieces}. Each row is one {unit} (the query) and "
            f"sums to 1 over the {unit}s up to it (the keys).")
    if n_tokens > 1:
        patterns, l, h = attention.head_patterns(maps), layer - 1, head - 1
        text += (f"\n\n**Layer {layer}, head {head}** gives on average **{patterns['self'][l, h]:.2f}** of its weight to the "
                 f"{unit} itself, **{patterns['previous'][l, h]:.2f}** to the one just before and "
                 f"**{patterns['first'][l, h]:.2f}** to the first {unit}.")
    return text


@shows_errors
def predict_zeros(guess, state: Checked, path, layer, head, user_id) -> dict:
    """Reveal of the model lab's prediction: how many weights of the enlarged map are exactly 0."""
    Q.parse_guess(guess)
    if not path:
        raise ValueError(NO_CHECKPOINT)
    tokens, maps, unit = _model_maps(path, state.good[0], user_id)
    n_layer, n_head, T, _ = maps.shape
    layer, head = min(max(int(layer or 1), 1), n_layer), min(max(int(head or 1), 1), n_head)
    m = maps[layer - 1, head - 1]
    zeros = int(np.count_nonzero(m == 0))
    future = int(np.count_nonzero(~attention.causal_mask(T)))
    reason = (f"the causal mask sets every score above the diagonal to −∞, and softmax turns −∞ into exactly 0: the "
              f"i-th {unit} of {T} has {T} − i of them, {T}·{T - 1}/2 = {future} in all. Every weight on or below the "
              "diagonal is exp of a finite score, so above 0, however dim its cell looks.")
    if zeros != future:  # float32 can round a tiny weight below the diagonal down to 0
        reason += f" Here {zeros - future} more were so small that float32 rounded them to 0."
    return {"feedback": Q.compare_guess(guess, zeros, reason, unit="zeros")}


def model_view_checked(state: Checked, path, layer, head, user_id):
    """The model lab on the last good prompt (the checkpoint, layer and head pickers, the page load)."""
    return model_view(path, state.good[0], layer, head, user_id)


check_prompt = checker(lambda prompt: _text_length(prompt, "prompt"))


def maps_grid(maps: np.ndarray, tokens: list[str], layer: int, head: int, unit: str = "character") -> Chart:
    """All layer × head maps tiled into ONE heatmap (rows = layers, columns = heads), the chosen one outlined.

    One trace instead of n_layer × n_head subplots: blank rows/columns separate the maps; every row
    and column has a unique name (layer, position, character), which is what the hover shows.
    """
    n_layer, n_head, T, _ = maps.shape
    labels = [label_text(t) for t in tokens]
    gap = max(2, int(np.ceil(0.15 * T)))  # blank cells between maps: room for each map's title
    size = T + gap
    tiled = np.full((n_layer * size, n_head * size), np.nan)
    for l in range(n_layer):
        for h in range(n_head):
            tiled[l * size + gap:(l + 1) * size, h * size:h * size + T] = maps[l, h]
    tiled = tiled[:, :-gap]
    rows = [f"L{l + 1} query {i + 1} “{labels[i]}”" if 0 <= (i := j - gap) else f"gap {l}.{j}" for l in range(n_layer) for j in range(size)]
    cols = [f"H{h + 1} key {j + 1} “{labels[j]}”" if j < T else f"gap {h}.{j}" for h in range(n_head) for j in range(size)][:-gap]
    fig = chart(f"Every layer L × head H: row = query {unit}, column = key", height=60 + 170 * n_layer,
                plot_bgcolor="white", margin=dict(l=40, r=20, t=50, b=30))
    fig.add("heatmap", z=tiled, x=cols, y=rows, colorscale=HEATMAP_SCALE, zmin=0, zmax=1, hoverongaps=False,
            colorbar=dict(title=dict(text="weight"), thickness=12), hovertemplate="%{y} → %{x}<br>weight %{z:.3f}<extra></extra>")
    # the tokens on the axes, when they are few enough to read
    show = T <= 24
    fig.axes(x=dict(tickmode="array", tickvals=[c for c in cols if not c.startswith("gap")] if show else [],
                    ticktext=labels * n_head, tickangle=0, tickfont=dict(size=8), showgrid=False),
             y=dict(tickmode="array", tickvals=[r for r in rows if not r.startswith("gap")] if show else [],
                    ticktext=labels * n_layer, tickfont=dict(size=8), showgrid=False, autorange="reversed"))
    fig.layout["annotations"] = [dict(x=h * size + (T - 1) / 2, y=l * size + gap - 0.6, text=f"L{l + 1} H{h + 1}", showarrow=False,
                                      yanchor="bottom", font=dict(size=11)) for l in range(n_layer) for h in range(n_head)]
    l, h = layer - 1, head - 1
    fig.layout["shapes"] = [dict(type="rect", x0=h * size - 0.5, x1=h * size + T - 0.5, y0=l * size + gap - 0.5,
                                 y1=(l + 1) * size - 0.5, line=dict(color=PALETTE[1], width=3))]
    return fig


# ----------------------------------------------------------------------------- layout


def _step_through_lab(ctx: LessonContext) -> gr.Dropdown:
    """The step-through; returns its embedding-source dropdown (the model lab's refresh fills it)."""
    markdown("### Lab: self-attention, one matrix at a time")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            sentence = gr.Textbox(DEFAULT_SENTENCE, label="Sentence", max_length=MAX_SENTENCE_CHARS, elem_id="attention-sentence",
                                  info=f"at most {attention.MAX_TOKENS} tokens; Enter to run")
            unit = gr.Radio(list(attention.TOKEN_UNITS), value="words", label="Tokens are")
            source = gr.Dropdown([("Random (seeded)", RANDOM)], value=RANDOM, label="Embeddings and weights",
                                 info="random, or a MiniGPT's own (its layer 1)")
            d_model = gr.Slider(1, 64, value=8, step=1, label="Embedding width d_model")
            n_heads = gr.Slider(1, 8, value=1, step=1, label="Heads", info="must divide d_model")
            scaled = gr.Checkbox(True, label="Scale scores by 1/√d_k")
            causal = gr.Checkbox(True, label="Causal mask (no peeking at later tokens)")
            seed = gr.Number(0, label="Seed of the random embeddings and weights", precision=0, minimum=0, maximum=2**31 - 1)
            run = gr.Button("Run attention", variant="primary")
        with gr.Column(scale=3):
            # the default step-through is the same for everyone: drawn once here, shown as the tab opens
            first = step_values(DEFAULT_SENTENCE, "words", 8, 1, True, True, 0, 1, 1, None)
            token_view = gr.HTML(first["tokens_html"])
            step_md = markdown(first["text"], elem_id="attention-step")
            with gr.Row():
                previous = gr.Button("◀ Previous step", size="sm")
                step = gr.Slider(1, first["n_steps"], value=1, step=1, label="Step", scale=3)
                following = gr.Button("Next step ▶", size="sm")
            head = gr.Radio([1], value=1, label="Head shown", visible=False)
            matrix_plot = gr.Plot(first["matrix"], show_label=False)
            query = gr.Dropdown(label="Query token: its row of weights", choices=first["queries"], value=first["query"])
            bars_plot = gr.Plot(first["bars"], show_label=False)
    unmasked = prediction("untick the causal mask: how much weight will the first token then give itself? (with the "
                          "mask it is exactly 1)", elem_id="predict-unmasked")
    try_this(
        "Step to **softmax**, then untick *Causal mask*: the zeros above the diagonal fill in, and the first token "
        "stops putting all its weight on itself.",
        "Set d_model to 64 and untick *Scale scores*: at the softmax step most rows become almost one-hot. Tick it again.",
        "Set **Heads** to 2 or 4 and step through: each head gets its own weights (pick the head to show), and the "
        "*concat* step glues their outputs back together. Try 3 heads with d_model 8 to see why heads must divide the width.",
    )
    state = gr.State(Checked.start(DEFAULT_SENTENCE, "words", RANDOM))
    inputs = [state, unit, d_model, n_heads, scaled, causal, seed, step, head, query, source, ctx.user_id]
    outputs = [token_view, step_md, matrix_plot, bars_plot, step, head, query, sentence, unit, state]
    show = dict(inputs=inputs, outputs=outputs, show_progress="hidden", api_name=False)
    on_typed([sentence], check_sentence, [], state, step_view_new, inputs, outputs, extra=[unit, source], buttons=[run])
    # .input fires on the learner's own changes only, so the handler's updates never loop back
    for event in (unit.input, source.input):
        event(step_view_new, trigger_mode="always_last", **show)
    for event in (scaled.input, causal.input, query.input, seed.input, d_model.input, n_heads.input, step.input, head.input):
        event(step_view, trigger_mode="always_last", **show)
    following.click(step_view_next, **show)
    previous.click(step_view_previous, **show)
    controls = dict(state=state, unit=unit, d_model=d_model, n_heads=n_heads, scaled=scaled, seed=seed, head=head,
                    source=source, user_id=ctx.user_id)
    unmasked.reveal(named_event(predict_unmasked, inputs={"guess": unmasked.guess, **controls},
                                outputs={"feedback": unmasked.feedback, "causal": causal, **dict(zip(STEP_OUTPUTS, outputs))}))
    return source


def _saturation_lab(ctx: LessonContext) -> None:
    markdown("### Lab: why divide by √d_k?")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            d_k = gr.Radio(D_K_CHOICES, value=64, label="Width of a head d_k")
            first = saturation_view(64)  # the same for everyone: drawn once, shown as the tab opens
            saturation_md = markdown(first[2])
        with gr.Column(scale=3):
            saturation_bars = gr.Plot(first[0], show_label=False)
            saturation_lines = gr.Plot(first[1], show_label=False)
    spread = prediction(f"at d_k = {SPREAD_D_K}, how widely will the raw scores QKᵀ spread (their standard deviation)?",
                        elem_id="predict-spread")
    try_this(
        "Move d_k from 4 to 1024: without the scaling (orange) one key takes nearly all the weight, so the gradients "
        "reaching the other keys vanish; with it (blue) the spread stays the same.",
    )
    io = dict(inputs=d_k, outputs=[saturation_bars, saturation_lines, saturation_md], show_progress="hidden", api_name=False)
    d_k.input(saturation_view, **io)
    spread.reveal(named_event(predict_spread, inputs={"guess": spread.guess},
                              outputs={"feedback": spread.feedback, "d_k": d_k, "bars": saturation_bars,
                                       "lines": saturation_lines, "summary": saturation_md}))


def _model_lab(ctx: LessonContext, source: gr.Dropdown) -> None:
    markdown("### Lab: attention inside a trained MiniGPT")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            # the shipped checkpoints at build time; the page load adds the learner's own runs
            shipped = checkpoint_choices("minigpt", None)
            model = gr.Dropdown(shipped, value=shipped[0][1] if shipped else None, label="MiniGPT checkpoint",
                                info="the shipped one, your runs from tab 4, or your tab-11 workflow's (BPE too)")
            prompt = gr.Textbox(DEFAULT_PROMPT, label="Prompt", max_length=MAX_SENTENCE_CHARS, info="Enter to show",
                                elem_id="attention-prompt")
            layer = gr.Radio([1], value=1, label="Enlarge layer", elem_id="attention-enlarge-layer")
            model_head = gr.Radio([1], value=1, label="Enlarge head")
            show_maps = gr.Button("Show attention", variant="primary")
            model_md = markdown("")
        with gr.Column(scale=3):
            prompt_view = gr.HTML()
            grid_plot = gr.Plot(show_label=False)
            big_plot = gr.Plot(show_label=False)
    zeros = prediction("how many of the enlarged map's weights are exactly 0? (the summary says how many tokens the "
                       "prompt has)", unit="zeros", elem_id="predict-zeros")
    try_this(
        "Look for a head whose map is a bright line just below the diagonal: it copies from the previous character "
        "(the summary on the left says how much). Which layer is it in?",
        "Type a prompt from the training text, then the same words misspelled: do the patterns survive?",
        "Train your own run in tab 4 with 1 layer and compare its maps with the shipped model's.",
    )
    state = gr.State(Checked.start(DEFAULT_PROMPT))
    maps_io = dict(inputs=[state, model, layer, model_head, ctx.user_id],
                   outputs=[prompt_view, grid_plot, big_plot, model_md, layer, model_head], show_progress="hidden", api_name=False)
    on_typed([prompt], check_prompt, [], state, model_view_checked, maps_io["inputs"], maps_io["outputs"], buttons=[show_maps])
    zeros.reveal(named_event(predict_zeros, inputs={"guess": zeros.guess, "state": state, "path": model, "layer": layer,
                                                    "head": model_head, "user_id": ctx.user_id},
                             outputs={"feedback": zeros.feedback}))
    # model.change covers the learner's pick and a refresh that picks another checkpoint; a refresh that
    # keeps the same one (opening the tab again) changes nothing, so nothing is recomputed
    for event in (model.change, layer.input, model_head.input):
        event(model_view_checked, trigger_mode="always_last", **maps_io)
    # the checkpoint lists: filled when the page opens, refreshed whenever the tab is opened
    refresh = dict(inputs=[ctx.user_id, model], outputs=model, show_progress="hidden", api_name=False)
    sources = dict(inputs=[ctx.user_id, source], outputs=source, show_progress="hidden", api_name=False)
    ctx.on_open(model_view_checked, **maps_io)
    ctx.on_open(refresh_checkpoints, **refresh)
    ctx.on_open(refresh_sources, **sources)
    ctx.tab.select(refresh_checkpoints, **refresh)
    ctx.tab.select(refresh_sources, **sources)


def build(ctx: LessonContext) -> None:
    lesson_text("part05_attention")
    source = _step_through_lab(ctx)
    _saturation_lab(ctx)
    _model_lab(ctx, source)
    end_of_tab_check("part05")

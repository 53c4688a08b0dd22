"""Tab: Attention, step by step (Part 5). UI only: every number comes from core.attention."""
from __future__ import annotations

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from core import attention
from lessons.common import LessonContext, lesson_text, markdown, try_this
from lessons.plots import DIVERGING_SCALE, HEATMAP_SCALE, PALETTE, figure, heatmap, visible
from lessons.tokens import tokens_html

DEFAULT_SENTENCE = "the cat sat on the mat"
MAX_SENTENCE_CHARS = 200  # Textbox(max_length) is only enforced by the browser: checked again here
D_K_CHOICES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
SATURATION_QUERIES = 256  # random queries averaged per d_k: smooth enough, and fast enough to feel live
# short names of the steps, for the "you are here" strip above the matrix
STEP_SHORT = {"x": "X", "q": "Q", "k": "K", "v": "V", "scores": "QKᵀ", "scaled_scores": "÷√d_k",
              "masked_scores": "mask", "weights": "softmax", "head_outputs": "·V", "concat": "concat", "projected": "·W_o"}
CELL_TEXT_MAX_COLUMNS = 16  # beyond this the numbers no longer fit in the cells; hover still shows them


# ----------------------------------------------------------------------------- step-through


def _compute(sentence, unit, d_model, n_heads, scaled, causal, seed):
    if len(sentence or "") > MAX_SENTENCE_CHARS:
        raise ValueError(f"The sentence has {len(sentence)} characters; keep it under {MAX_SENTENCE_CHARS}.")
    tokens = attention.split_tokens(sentence, unit)
    x, w = attention.random_inputs(tokens, int(d_model), int(seed or 0))
    steps = attention.attention_steps(x, n_heads=int(n_heads), causal=bool(causal), scaled=bool(scaled), **w)
    return tokens, steps, attention.describe_steps(steps, tokens, int(n_heads), bool(scaled), bool(causal))


def step_through(sentence, unit, d_model, n_heads, scaled, causal, seed, step, head, query, move=0):
    """Everything the step-through shows, for the current controls; `move` is ±1 for Previous/Next."""
    try:
        tokens, steps, described = _compute(sentence, unit, d_model, n_heads, scaled, causal, seed)
    except ValueError as err:
        raise gr.Error(str(err)) from None
    n_heads = int(n_heads)
    number = min(max(int(step or 1) + move, 1), len(described))
    head = min(max(int(head or 1), 1), n_heads)
    query = int(query) if query is not None and 0 <= int(query) < len(tokens) else len(tokens) - 1
    current = described[number - 1]
    return (
        tokens_html(tokens),
        _step_text(described, number, head, n_heads),
        step_figure(current, number, head, query),
        query_bars(steps["weights"], tokens, query, n_heads),
        gr.Slider(maximum=len(described), value=number),
        gr.Radio(choices=list(range(1, n_heads + 1)), value=head, visible=n_heads > 1),
        gr.Dropdown(choices=[(f"{i + 1}: {visible(t)}", i) for i, t in enumerate(tokens)], value=query),
    )


def step_next(*args):
    return step_through(*args, move=1)


def step_previous(*args):
    return step_through(*args, move=-1)


def _step_text(described, number, head, n_heads) -> str:
    step = described[number - 1]
    strip = " → ".join(f"**[{STEP_SHORT[s.key]}]**" if i == number - 1 else STEP_SHORT[s.key] for i, s in enumerate(described))
    which = f" · showing head {head} of {n_heads}" if step.per_head else ""
    return (f"{strip}\n\n### Step {number} of {len(described)} · {step.title}\n"
            f"**{step.formula}** · shape **{step.shape_text()}**{which}\n\n{step.note}")


def step_figure(step: attention.Step, number: int, head: int, query: int) -> go.Figure:
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
    fig.update_layout(xaxis_title="key token" if keys else "dimension", yaxis_title="query token" if keys else "token")
    # outline the query picked below, so the bars and the matrix row are visibly the same numbers
    fig.add_shape(type="rect", x0=-0.5, x1=m.shape[1] - 0.5, y0=query - 0.5, y1=query + 0.5,
                  line=dict(color=PALETTE[1], width=2))
    return fig


def query_bars(weights: np.ndarray, tokens: list[str], query: int, n_heads: int) -> go.Figure:
    """One query's row of attention weights, as bars over the keys (one colour per head)."""
    rows = weights if weights.ndim == 3 else weights[None]
    labels = [visible(t) for t in tokens]
    fig = figure(f"Where “{visible(tokens[query])}” (token {query + 1}) looks: its row of weights",
                 "key token", "attention weight", height=300)
    for h in range(n_heads):
        fig.add_trace(go.Bar(x=list(range(len(tokens))), y=rows[h, query], name=f"head {h + 1}",
                             marker_color=PALETTE[h % len(PALETTE)], customdata=labels,
                             hovertemplate=f"head {h + 1} · key %{{customdata}}<br>weight %{{y:.3f}}<extra></extra>"))
    fig.update_layout(barmode="group", showlegend=n_heads > 1)
    fig.update_xaxes(tickmode="array", tickvals=list(range(len(tokens))), ticktext=labels)
    fig.update_yaxes(range=[0, 1])
    return fig


# ----------------------------------------------------------------------------- saturation


def saturation_view(d_k):
    """One query's softmax with and without 1/√d_k, and how peaked softmax gets as d_k grows."""
    d_k = int(d_k)
    if d_k not in D_K_CHOICES:
        raise gr.Error(f"Pick d_k from {', '.join(map(str, D_K_CHOICES))}.")
    example = attention.saturation_example(d_k)
    curve = attention.softmax_saturation(D_K_CHOICES, n_queries=SATURATION_QUERIES)
    i = D_K_CHOICES.index(d_k)

    keys = [f"key {j + 1}" for j in range(len(example["scores"]))]
    bars = figure(f"One query, 8 keys, d_k = {d_k}: softmax of the scores", "key", "attention weight", height=300)
    bars.add_trace(go.Bar(x=keys, y=example["weights_unscaled"], name="softmax(QKᵀ)", marker_color=PALETTE[1],
                          customdata=example["scores"], hovertemplate="score %{customdata:.2f}<br>weight %{y:.3f}<extra></extra>"))
    bars.add_trace(go.Bar(x=keys, y=example["weights_scaled"], name="softmax(QKᵀ/√d_k)", marker_color=PALETTE[0],
                          customdata=example["scores"] / np.sqrt(d_k), hovertemplate="scaled score %{customdata:.2f}<br>weight %{y:.3f}<extra></extra>"))
    bars.update_layout(barmode="group")
    bars.update_yaxes(range=[0, 1])

    lines = figure(f"How peaked softmax gets as d_k grows (average over {SATURATION_QUERIES} queries)", "d_k (log scale)", "largest weight in a row", height=300)
    lines.add_trace(go.Scatter(x=curve["d_k"], y=curve["max_weight_unscaled"], name="without 1/√d_k", mode="lines+markers", line_color=PALETTE[1]))
    lines.add_trace(go.Scatter(x=curve["d_k"], y=curve["max_weight_scaled"], name="with 1/√d_k", mode="lines+markers", line_color=PALETTE[0]))
    lines.add_hline(y=1 / 8, line_dash="dot", line_color=PALETTE[7], annotation_text="uniform (1/8)")
    lines.add_vline(x=d_k, line_dash="dash", line_color=PALETTE[7])
    lines.update_xaxes(type="log")
    lines.update_yaxes(range=[0, 1.05])

    summary = (f"At d_k = {d_k} the raw scores QKᵀ spread with a standard deviation of "
               f"**{curve['score_std_unscaled'][i]:.2f}** (about √{d_k} = {np.sqrt(d_k):.2f}), so softmax gives the top key "
               f"**{curve['max_weight_unscaled'][i]:.2f}** of the weight on average. Divided by √d_k the spread is "
               f"**{curve['score_std_scaled'][i]:.2f}** and the top key gets **{curve['max_weight_scaled'][i]:.2f}**.")
    return bars, lines, summary


# ----------------------------------------------------------------------------- layout


def build(ctx: LessonContext) -> None:
    lesson_text("part05_attention")

    markdown("### Lab: self-attention, one matrix at a time")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            sentence = gr.Textbox(DEFAULT_SENTENCE, label="Sentence", max_length=MAX_SENTENCE_CHARS,
                                  info=f"at most {attention.MAX_TOKENS} tokens; Enter to run")
            unit = gr.Radio(list(attention.TOKEN_UNITS), value="words", label="Tokens are")
            d_model = gr.Slider(1, 64, value=8, step=1, label="Embedding width d_model")
            n_heads = gr.Slider(1, 8, value=1, step=1, label="Heads", info="must divide d_model")
            scaled = gr.Checkbox(True, label="Scale scores by 1/√d_k")
            causal = gr.Checkbox(True, label="Causal mask (no peeking at later tokens)")
            seed = gr.Number(0, label="Seed of the random embeddings and weights", precision=0, minimum=0, maximum=2**31 - 1)
            run = gr.Button("Run attention", variant="primary")
        with gr.Column(scale=3):
            token_view = gr.HTML()
            step_md = markdown("")
            with gr.Row():
                previous = gr.Button("◀ Previous step", size="sm")
                step = gr.Slider(1, 10, value=1, step=1, label="Step", scale=3)
                following = gr.Button("Next step ▶", size="sm")
            head = gr.Radio([1], value=1, label="Head shown", visible=False)
            matrix_plot = gr.Plot(show_label=False)
            query = gr.Dropdown(label="Query token: its row of weights", choices=[], value=None)
            bars_plot = gr.Plot(show_label=False)
    try_this(
        "Step to **softmax**, then untick *Causal mask*: the zeros above the diagonal fill in, and the first token "
        "stops putting all its weight on itself.",
        "Set d_model to 64 and untick *Scale scores*: at the softmax step most rows become almost one-hot. Tick it again.",
        "Set **Heads** to 2 or 4 and step through: each head gets its own weights (pick the head to show), and the "
        "*concat* step glues their outputs back together. Try 3 heads with d_model 8 to see why heads must divide the width.",
    )

    inputs = [sentence, unit, d_model, n_heads, scaled, causal, seed, step, head, query]
    outputs = [token_view, step_md, matrix_plot, bars_plot, step, head, query]
    show = dict(inputs=inputs, outputs=outputs, show_progress="hidden")
    # .input fires on the learner's own changes only, so the handler's updates never loop back
    for event in (run.click, sentence.submit, unit.input, scaled.input, causal.input, query.input, seed.submit,
                  d_model.input, n_heads.input, step.input, head.input):
        event(step_through, trigger_mode="always_last", **show)
    following.click(step_next, **show)
    previous.click(step_previous, **show)
    ctx.demo.load(step_through, **show)

    markdown("### Lab: why divide by √d_k?")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            d_k = gr.Radio(D_K_CHOICES, value=64, label="Width of a head d_k")
            saturation_md = markdown("")
        with gr.Column(scale=3):
            saturation_bars = gr.Plot(show_label=False)
            saturation_lines = gr.Plot(show_label=False)
    try_this(
        "Move d_k from 4 to 1024: without the scaling (orange) one key takes nearly all the weight, so the gradients "
        "reaching the other keys vanish; with it (blue) the spread stays the same.",
    )
    d_k.input(saturation_view, inputs=d_k, outputs=[saturation_bars, saturation_lines, saturation_md], show_progress="hidden")
    ctx.demo.load(saturation_view, inputs=d_k, outputs=[saturation_bars, saturation_lines, saturation_md], show_progress="hidden")

"""Tab: Core math: softmax, cross-entropy, gradient descent (Part 3).

Three labs, one after the other. Every number comes from core.probability / core.optimizers; the handlers
below only parse widgets, call core and draw. Handlers are module-level so tests and bench/ can
call them directly.
"""
from __future__ import annotations

import html

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from core import optimizers as O
from core import probability as P
from lessons.common import LessonContext, lesson_text, markdown, try_this
from lessons.plots import PALETTE, figure

SOFTMAX_LOGITS = "3.2, 2.1, 1.8, 1.2, 0.5, -1.0"
SOFTMAX_LABELS = "mat, floor, sofa, table, roof, moon"
STABILITY_LOGITS = "1000, 1001, 1002"
CE_LOGITS, CE_LABELS = "2.0, 1.0, 0.1", "cat, dog, fish"
BATCH = "2.0, 1.0, 0.1 -> 0\n0.5, 2.5, 0.3 -> 1\n1.0, 1.0, 1.0 -> 2\n3.0, 0.2, -1.0 -> 2"
TEMPERATURES = np.linspace(0, 5, 101)  # the entropy-vs-temperature curve
SURFACE_CHOICES = [(s.title, s.key) for s in O.SURFACES.values()]
DEFAULT_SURFACE = "valley"
DEFAULT_STEPS = 40
SMALL = 300  # plot height when two plots share a row


def _parsed(parse, *args):
    """core raises ValueError with a learner-readable message; the tab shows it as an error."""
    try:
        return parse(*args)
    except ValueError as err:
        raise gr.Error(str(err)) from None


def _as_text(label: str) -> str:
    """A vocabulary label inside Markdown: shown literally, never as formatting or a formula."""
    # gradio reads $…$ as LaTeX before Markdown runs (escaping does not help), so swap the sign
    return html.escape(label).replace("$", "＄").translate({ord(c): f"\\{c}" for c in "*_`[]#"})


def _bars(fig: go.Figure, labels, values, name: str, colour: str, fmt: str = ".4f", **kwargs) -> go.Figure:
    # labels such as "1", "2" must stay names of tokens, not become numbers on the x axis
    fig.update_xaxes(type="category")
    kwargs.setdefault("hovertemplate", f"%{{x}}<br>{name}: %{{y:{fmt}}}<extra></extra>")
    fig.add_trace(go.Bar(x=labels, y=values, name=name, marker_color=colour, **kwargs))
    return fig


# --- Softmax lab ----------------------------------------------------------------------------

def softmax_lab(logits_text: str, labels_text: str, temperature: float, top_k: int, top_p: float, samples: int, seed):
    """(summary, probabilities, log-probabilities, entropy vs T, sampling histogram, top-k/top-p)."""
    logits = _parsed(P.parse_logits, logits_text)
    labels = _parsed(P.parse_labels, labels_text, len(logits))
    if temperature == 0:
        gr.Warning("Temperature 0 means greedy decoding: all probability goes to the top token (argmax), no division by zero.")
    probs = P.softmax(logits, temperature)
    log_probs = P.log_softmax(logits, temperature)
    entropy = P.entropy(probs)
    top = int(np.argmax(probs))
    summary = (f"At **T = {temperature:g}** the top token **{_as_text(labels[top])}** gets p = {probs[top]:.4f}. "
               f"**Entropy** H = −Σ p ln p = **{entropy:.4f} nats** (0 = certain; ln {len(logits)} = "
               f"{P.uniform_loss(len(logits)):.4f} = uniform over all {len(logits)} tokens).")

    fig_p = _bars(figure(f"Probabilities at T = {temperature:g}", "token", "probability", height=SMALL),
                  labels, probs, "p", PALETTE[0], text=[f"{p:.3f}" for p in probs], textposition="outside")
    fig_p.update_yaxes(range=[0, 1.1])

    finite = np.isfinite(log_probs)
    fig_log = _bars(figure("Log-probabilities ln p", "token", "ln p (nats)", height=SMALL), labels,
                    np.where(finite, log_probs, None), "ln p", PALETTE[4],
                    text=[f"{v:.2f}" if ok else "−∞" for v, ok in zip(log_probs, finite)], textposition="outside")
    fig_log.update_yaxes(range=[1.2 * min(log_probs[finite].min(), -1.0), 0.3])
    if not finite.all():
        fig_log.add_annotation(text="−∞: probability exactly 0 at T = 0", showarrow=False, xref="paper", yref="paper",
                               x=0.98, y=0.05, xanchor="right")

    fig_h = figure("Entropy vs temperature", "temperature T", "entropy (nats)", height=SMALL)
    fig_h.add_trace(go.Scatter(x=TEMPERATURES, y=P.entropy_curve(logits, TEMPERATURES), mode="lines", name="H(T)",
                               line=dict(color=PALETTE[6]), hovertemplate="T = %{x:.2f}<br>H = %{y:.4f} nats<extra></extra>"))
    fig_h.add_trace(go.Scatter(x=[temperature], y=[entropy], mode="markers", name="your T",
                               marker=dict(size=12, color=PALETTE[1]),
                               hovertemplate="T = %{x:g}<br>H = %{y:.4f} nats<extra></extra>"))
    fig_h.add_hline(y=P.uniform_loss(len(logits)), line_dash="dash", line_color=PALETTE[7],
                    annotation_text=f"uniform: ln {len(logits)}", annotation_position="bottom right")

    counts, freqs = _parsed(P.sample_frequencies, probs, samples, seed)
    fig_s = figure(f"{int(samples):,} samples at T = {temperature:g}", "token", "share of draws", height=SMALL)
    _bars(fig_s, labels, probs, "probability", PALETTE[0])
    _bars(fig_s, labels, freqs, "sampled share", PALETTE[1], customdata=counts,
          hovertemplate="%{x}<br>sampled share: %{y:.4f} (%{customdata} draws)<extra></extra>")

    fig_f = figure(f"Top-k (k = {int(top_k)}) and top-p (p = {top_p:g}), renormalised", "token", "probability", height=SMALL)
    _bars(fig_f, labels, probs, "softmax", PALETTE[7])
    _bars(fig_f, labels, P.top_k_filter(probs, top_k), "top-k", PALETTE[2])
    _bars(fig_f, labels, P.top_p_filter(probs, top_p), "top-p", PALETTE[5])
    return summary, fig_p, fig_log, fig_h, fig_s, fig_f


def stability_lab(logits_text: str) -> str:
    """Markdown table: the textbook formula next to the max trick, intermediate values included."""
    logits = _parsed(P.parse_logits, logits_text)
    steps = P.stability_steps(logits)
    rows = ["| z | exp(z) | naive p | z − max | exp(z − max) | p with the max trick |", "|---:|---:|---:|---:|---:|---:|"]
    for i in range(len(logits)):
        rows.append(f"| {steps['logits'][i]:g} | {steps['exp'][i]:.4g} | {steps['naive'][i]:.4f} | {steps['shifted'][i]:g} "
                    f"| {steps['exp_shifted'][i]:.4g} | **{steps['stable'][i]:.4f}** |")
    broken = not np.all(np.isfinite(steps["naive"]))
    verdict = ("The naive formula **breaks**: exp(z) overflows float64 above z ≈ 709.78, and inf / inf = **nan**. "
               "Subtracting the largest logit first gives exactly the same probabilities with every exponent ≤ 0."
               if broken else
               "Both columns agree here: the logits are small enough for exp(z). "
               "Try 1000, 1001, 1002 to make the naive one break.")
    return "\n".join(rows) + "\n\n" + verdict


# --- Cross-entropy lab ----------------------------------------------------------------------

def ce_targets(logits_text: str, labels_text: str, current: str | None):
    """The target dropdown follows the vocabulary; it keeps the learner's choice when it still exists."""
    logits = _parsed(P.parse_logits, logits_text)
    labels = _parsed(P.parse_labels, labels_text, len(logits))
    return gr.Dropdown(choices=labels, value=current if current in labels else labels[0])


def cross_entropy_lab(logits_text: str, labels_text: str, target: str | None, push: float):
    """(summary, -log p curve with the current point, probabilities and gradient bars)."""
    base = _parsed(P.parse_logits, logits_text)
    labels = _parsed(P.parse_labels, labels_text, len(base))
    if target not in labels:
        target = labels[0]
    index = labels.index(target)
    logits = P.logits_with_push(base, index, push)
    name = _as_text(target)
    probs = P.softmax(logits)
    loss = P.cross_entropy(logits, index)
    grad = P.cross_entropy_gradient(logits, index)
    perplexity = P.perplexity(loss)
    summary = (f"Correct token **{name}**: p = {probs[index]:.4f}, so the **loss** = −ln {probs[index]:.4f} = **{loss:.4f}** and "
               f"**perplexity** = $e^{{{loss:.4f}}}$ = **{perplexity:.3f}**: the model is as unsure as a fair pick among "
               f"{perplexity:.2f} tokens.\n\n"
               f"The **gradient** of the loss with respect to the logits is softmax − one-hot: {name}'s bar is "
               f"p − 1 = {grad[index]:.4f}, every other bar is its own p. A gradient-descent step subtracts it, so "
               f"{name}'s logit goes **up** and all the others go **down**.")
    if push:
        summary += f"\n\n(The logit of {name} is pushed by {push:+g}: {base[index]:g} → {logits[index]:g}.)"

    p_axis, curve = P.loss_curve()
    uniform_p = 1 / len(logits)
    fig_curve = figure("Loss = −ln p(correct token)", "probability of the correct token", "loss (nats)", height=SMALL)
    fig_curve.add_trace(go.Scatter(x=p_axis, y=curve, mode="lines", name="−ln p", line=dict(color=PALETTE[0]),
                                   hovertemplate="p = %{x:.4f}<br>loss = %{y:.4f}<extra></extra>"))
    fig_curve.add_trace(go.Scatter(x=[uniform_p], y=[P.uniform_loss(len(logits))], mode="markers",
                                   name=f"uniform guess 1/{len(logits)}",
                                   marker=dict(size=10, color=PALETTE[7], symbol="diamond"),
                                   hovertemplate="p = %{x:.4f}<br>loss = %{y:.4f}<extra></extra>"))
    fig_curve.add_trace(go.Scatter(x=[probs[index]], y=[loss], mode="markers", name=f"p({target})",
                                   marker=dict(size=13, color=PALETTE[1]),
                                   hovertemplate="p = %{x:.4f}<br>loss = %{y:.4f}<extra></extra>"))
    fig_curve.update_xaxes(range=[0, 1.02])

    fig_grad = figure("Probabilities and the gradient d loss / d logits", "token", "value", height=SMALL)
    _bars(fig_grad, labels, probs, "p (softmax)", PALETTE[0])
    _bars(fig_grad, labels, grad, "gradient = p − one-hot", PALETTE[1], text=[f"{g:+.3f}" for g in grad], textposition="outside")
    fig_grad.update_yaxes(range=[-1.15, 1.15])
    return summary, fig_curve, fig_grad


def loss_meaning(vocab_size, loss) -> str:
    """ln V for an untrained model, and a loss read back as a probability, with the numbers."""
    if vocab_size is None or not 2 <= vocab_size <= 10_000_000:
        raise gr.Error("The vocabulary size must be a whole number from 2 to 10,000,000 (65 for the guide's characters).")
    if loss is None or not 0 <= loss <= 50:
        raise gr.Error("A loss is a number from 0 upwards (try 0.09, the guide's final loss; 50 is the most this box takes).")
    v = int(vocab_size)
    start, p = P.uniform_loss(v), P.probability_from_loss(loss)
    return (f"**An untrained model** spreads probability evenly over the V = {v:,} tokens: p = 1/{v:,} = {1 / v:.5f} on the "
            f"correct one, so its loss is −ln(1/{v:,}) = **ln {v:,} = {start:.3f}** (perplexity {v:,}). A first loss far "
            f"above {start:.2f} means the initial model is confidently wrong.\n\n"
            f"**A loss of {loss:g}** means the correct token gets, on average (geometric mean), p = $e^{{-{loss:g}}}$ = "
            f"**{p:.3f}**: perplexity {P.perplexity(loss):.3f}, {p * v:,.0f}× the uniform guess.")


def batch_lab(text: str) -> str:
    """Per-position losses, their mean, and PyTorch's F.cross_entropy on the same batch."""
    logits, targets = _parsed(P.parse_batch, text)
    per_position = P.cross_entropy_per_position(logits, targets)
    probs = P.softmax(logits)
    rows = ["| position | logits | target | p(target) | loss = −ln p |", "|---:|---|---:|---:|---:|"]
    for i, (row, t) in enumerate(zip(logits, targets)):
        rows.append(f"| {i} | {', '.join(f'{z:g}' for z in row)} | {t} | {probs[i, t]:.4f} | {per_position[i]:.4f} |")
    mean = P.cross_entropy(logits, targets)
    reference = P.torch_cross_entropy(logits, targets)
    return ("\n".join(rows) + f"\n\n**Mean loss over {len(targets)} positions: {mean:.6f}**. "
            f"`torch.nn.functional.cross_entropy(logits, targets)` gives **{reference:.6f}** on the same batch.")


# --- Gradient descent lab -------------------------------------------------------------------

def surface_defaults(key: str):
    """A surface's own start point and a learning rate that works there for SGD."""
    surface = O.SURFACES[key]
    y0 = surface.start[1] if surface.dim == 2 else 0.0
    return (gr.Slider(value=surface.lr), gr.Number(value=surface.start[0], label=f"start {surface.axis_names[0]}"),
            gr.Number(value=y0, label=f"start {surface.axis_names[1]}" if surface.dim == 2 else "start y",
                      visible=surface.dim == 2))


def step_range(steps: int):
    return gr.Slider(maximum=int(steps), value=int(steps))


def descent_lab(key: str, optimizer: str, lr: float, steps: int, x0, y0, shown_step: int):
    """(what happened in words, the path on the surface up to shown_step, loss per step, the fitted line).

    The last plot exists only for the regression surfaces (hidden otherwise): the data points and
    the line that the parameters at shown_step stand for.
    """
    surface = O.SURFACES[key]
    start = (x0, y0)[: surface.dim]
    if any(c is None for c in start):
        raise gr.Error("Give the start point a number for each coordinate.")
    run = _parsed(O.run_descent, surface, optimizer, lr, steps, start)
    shown = min(int(shown_step), run.steps_taken)
    message = run.message()
    if run.diverged:
        message = f"⚠️ **{message}** The path is drawn up to the last finite point."
    limit = f" On this surface plain SGD diverges above lr = {surface.sgd_limit:.3g}." if surface.sgd_limit else ""
    summary = f"{message}\n\n{surface.title}: loss = {surface.formula}.{limit} Showing step {shown} of {run.steps_taken}."

    path, losses = run.points[: shown + 1], run.losses[: shown + 1]
    hover = "step %{customdata}<br>" + "<br>".join(f"{n} = %{{{c}:.4f}}" for n, c in zip(surface.axis_names, "xy"))
    title = f"{optimizer}, lr = {lr:g}"
    if surface.dim == 2:
        xs, ys, z, z_title = surface.contour()
        fig = figure(title, surface.axis_names[0], surface.axis_names[1], height=420)
        fig.add_trace(go.Contour(x=xs, y=ys, z=z, colorscale="Blues", reversescale=True, ncontours=25, name=z_title,
                                 colorbar=dict(title=dict(text=z_title, side="right"), thickness=12),
                                 hovertemplate=f"{surface.axis_names[0]} = %{{x:.3f}}<br>{surface.axis_names[1]} = %{{y:.3f}}"
                                               f"<br>{z_title} = %{{z:.4g}}<extra></extra>"))
        fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines+markers", name="path", customdata=np.arange(len(path)),
                                 line=dict(color=PALETTE[1], width=2), marker=dict(size=5),
                                 hovertemplate=hover + "<extra></extra>"))
        fig.add_trace(go.Scatter(x=[surface.minimum[0]], y=[surface.minimum[1]], mode="markers", name="minimum",
                                 marker=dict(symbol="star", size=14, color=PALETTE[2]), hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=path[-1:, 0], y=path[-1:, 1], mode="markers", name=f"step {shown}",
                                 marker=dict(size=13, color=PALETTE[3], line=dict(color="white", width=1.5)), hoverinfo="skip"))
        fig.update_xaxes(range=list(surface.x_range))
        fig.update_yaxes(range=list(surface.y_range))
    else:
        xs, curve = surface.grid()
        fig = figure(title, surface.axis_names[0], "loss", height=420)
        fig.add_trace(go.Scatter(x=xs, y=curve, mode="lines", name="loss", line=dict(color=PALETTE[0]),
                                 hovertemplate=f"{surface.axis_names[0]} = %{{x:.3f}}<br>loss = %{{y:.4f}}<extra></extra>"))
        fig.add_trace(go.Scatter(x=path[:, 0], y=losses, mode="lines+markers", name="path", customdata=np.arange(len(path)),
                                 line=dict(color=PALETTE[1], width=1.5), marker=dict(size=6),
                                 hovertemplate=f"step %{{customdata}}<br>{surface.axis_names[0]} = %{{x:.4f}}"
                                               "<br>loss = %{y:.4g}<extra></extra>"))
        fig.add_trace(go.Scatter(x=path[-1:, 0], y=losses[-1:], mode="markers", name=f"step {shown}",
                                 marker=dict(size=13, color=PALETTE[3]), hoverinfo="skip"))
        fig.update_xaxes(range=list(surface.x_range))
        fig.update_yaxes(range=[-0.05 * curve.max(), curve.max() * 1.05])

    # legend under the plot: on a phone a legend beside the title would cover it
    fig.update_layout(legend=dict(orientation="h", y=-0.24, yanchor="top", x=0, xanchor="left"), margin=dict(b=90))

    fig_loss = figure("Loss per step", "step", "loss (log scale)", height=SMALL)
    fig_loss.add_trace(go.Scatter(x=np.arange(len(run.losses)), y=run.losses, mode="lines", name="loss",
                                  line=dict(color=PALETTE[0]),
                                  hovertemplate="step %{x}<br>loss = %{y:.6g}<extra></extra>"))
    fig_loss.add_trace(go.Scatter(x=[shown], y=[run.losses[shown]], mode="markers", name=f"step {shown}",
                                  marker=dict(size=11, color=PALETTE[3]),
                                  hovertemplate="step %{x}<br>loss = %{y:.6g}<extra></extra>"))
    if run.losses.min() > 0:
        fig_loss.update_yaxes(type="log")
    else:
        fig_loss.update_yaxes(title_text="loss")
    return summary, fig, fig_loss, _fit_plot(surface, run.points[shown], shown)


def _fit_plot(surface: O.Surface, theta: np.ndarray, step: int) -> gr.Plot:
    if surface.predict is None:
        return gr.Plot(visible=False)
    x, y = surface.points
    line_x = np.array([x.min(), x.max()])
    fig = figure(f"Data and line, step {step}", "x", "y", height=SMALL)
    fig.add_trace(go.Scatter(x=x, y=y, mode="markers", name="data", marker=dict(color=PALETTE[7]),
                             hovertemplate="sampled from y = 2x + 1 + noise<br>x = %{x:.3f}<br>y = %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=line_x, y=surface.predict(theta, line_x), mode="lines", name="model", line=dict(color=PALETTE[1]),
                             hovertemplate="x = %{x:.3f}<br>prediction = %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=line_x, y=surface.predict(np.asarray(surface.minimum), line_x), mode="lines", name="best fit",
                             line=dict(color=PALETTE[2], dash="dot"), hoverinfo="skip"))
    fig.update_yaxes(range=[y.min() - 2, y.max() + 2])
    return gr.Plot(value=fig, visible=True)


# --- layout and wiring ----------------------------------------------------------------------

def _half_plot() -> gr.Plot:
    # two to a row on a wide screen; below ~660 px the second wraps under the first
    return gr.Plot(show_label=False, min_width=320)


def _live(component, fn, inputs, outputs, event="change"):
    """Sliders redraw while they move; only the latest value is computed when events pile up."""
    getattr(component, event)(fn, inputs=inputs, outputs=outputs, trigger_mode="always_last", show_progress="hidden",
                              api_name=False)


def _softmax_lab(ctx: LessonContext) -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            logits = gr.Textbox(SOFTMAX_LOGITS, label="Logits (2 to 50, comma-separated)", max_length=1600,
                                elem_id="softmax-logits")
            labels = gr.Textbox(SOFTMAX_LABELS, label="Token labels (optional, one per logit)", max_length=1300)
            temperature = gr.Slider(0, 5, value=1.0, step=0.05, label="Temperature T (0 = greedy)", elem_id="softmax-temperature")
            top_k = gr.Slider(1, P.MAX_LOGITS, value=3, step=1, label="top-k: keep the k most likely tokens")
            top_p = gr.Slider(0.05, 1.0, value=0.9, step=0.05, label="top-p: keep tokens until their total reaches p")
            samples = gr.Slider(10, 10_000, value=1000, step=10, label="Sampled tokens N")
            seed = gr.Number(0, label="Random seed", precision=0, minimum=0, maximum=2 ** 31 - 1)
        with gr.Column(scale=3):
            summary = markdown("", elem_id="softmax-summary")
            with gr.Row():
                probs_plot, log_plot = _half_plot(), _half_plot()
            with gr.Row():
                entropy_plot, sample_plot = _half_plot(), _half_plot()
            filter_plot = gr.Plot(show_label=False)
    inputs = [logits, labels, temperature, top_k, top_p, samples, seed]
    outputs = [summary, probs_plot, log_plot, entropy_plot, sample_plot, filter_plot]
    for box in (logits, labels, seed):
        box.submit(softmax_lab, inputs, outputs, api_name=False)
        box.blur(softmax_lab, inputs, outputs, api_name=False)
    for slider in (temperature, top_k, top_p, samples):
        _live(slider, softmax_lab, inputs, outputs)
    ctx.demo.load(softmax_lab, inputs, outputs, api_name=False)
    try_this("Drag the temperature to 0.1, then to 5, and watch the entropy move from 0 (certain) towards ln V (uniform).",
             "Set N to 10 and change the seed a few times: small samples wander; with 10,000 the histogram hugs the bars.",
             "Set top-p to 0.5: only the tokens that make up the first half of the probability mass survive.")

    markdown("#### Numerical stability: the max trick")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            big_logits = gr.Textbox(STABILITY_LOGITS, label="Logits", max_length=1600)
        with gr.Column(scale=3):
            stability = markdown("", elem_id="stability-table")
    big_logits.submit(stability_lab, big_logits, stability, api_name=False)
    big_logits.blur(stability_lab, big_logits, stability, api_name=False)
    ctx.demo.load(stability_lab, big_logits, stability, api_name=False)
    try_this("Try 1, 2, 3: both columns agree. Then 709, 710, 711: exp(710) is already too big for float64.")


def _cross_entropy_lab(ctx: LessonContext) -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            logits = gr.Textbox(CE_LOGITS, label="Logits (2 to 50, comma-separated)", max_length=1600)
            labels = gr.Textbox(CE_LABELS, label="Token labels (optional)", max_length=1300)
            target = gr.Dropdown(P.parse_labels(CE_LABELS, 3), value="cat", label="Correct next token")
            push = gr.Slider(-6, 6, value=0, step=0.1, label="Push the correct token's logit by", elem_id="ce-push")
        with gr.Column(scale=3):
            summary = markdown("", elem_id="ce-summary")
            with gr.Row():
                curve_plot, grad_plot = _half_plot(), _half_plot()
    inputs, outputs = [logits, labels, target, push], [summary, curve_plot, grad_plot]
    for box in (logits, labels):
        for event in (box.submit, box.blur):
            event(ce_targets, [logits, labels, target], target, api_name=False).then(
                cross_entropy_lab, inputs, outputs, api_name=False)
    target.change(cross_entropy_lab, inputs, outputs, api_name=False)
    _live(push, cross_entropy_lab, inputs, outputs)
    ctx.demo.load(cross_entropy_lab, inputs, outputs, api_name=False)
    try_this("Pick fish (p ≈ 0.10): the loss is 2.32. Push its logit up by 3 and watch the point slide down the curve.",
             "Push the correct logit down to −6: the loss grows without limit as p → 0, and the gradient bar approaches −1.",
             "Set all logits equal (1, 1, 1): the loss is exactly ln 3 = 1.099, the uniform guess.")

    markdown("#### What a loss value means")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            vocab = gr.Number(65, label="Vocabulary size V", precision=0, minimum=2, maximum=10_000_000)
            loss = gr.Number(0.09, label="A loss value", minimum=0, maximum=50)
        with gr.Column(scale=3):
            meaning = markdown("")
    for box in (vocab, loss):
        box.submit(loss_meaning, [vocab, loss], meaning, api_name=False)
        box.blur(loss_meaning, [vocab, loss], meaning, api_name=False)
    ctx.demo.load(loss_meaning, [vocab, loss], meaning, api_name=False)

    markdown("#### A batch: the training loss is the mean over positions")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            batch = gr.Textbox(BATCH, lines=5, max_lines=16, max_length=16 * 1600,
                               label="One position per line: logits -> target index (0 = first token)")
        with gr.Column(scale=3):
            batch_table = markdown("", elem_id="batch-table")
    batch.submit(batch_lab, batch, batch_table, api_name=False)
    batch.blur(batch_lab, batch, batch_table, api_name=False)
    ctx.demo.load(batch_lab, batch, batch_table, api_name=False)
    try_this("Set V to 50257 (GPT-2's vocabulary): an untrained GPT-2 should start near a loss of 10.8.",
             "Change the last line's target from 2 to 0: the batch's mean loss drops, because that position "
             "was confidently wrong.")


def _descent_lab(ctx: LessonContext) -> None:
    default = O.SURFACES[DEFAULT_SURFACE]
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            surface = gr.Dropdown(SURFACE_CHOICES, value=DEFAULT_SURFACE, label="Loss surface")
            optimizer = gr.Radio(list(O.OPTIMIZERS), value="SGD", label="Optimizer")
            lr = gr.Slider(0.0005, 2.0, value=default.lr, step=0.0005, label="Learning rate η", elem_id="descent-lr")
            steps = gr.Slider(1, 300, value=DEFAULT_STEPS, step=1, label="Steps", elem_id="descent-steps")
            with gr.Row():
                x0 = gr.Number(default.start[0], label="start x", min_width=100)
                y0 = gr.Number(default.start[1], label="start y", min_width=100)
            shown = gr.Slider(0, DEFAULT_STEPS, value=DEFAULT_STEPS, step=1, label="Show the path up to step")
        with gr.Column(scale=3):
            summary = markdown("", elem_id="descent-summary")
            path_plot = gr.Plot(show_label=False)
            with gr.Row():
                loss_plot, fit_plot = _half_plot(), _half_plot()
    inputs, outputs = [surface, optimizer, lr, steps, x0, y0, shown], [summary, path_plot, loss_plot, fit_plot]
    surface.change(surface_defaults, surface, [lr, x0, y0], api_name=False).then(descent_lab, inputs, outputs, api_name=False)
    optimizer.change(descent_lab, inputs, outputs, api_name=False)
    _live(lr, descent_lab, inputs, outputs)
    _live(shown, descent_lab, inputs, outputs)
    # a new step count first resets the step slider to show the whole path, then redraws (the step
    # slider's own change event may not fire: its value can stay the same)
    steps.change(step_range, steps, shown, trigger_mode="always_last", show_progress="hidden", api_name=False).then(
        descent_lab, inputs, outputs, show_progress="hidden", api_name=False)
    for box in (x0, y0):
        box.submit(descent_lab, inputs, outputs, api_name=False)
        box.blur(descent_lab, inputs, outputs, api_name=False)
    ctx.demo.load(descent_lab, inputs, outputs, api_name=False)
    try_this("On the elongated valley, raise SGD's learning rate from 0.4 to 0.49: the zig-zag across the valley grows. "
             "At 0.55 it diverges, and the app says so.",
             "Set lr = 0.05: SGD crawls along the flat x direction (loss ≈ 0.72 after 40 steps); "
             "Momentum with the same lr gets to ≈ 0.09.",
             "On Rosenbrock with lr = 0.001 and 300 steps, SGD is still far up the banana (loss ≈ 3.1); "
             "Momentum reaches ≈ 0.012.")


def build(ctx: LessonContext) -> None:
    lesson_text("part03_core_math")
    # Sections rather than inner tabs: the app's tab bar is the guide's eleven parts, nothing else.
    # Each lab is collapsible, so a learner can fold away the ones already done.
    with gr.Accordion("Lab 1 · Softmax: temperature, sampling, the max trick, top-k and top-p", open=True):
        _softmax_lab(ctx)
    with gr.Accordion("Lab 2 · Cross-entropy: loss, gradient, perplexity, a batch", open=True):
        _cross_entropy_lab(ctx)
    with gr.Accordion("Lab 3 · Gradient descent: SGD, momentum and Adam on loss surfaces", open=True):
        _descent_lab(ctx)

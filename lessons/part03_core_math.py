"""Tab: Core math: softmax, cross-entropy, gradient descent (Part 3).

Three labs, one after the other. Every number comes from core.probability / core.optimizers; the handlers
below only parse widgets, call core and draw. Handlers are module-level so tests and bench/ can
call them directly. Charts are `lessons.plots.Chart`s (plain data): a slider move costs a few
milliseconds of server time, not the ~60 ms that plotly's object tree took.

Typed boxes go through `lessons.inputs` (check, announce once, then the lab), sliders through `_live`
with the last good box values, so a typo is said once and never again by another control.
"""
from __future__ import annotations

import gradio as gr
import numpy as np

from core import optimizers as O
from core import probability as P
from core import quiz as Q
from lessons.check import end_of_tab_check, prediction
from lessons.common import LessonContext, lesson_text, markdown, named_event, shows_errors, try_this
from lessons.inputs import Checked, checker, on_typed
from lessons.plots import PALETTE, Chart, chart
from lessons.tokens import label_text

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


def _as_text(label: str) -> str:
    """A vocabulary label inside Markdown: shown literally, never as formatting or a formula."""
    return label_text(label, markdown=True)


def fit_labels(labels_text: str | None, n: int) -> str:
    """The label box fitted to n logits: default labels for missing ones, extras dropped, one warning.

    A learner who adds a logit has not yet touched the labels; refusing the new logit for that would
    punish the natural order of edits."""
    text = (labels_text or "").strip()
    if not text:
        return text
    labels = [label.strip() for label in text.split(",")]
    if len(labels) == n:
        return text
    defaults = P.default_labels(n)
    fitted = labels[:n] + [d for d in defaults[len(labels):] if d not in labels][: max(0, n - len(labels))]
    gr.Warning(f"There are {n} logits but {len(labels)} labels: "
               + (f"added {', '.join(fitted[len(labels):])}." if len(labels) < n else f"dropped {', '.join(labels[n:])}."))
    return ", ".join(fitted)


def _labels(labels_text: str | None, n: int) -> list[str]:
    return P.parse_labels(fit_labels(labels_text, n), n)


def _bars(fig: Chart, labels, values, name: str, colour: str, fmt: str = ".4f", **props) -> Chart:
    # labels such as "1", "2" must stay names of tokens, not become numbers on the x axis
    fig.axes(x=dict(type="category"))
    props.setdefault("hovertemplate", f"%{{x}}<br>{name}: %{{y:{fmt}}}<extra></extra>")
    return fig.add("bar", x=labels, y=values, name=name, marker=dict(color=colour), **props)


def _hline(fig: Chart, y: float, text: str, colour: str) -> Chart:
    """A dashed horizontal reference line with its label (what fig.add_hline drew, as plain data)."""
    fig.layout.setdefault("shapes", []).append(
        dict(type="line", xref="x domain", x0=0, x1=1, yref="y", y0=y, y1=y, line=dict(color=colour, dash="dash")))
    fig.layout.setdefault("annotations", []).append(
        dict(text=text, xref="x domain", x=1, xanchor="right", yref="y", y=y, yanchor="top", showarrow=False))
    return fig


# --- Softmax lab ----------------------------------------------------------------------------

@shows_errors
def softmax_lab(logits_text: str, labels_text: str, temperature: float, top_k: int, top_p: float, samples: int, seed):
    """(summary, probabilities, log-probabilities, entropy vs T, sampling histogram, top-k/top-p)."""
    logits = P.parse_logits(logits_text)
    labels = _labels(labels_text, len(logits))
    if temperature == 0:
        gr.Warning("Temperature 0 means greedy decoding: all probability goes to the top token (argmax), no division by zero.")
    probs = P.softmax(logits, temperature)
    log_probs = P.log_softmax(logits, temperature)
    entropy = P.entropy(probs)
    top = int(np.argmax(probs))
    summary = (f"At **T = {temperature:g}** the top token **{_as_text(labels[top])}** gets p = {probs[top]:.4f}. "
               f"**Entropy** H = −Σ p ln p = **{entropy:.4f} nats** (0 = certain; ln {len(logits)} = "
               f"{P.uniform_loss(len(logits)):.4f} = uniform over all {len(logits)} tokens).")
    counts, freqs = P.sample_frequencies(probs, samples, seed)
    return (summary, _probability_bars(labels, probs, temperature), _log_bars(labels, log_probs),
            _entropy_curve(logits, temperature, entropy), _sample_bars(labels, probs, counts, freqs, samples, temperature),
            _filter_bars(labels, probs, top_k, top_p))


def _probability_bars(labels, probs, temperature) -> Chart:
    fig = chart(f"Probabilities at T = {temperature:g}", "token", "probability", height=SMALL)
    _bars(fig, labels, probs, "p", PALETTE[0], text=[f"{p:.3f}" for p in probs], textposition="outside")
    return fig.axes(y=dict(range=[0, 1.1]))


def _log_bars(labels, log_probs) -> Chart:
    finite = np.isfinite(log_probs)
    fig = chart("Log-probabilities ln p", "token", "ln p (nats)", height=SMALL)
    _bars(fig, labels, np.where(finite, log_probs, None), "ln p", PALETTE[4],
          text=[f"{v:.2f}" if ok else "−∞" for v, ok in zip(log_probs, finite)], textposition="outside")
    fig.axes(y=dict(range=[1.2 * min(log_probs[finite].min(), -1.0), 0.3]))
    if not finite.all():
        fig.layout["annotations"] = [dict(text="−∞: probability exactly 0 at T = 0", showarrow=False, xref="paper",
                                          yref="paper", x=0.98, y=0.05, xanchor="right")]
    return fig


def _entropy_curve(logits, temperature, entropy) -> Chart:
    fig = chart("Entropy vs temperature", "temperature T", "entropy (nats)", height=SMALL)
    fig.add("scatter", x=TEMPERATURES, y=P.entropy_curve(logits, TEMPERATURES), mode="lines", name="H(T)",
            line=dict(color=PALETTE[6]), hovertemplate="T = %{x:.2f}<br>H = %{y:.4f} nats<extra></extra>")
    fig.add("scatter", x=[temperature], y=[entropy], mode="markers", name="your T", marker=dict(size=12, color=PALETTE[1]),
            hovertemplate="T = %{x:g}<br>H = %{y:.4f} nats<extra></extra>")
    return _hline(fig, P.uniform_loss(len(logits)), f"uniform: ln {len(logits)}", PALETTE[7])


def _sample_bars(labels, probs, counts, freqs, samples, temperature) -> Chart:
    fig = chart(f"{int(samples):,} samples at T = {temperature:g}", "token", "share of draws", height=SMALL)
    _bars(fig, labels, probs, "probability", PALETTE[0])
    return _bars(fig, labels, freqs, "sampled share", PALETTE[1], customdata=counts,
                 hovertemplate="%{x}<br>sampled share: %{y:.4f} (%{customdata} draws)<extra></extra>")


def _filter_bars(labels, probs, top_k, top_p) -> Chart:
    fig = chart(f"Top-k (k = {int(top_k)}) and top-p (p = {top_p:g}), renormalised", "token", "probability", height=SMALL)
    _bars(fig, labels, probs, "softmax", PALETTE[7])
    _bars(fig, labels, P.top_k_filter(probs, top_k), "top-k", PALETTE[2])
    return _bars(fig, labels, P.top_p_filter(probs, top_p), "top-p", PALETTE[5])


def check_logits_labels(logits_text: str, labels_text: str, previous: Checked):
    """First step of a typed change in a logits + labels pair (softmax and cross-entropy labs):
    (the label box, fitted to the logits if needed; the new state)."""
    state = previous.sees(logits_text, labels_text)
    if not state.fresh:
        return gr.skip(), state
    try:
        n = len(P.parse_logits(logits_text))
        fitted = fit_labels(labels_text, n)
        P.parse_labels(fitted, n)
    except ValueError as err:
        return gr.skip(), state.refused(err)
    return (fitted if fitted != (labels_text or "").strip() else gr.skip()), state.accepted(logits_text, fitted)


COLD = 0.1  # the temperature the prediction asks about


@shows_errors
def predict_cold(guess, state: Checked) -> dict:
    """Reveal of the softmax lab's prediction: the top token's probability at T = 0.1 for the learner's
    logits, the verdict, and the temperature slider moved there so the lab shows it."""
    logits = P.parse_logits(state.good[0])
    labels = _labels(state.good[1], len(logits))
    probs = P.softmax(logits, COLD)
    order = np.argsort(logits)[::-1]
    top, second = int(order[0]), int(order[1])
    gap = logits[top] - logits[second]
    reason = (f"dividing by T = {COLD:g} multiplies every gap between logits by {1 / COLD:g}: "
              f"{_as_text(labels[top])}'s lead of {gap:.2f} over {_as_text(labels[second])} becomes {gap / COLD:.1f}, "
              f"and $e^{{-{gap / COLD:.1f}}}$ = {np.exp(-gap / COLD):.2g}. Cold sampling is nearly greedy.")
    return {"feedback": Q.compare_guess(guess, float(probs[top]), reason), "temperature": COLD}


def softmax_view(state: Checked, temperature, top_k, top_p, samples, seed):
    """The softmax lab from the last good boxes: what sliders and the page load call."""
    return softmax_lab(*state.good, temperature, top_k, top_p, samples, seed)


@shows_errors
def stability_lab(logits_text: str) -> str:
    """Markdown table: the textbook formula next to the max trick, intermediate values included."""
    logits = P.parse_logits(logits_text)
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


check_stability = checker(P.parse_logits)


def stability_view(state: Checked) -> str:
    return stability_lab(*state.good)


SHIFT = 1000  # the stability prediction subtracts this from every logit


@shows_errors
def predict_shift(guess, state: Checked) -> dict:
    """Reveal of the stability lab's prediction: the largest logit's probability once SHIFT is subtracted
    from every logit (the same as with the max trick: softmax ignores a common shift)."""
    logits = P.parse_logits(state.good[0])
    p = float(P.stability_steps(logits - SHIFT)["stable"].max())
    reason = (f"softmax only sees the gaps between logits, and subtracting {SHIFT} from all of them keeps every gap: "
              f"the largest still gets p = {p:.4f}, the same as the max trick's column. That is why the trick is exact.")
    return {"feedback": Q.compare_guess(guess, p, reason)}


# --- Cross-entropy lab ----------------------------------------------------------------------

@shows_errors
def ce_targets(logits_text: str, labels_text: str, current: str | None):
    """The target dropdown follows the vocabulary; it keeps the learner's choice when it still exists."""
    logits = P.parse_logits(logits_text)
    labels = _labels(labels_text, len(logits))
    return gr.Dropdown(choices=labels, value=current if current in labels else labels[0])


@shows_errors
def cross_entropy_lab(logits_text: str, labels_text: str, target: str | None, push: float):
    """(summary, -log p curve with the current point, probabilities and gradient bars)."""
    base = P.parse_logits(logits_text)
    labels = _labels(labels_text, len(base))
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
    return summary, _loss_curve(len(logits), probs[index], loss, target), _gradient_bars(labels, probs, grad)


def _loss_curve(n: int, p_target: float, loss: float, target: str) -> Chart:
    p_axis, curve = P.loss_curve()
    hover = "p = %{x:.4f}<br>loss = %{y:.4f}<extra></extra>"
    fig = chart("Loss = −ln p(correct token)", "probability of the correct token", "loss (nats)", height=SMALL)
    fig.add("scatter", x=p_axis, y=curve, mode="lines", name="−ln p", line=dict(color=PALETTE[0]), hovertemplate=hover)
    fig.add("scatter", x=[1 / n], y=[P.uniform_loss(n)], mode="markers", name=f"uniform guess 1/{n}",
            marker=dict(size=10, color=PALETTE[7], symbol="diamond"), hovertemplate=hover)
    fig.add("scatter", x=[p_target], y=[loss], mode="markers", name=f"p({label_text(target)})",
            marker=dict(size=13, color=PALETTE[1]), hovertemplate=hover)
    return fig.axes(x=dict(range=[0, 1.02]))


def _gradient_bars(labels, probs, grad) -> Chart:
    fig = chart("Probabilities and the gradient d loss / d logits", "token", "value", height=SMALL)
    _bars(fig, labels, probs, "p (softmax)", PALETTE[0])
    _bars(fig, labels, grad, "gradient = p − one-hot", PALETTE[1], text=[f"{g:+.3f}" for g in grad], textposition="outside")
    return fig.axes(y=dict(range=[-1.15, 1.15]))


def ce_view(state: Checked, target: str | None, push: float):
    """The cross-entropy lab from the last good boxes (push slider, target pick, page load)."""
    return cross_entropy_lab(*state.good, target, push)


def ce_retarget(state: Checked, target: str | None, push: float):
    """After new boxes: the target list follows the labels, then the lab redraws."""
    return (ce_targets(*state.good, target), *ce_view(state, target, push))


PUSH = 3.0  # the cross-entropy prediction pushes the correct logit by this


@shows_errors
def predict_push(guess, state: Checked, target: str | None) -> dict:
    """Reveal of the cross-entropy lab's prediction: the loss once the correct token's logit is pushed by
    PUSH; the push slider moves there so the lab shows it."""
    base = P.parse_logits(state.good[0])
    labels = _labels(state.good[1], len(base))
    index = labels.index(target) if target in labels else 0
    before = P.cross_entropy(base, index)
    after = P.cross_entropy(P.logits_with_push(base, index, PUSH), index)
    p = float(P.softmax(P.logits_with_push(base, index, PUSH))[index])
    reason = (f"pushing {_as_text(labels[index])}'s logit by +{PUSH:g} raises its p to {p:.4f}, so the loss "
              f"−ln p falls from {before:.4f} to {after:.4f}; it can never go below 0.")
    return {"feedback": Q.compare_guess(guess, after, reason, unit="nats"), "push": PUSH}


def _meaning_problem(vocab_size, loss) -> None:
    if vocab_size is None or not 2 <= vocab_size <= 10_000_000:
        raise ValueError("The vocabulary size must be a whole number from 2 to 10,000,000 (65 for the guide's characters).")
    if loss is None or not 0 <= loss <= 50:
        raise ValueError("A loss is a number from 0 upwards (try 0.09, the guide's final loss; 50 is the most this box takes).")


@shows_errors
def loss_meaning(vocab_size, loss) -> str:
    """ln V for an untrained model, and a loss read back as a probability, with the numbers."""
    _meaning_problem(vocab_size, loss)
    v = int(vocab_size)
    start, p = P.uniform_loss(v), P.probability_from_loss(loss)
    return (f"**An untrained model** spreads probability evenly over the V = {v:,} tokens: p = 1/{v:,} = {1 / v:.5f} on the "
            f"correct one, so its loss is −ln(1/{v:,}) = **ln {v:,} = {start:.3f}** (perplexity {v:,}). A first loss far "
            f"above {start:.2f} means the initial model is confidently wrong.\n\n"
            f"**A loss of {loss:g}** means the correct token gets, on average (geometric mean), p = $e^{{-{loss:g}}}$ = "
            f"**{p:.3f}**: perplexity {P.perplexity(loss):.3f}, {p * v:,.0f}× the uniform guess.")


check_meaning = checker(_meaning_problem)


def meaning_view(state: Checked) -> str:
    return loss_meaning(*state.good)


GPT2_VOCAB = 50_257  # the loss-meaning prediction asks about an untrained GPT-2


@shows_errors
def predict_untrained(guess) -> dict:
    """Reveal of the loss-meaning lab's prediction: the loss an untrained GPT-2 starts at."""
    start = P.uniform_loss(GPT2_VOCAB)
    reason = (f"an untrained model spreads p evenly over V = {GPT2_VOCAB:,} tokens, so the loss is "
              f"−ln(1/{GPT2_VOCAB:,}) = ln {GPT2_VOCAB:,} = {start:.3f}. A first loss far above it means a bad initialisation.")
    return {"feedback": Q.compare_guess(guess, start, reason, unit="nats")}


@shows_errors
def batch_lab(text: str) -> str:
    """Per-position losses, their mean, and PyTorch's F.cross_entropy on the same batch."""
    logits, targets = P.parse_batch(text)
    per_position = P.cross_entropy_per_position(logits, targets)
    probs = P.softmax(logits)
    rows = ["| position | logits | target | p(target) | loss = −ln p |", "|---:|---|---:|---:|---:|"]
    for i, (row, t) in enumerate(zip(logits, targets)):
        rows.append(f"| {i} | {', '.join(f'{z:g}' for z in row)} | {t} | {probs[i, t]:.4f} | {per_position[i]:.4f} |")
    mean = P.cross_entropy(logits, targets)
    reference = P.torch_cross_entropy(logits, targets)
    return ("\n".join(rows) + f"\n\n**Mean loss over {len(targets)} positions: {mean:.6f}**. "
            f"`torch.nn.functional.cross_entropy(logits, targets)` gives **{reference:.6f}** on the same batch.")


check_batch = checker(P.parse_batch)


def batch_view(state: Checked) -> str:
    return batch_lab(*state.good)


@shows_errors
def predict_uniform_batch(guess, state: Checked) -> dict:
    """Reveal of the batch lab's prediction: the mean loss if every logit in the batch were equal."""
    logits, targets = P.parse_batch(state.good[0])
    flat = P.cross_entropy(np.zeros_like(logits), targets)
    reason = (f"equal logits give every one of the V = {logits.shape[1]} tokens p = 1/{logits.shape[1]}, at every position, "
              f"so each loss and their mean is ln {logits.shape[1]} = {flat:.4f}, whatever the targets are.")
    return {"feedback": Q.compare_guess(guess, flat, reason, unit="nats")}


# --- Gradient descent lab -------------------------------------------------------------------

def _start_of(key: str) -> tuple[float, float]:
    surface = O.SURFACES[key]
    return surface.start[0], surface.start[1] if surface.dim == 2 else 0.0


def surface_defaults(key: str):
    """A surface's own start point and a learning rate that works there for SGD."""
    surface = O.SURFACES[key]
    x0, y0 = _start_of(key)
    return (gr.Slider(value=surface.lr), gr.Number(value=x0, label=f"start {surface.axis_names[0]}"),
            gr.Number(value=y0, label=f"start {surface.axis_names[1]}" if surface.dim == 2 else "start y",
                      visible=surface.dim == 2))


def surface_changed(key: str):
    """A new surface: its defaults, and the start point they set is the one the sliders use.
    (The start point comes from the surface itself: inside an event, Gradio's component updates do not
    keep their attributes, so `x0.value` is not there to read.)"""
    lr, x0, y0 = surface_defaults(key)
    return lr, x0, y0, Checked.start(*_start_of(key))


def step_range(steps: int):
    return gr.Slider(maximum=int(steps), value=int(steps))


def _start_point(x0, y0) -> None:
    if x0 is None or y0 is None:
        raise ValueError("Give the start point a number for each coordinate.")


check_start = checker(_start_point)


@shows_errors
def descent_lab(key: str, optimizer: str, lr: float, steps: int, x0, y0, shown_step: int):
    """(what happened in words, the path on the surface up to shown_step, loss per step, the fitted line).

    The last plot exists only for the regression surfaces (hidden otherwise): the data points and
    the line that the parameters at shown_step stand for.
    """
    summary, path_plot, loss_plot, fit = descent_charts(key, optimizer, lr, steps, x0, y0, shown_step)
    return summary, path_plot, loss_plot, gr.Plot(value=fit, visible=True) if fit is not None else gr.Plot(visible=False)


def descent_charts(key: str, optimizer: str, lr: float, steps: int, x0, y0, shown_step: int):
    """descent_lab's results as plain values (the fit chart is None where there is none): what the
    tab's build draws first, where creating a gr.Plot update would add a stray component to the page."""
    surface = O.SURFACES[key]
    start = (x0, y0)[: surface.dim]
    if any(c is None for c in start):
        raise ValueError("Give the start point a number for each coordinate.")
    run = O.run_descent(surface, optimizer, lr, steps, start)
    shown = min(int(shown_step), run.steps_taken)
    message = run.message()
    if run.diverged:
        message = f"⚠️ **{message}** The path is drawn up to the last finite point."
    limit = f" On this surface plain SGD diverges above lr = {surface.sgd_limit:.3g}." if surface.sgd_limit else ""
    summary = f"{message}\n\n{surface.title}: loss = {surface.formula}.{limit} Showing step {shown} of {run.steps_taken}."
    path_plot = (_contour_path if surface.dim == 2 else _curve_path)(surface, run, shown, f"{optimizer}, lr = {lr:g}")
    # legend under the plot: on a phone a legend beside the title would cover it
    path_plot.layout.update(legend=dict(orientation="h", y=-0.24, yanchor="top", x=0, xanchor="left"), margin=dict(b=90))
    return summary, path_plot, _loss_per_step(run, shown), _fit_chart(surface, run.points[shown], shown)


def descent_view(key, optimizer, lr, steps, state: Checked, shown_step):
    """The descent lab with the last good start point (sliders, the optimizer, the page load)."""
    return descent_lab(key, optimizer, lr, steps, *state.good, shown_step)


RIVAL = "Momentum"  # the descent prediction asks what this optimizer reaches with the same settings


@shows_errors
def predict_momentum(guess, key: str, lr: float, steps: int, state: Checked) -> dict:
    """Reveal of the descent lab's prediction: the final loss Momentum reaches with the lab's surface,
    learning rate, steps and start; the optimizer switches to it so the lab draws that run."""
    surface = O.SURFACES[key]
    start = tuple(state.good)[: surface.dim]
    run = O.run_descent(surface, RIVAL, lr, int(steps), start)
    plain = O.run_descent(surface, "SGD", lr, int(steps), start)
    reason = (f"with lr = {lr:g} and {run.steps_taken} steps, SGD ends at a loss of {plain.losses[-1]:.4g} and "
              f"{RIVAL} (β = 0.9) at {run.losses[-1]:.4g}" + (" (it diverged)" if run.diverged else "")
              + ": momentum adds up steps that keep pointing the same way.")
    return {"feedback": Q.compare_guess(guess, float(run.losses[-1]), reason), "optimizer": RIVAL}


def _contour_path(surface: O.Surface, run, shown: int, title: str) -> Chart:
    path = run.points[: shown + 1]
    names = surface.axis_names
    hover = "step %{customdata}<br>" + "<br>".join(f"{n} = %{{{c}:.4f}}" for n, c in zip(names, "xy"))
    xs, ys, z, z_title = surface.contour()
    fig = chart(title, names[0], names[1], height=420)
    fig.add("contour", x=xs, y=ys, z=z, colorscale="Blues", reversescale=True, ncontours=25, name=z_title,
            colorbar=dict(title=dict(text=z_title, side="right"), thickness=12),
            hovertemplate=f"{names[0]} = %{{x:.3f}}<br>{names[1]} = %{{y:.3f}}<br>{z_title} = %{{z:.4g}}<extra></extra>")
    fig.add("scatter", x=path[:, 0], y=path[:, 1], mode="lines+markers", name="path", customdata=np.arange(len(path)),
            line=dict(color=PALETTE[1], width=2), marker=dict(size=5), hovertemplate=hover + "<extra></extra>")
    fig.add("scatter", x=[surface.minimum[0]], y=[surface.minimum[1]], mode="markers", name="minimum",
            marker=dict(symbol="star", size=14, color=PALETTE[2]), hoverinfo="skip")
    fig.add("scatter", x=path[-1:, 0], y=path[-1:, 1], mode="markers", name=f"step {shown}",
            marker=dict(size=13, color=PALETTE[3], line=dict(color="white", width=1.5)), hoverinfo="skip")
    return fig.axes(x=dict(range=list(surface.x_range)), y=dict(range=list(surface.y_range)))


def _curve_path(surface: O.Surface, run, shown: int, title: str) -> Chart:
    path, losses = run.points[: shown + 1], run.losses[: shown + 1]
    name = surface.axis_names[0]
    xs, curve = surface.grid()
    fig = chart(title, name, "loss", height=420)
    fig.add("scatter", x=xs, y=curve, mode="lines", name="loss", line=dict(color=PALETTE[0]),
            hovertemplate=f"{name} = %{{x:.3f}}<br>loss = %{{y:.4f}}<extra></extra>")
    fig.add("scatter", x=path[:, 0], y=losses, mode="lines+markers", name="path", customdata=np.arange(len(path)),
            line=dict(color=PALETTE[1], width=1.5), marker=dict(size=6),
            hovertemplate=f"step %{{customdata}}<br>{name} = %{{x:.4f}}<br>loss = %{{y:.4g}}<extra></extra>")
    fig.add("scatter", x=path[-1:, 0], y=losses[-1:], mode="markers", name=f"step {shown}",
            marker=dict(size=13, color=PALETTE[3]), hoverinfo="skip")
    return fig.axes(x=dict(range=list(surface.x_range)), y=dict(range=[-0.05 * curve.max(), curve.max() * 1.05]))


def _loss_per_step(run, shown: int) -> Chart:
    fig = chart("Loss per step", "step", "loss (log scale)", height=SMALL)
    fig.add("scatter", x=np.arange(len(run.losses)), y=run.losses, mode="lines", name="loss", line=dict(color=PALETTE[0]),
            hovertemplate="step %{x}<br>loss = %{y:.6g}<extra></extra>")
    fig.add("scatter", x=[shown], y=[run.losses[shown]], mode="markers", name=f"step {shown}",
            marker=dict(size=11, color=PALETTE[3]), hovertemplate="step %{x}<br>loss = %{y:.6g}<extra></extra>")
    return fig.axes(y=dict(type="log") if run.losses.min() > 0 else dict(title=dict(text="loss")))


def _fit_chart(surface: O.Surface, theta: np.ndarray, step: int) -> Chart | None:
    if surface.predict is None:
        return None
    x, y = surface.points
    line_x = np.array([x.min(), x.max()])
    fig = chart(f"Data and line, step {step}", "x", "y", height=SMALL)
    fig.add("scatter", x=x, y=y, mode="markers", name="data", marker=dict(color=PALETTE[7]),
            hovertemplate="sampled from y = 2x + 1 + noise<br>x = %{x:.3f}<br>y = %{y:.3f}<extra></extra>")
    fig.add("scatter", x=line_x, y=surface.predict(theta, line_x), mode="lines", name="model", line=dict(color=PALETTE[1]),
            hovertemplate="x = %{x:.3f}<br>prediction = %{y:.3f}<extra></extra>")
    fig.add("scatter", x=line_x, y=surface.predict(np.asarray(surface.minimum), line_x), mode="lines", name="best fit",
            line=dict(color=PALETTE[2], dash="dot"), hoverinfo="skip")
    return fig.axes(y=dict(range=[y.min() - 2, y.max() + 2]))


# --- layout and wiring ----------------------------------------------------------------------

def _half_plot(value=None) -> gr.Plot:
    # two to a row on a wide screen; below ~660 px the second wraps under the first
    return gr.Plot(value, show_label=False, min_width=320)


def _live(component, fn, inputs, outputs, event="change"):
    """Sliders redraw while they move; only the latest value is computed when events pile up."""
    getattr(component, event)(fn, inputs=inputs, outputs=outputs, trigger_mode="always_last", show_progress="hidden",
                              api_name=False)


def _softmax_lab(ctx: LessonContext) -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            logits = gr.Textbox(SOFTMAX_LOGITS, label="Logits (2 to 50, comma-separated)", max_length=1600,
                                elem_id="softmax-logits")
            labels = gr.Textbox(SOFTMAX_LABELS, label="Token labels (optional, one per logit)", max_length=1300,
                                elem_id="softmax-labels")
            temperature = gr.Slider(0, 5, value=1.0, step=0.05, label="Temperature T (0 = greedy)", elem_id="softmax-temperature")
            top_k = gr.Slider(1, P.MAX_LOGITS, value=3, step=1, label="top-k: keep the k most likely tokens")
            top_p = gr.Slider(0.05, 1.0, value=0.9, step=0.05, label="top-p: keep tokens until their total reaches p")
            samples = gr.Slider(10, 10_000, value=1000, step=10, label="Sampled tokens N")
            seed = gr.Number(0, label="Random seed", precision=0, minimum=0, maximum=2 ** 31 - 1)
        with gr.Column(scale=3):
            # the defaults are the same for every learner: drawn once here, so the tab shows them the
            # moment it opens (no page-load event per learner, nothing waits behind other tabs' loads)
            first = softmax_lab(SOFTMAX_LOGITS, SOFTMAX_LABELS, 1.0, 3, 0.9, 1000, 0)
            summary = markdown(first[0], elem_id="softmax-summary")
            with gr.Row():
                probs_plot, log_plot = _half_plot(first[1]), _half_plot(first[2])
            with gr.Row():
                entropy_plot, sample_plot = _half_plot(first[3]), _half_plot(first[4])
            filter_plot = gr.Plot(first[5], show_label=False)
    state = gr.State(Checked.start(SOFTMAX_LOGITS, SOFTMAX_LABELS))
    inputs = [state, temperature, top_k, top_p, samples, seed]
    outputs = [summary, probs_plot, log_plot, entropy_plot, sample_plot, filter_plot]
    on_typed([logits, labels], check_logits_labels, [labels], state, softmax_view, inputs, outputs)
    for control in (temperature, top_k, top_p, samples, seed):
        _live(control, softmax_view, inputs, outputs)
    cold = prediction(f"what probability will the top token get at T = {COLD:g}? (a number from 0 to 1)", elem_id="predict-cold")
    # the reveal moves the temperature slider; its own change event then redraws the lab at T = 0.1
    cold.reveal(named_event(predict_cold, inputs={"guess": cold.guess, "state": state},
                            outputs={"feedback": cold.feedback, "temperature": temperature}))
    try_this("Drag the temperature to 0.1, then to 5, and watch the entropy move from 0 (certain) towards ln V (uniform).",
             "Set N to 10 and change the seed a few times: small samples wander; with 10,000 the histogram hugs the bars.",
             "Set top-p to 0.5: only the tokens that make up the first half of the probability mass survive.")


def _stability_lab(ctx: LessonContext) -> None:
    markdown("#### Numerical stability: the max trick")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            big_logits = gr.Textbox(STABILITY_LOGITS, label="Logits", max_length=1600, elem_id="stability-logits")
        with gr.Column(scale=3):
            stability = markdown(stability_lab(STABILITY_LOGITS), elem_id="stability-table")
    state = gr.State(Checked.start(STABILITY_LOGITS))
    on_typed([big_logits], check_stability, [], state, stability_view, [state], [stability])
    shift = prediction(f"subtract {SHIFT} from every logit: what probability will the largest one get? (0 to 1)",
                       elem_id="predict-shift")
    shift.reveal(named_event(predict_shift, inputs={"guess": shift.guess, "state": state},
                                     outputs={"feedback": shift.feedback}), api_name=False, show_progress="hidden")
    try_this("Try 1, 2, 3: both columns agree. Then 709, 710, 711: exp(710) is already too big for float64.")


def _cross_entropy_lab(ctx: LessonContext) -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            logits = gr.Textbox(CE_LOGITS, label="Logits (2 to 50, comma-separated)", max_length=1600, elem_id="ce-logits")
            labels = gr.Textbox(CE_LABELS, label="Token labels (optional)", max_length=1300, elem_id="ce-labels")
            target = gr.Dropdown(P.parse_labels(CE_LABELS, 3), value="cat", label="Correct next token")
            push = gr.Slider(-6, 6, value=0, step=0.1, label="Push the correct token's logit by", elem_id="ce-push")
        with gr.Column(scale=3):
            first = cross_entropy_lab(CE_LOGITS, CE_LABELS, "cat", 0)
            summary = markdown(first[0], elem_id="ce-summary")
            with gr.Row():
                curve_plot, grad_plot = _half_plot(first[1]), _half_plot(first[2])
    state = gr.State(Checked.start(CE_LOGITS, CE_LABELS))
    inputs, outputs = [state, target, push], [summary, curve_plot, grad_plot]
    on_typed([logits, labels], check_logits_labels, [labels], state, ce_retarget, inputs, [target, *outputs])
    # .input: the learner's own pick only (ce_retarget setting the list must not redraw twice)
    _live(target, ce_view, inputs, outputs, event="input")
    _live(push, ce_view, inputs, outputs)
    pushed = prediction(f"push the correct token's logit by +{PUSH:g}: what will the loss be?", unit="nats",
                        elem_id="predict-push")
    pushed.reveal(named_event(predict_push, inputs={"guess": pushed.guess, "state": state, "target": target},
                                      outputs={"feedback": pushed.feedback, "push": push}), api_name=False, show_progress="hidden")
    try_this("Pick fish (p ≈ 0.10): the loss is 2.32. Push its logit up by 3 and watch the point slide down the curve.",
             "Push the correct logit down to −6: the loss grows without limit as p → 0, and the gradient bar approaches −1.",
             "Set all logits equal (1, 1, 1): the loss is exactly ln 3 = 1.099, the uniform guess.")


def _loss_meaning_lab(ctx: LessonContext) -> None:
    markdown("#### What a loss value means")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            vocab = gr.Number(65, label="Vocabulary size V", precision=0, minimum=2, maximum=10_000_000)
            loss = gr.Number(0.09, label="A loss value", minimum=0, maximum=50)
        with gr.Column(scale=3):
            meaning = markdown(loss_meaning(65, 0.09), elem_id="loss-meaning")
    state = gr.State(Checked.start(65, 0.09))
    on_typed([vocab, loss], check_meaning, [], state, meaning_view, [state], [meaning])
    untrained = prediction(f"what loss will an untrained GPT-2 (V = {GPT2_VOCAB:,}) start at?", unit="nats",
                           elem_id="predict-untrained")
    untrained.reveal(named_event(predict_untrained, inputs={"guess": untrained.guess},
                                         outputs={"feedback": untrained.feedback}), api_name=False, show_progress="hidden")


def _batch_lab(ctx: LessonContext) -> None:
    markdown("#### A batch: the training loss is the mean over positions")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            batch = gr.Textbox(BATCH, lines=5, max_lines=16, max_length=16 * 1600, elem_id="batch-text",
                               label="One position per line: logits -> target index (0 = first token)")
        with gr.Column(scale=3):
            batch_table = markdown("", elem_id="batch-table")
    state = gr.State(Checked.start(BATCH))
    on_typed([batch], check_batch, [], state, batch_view, [state], [batch_table])
    # computed on load, not at build: it checks against torch, which a server start should not import
    ctx.on_open(batch_view, state, batch_table, api_name=False, show_progress="hidden")
    flat = prediction("if every logit in this batch were equal, what would the mean loss be?", unit="nats",
                      elem_id="predict-flat")
    flat.reveal(named_event(predict_uniform_batch, inputs={"guess": flat.guess, "state": state},
                                    outputs={"feedback": flat.feedback}), api_name=False, show_progress="hidden")
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
                x0 = gr.Number(default.start[0], label="start x", min_width=100, elem_id="descent-x0")
                y0 = gr.Number(default.start[1], label="start y", min_width=100)
            shown = gr.Slider(0, DEFAULT_STEPS, value=DEFAULT_STEPS, step=1, label="Show the path up to step")
        with gr.Column(scale=3):
            first = descent_charts(DEFAULT_SURFACE, "SGD", default.lr, DEFAULT_STEPS, *default.start, DEFAULT_STEPS)
            summary = markdown(first[0], elem_id="descent-summary")
            path_plot = gr.Plot(first[1], show_label=False)
            with gr.Row():
                loss_plot = _half_plot(first[2])
                fit_plot = gr.Plot(first[3], show_label=False, min_width=320, visible=first[3] is not None)
    state = gr.State(Checked.start(*default.start))
    inputs, outputs = [surface, optimizer, lr, steps, state, shown], [summary, path_plot, loss_plot, fit_plot]
    quiet = dict(show_progress="hidden", api_name=False)
    surface.input(surface_changed, surface, [lr, x0, y0, state], **quiet).then(descent_view, inputs, outputs, **quiet)
    optimizer.change(descent_view, inputs, outputs, **quiet)
    _live(lr, descent_view, inputs, outputs)
    _live(shown, descent_view, inputs, outputs)
    # a new step count first resets the step slider to show the whole path, then redraws (the step
    # slider's own change event may not fire: its value can stay the same)
    steps.change(step_range, steps, shown, trigger_mode="always_last", **quiet).then(descent_view, inputs, outputs, **quiet)
    on_typed([x0, y0], check_start, [], state, descent_view, inputs, outputs)
    rival = prediction(f"with these settings, what loss will {RIVAL} reach at the end?", elem_id="predict-momentum")
    rival.reveal(named_event(predict_momentum, inputs={"guess": rival.guess, "key": surface, "lr": lr, "steps": steps,
                                                                "state": state},
                                     outputs={"feedback": rival.feedback, "optimizer": optimizer}), api_name=False, show_progress="hidden")
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
        _stability_lab(ctx)
    with gr.Accordion("Lab 2 · Cross-entropy: loss, gradient, perplexity, a batch", open=True):
        _cross_entropy_lab(ctx)
        _loss_meaning_lab(ctx)
        _batch_lab(ctx)
    with gr.Accordion("Lab 3 · Gradient descent: SGD, momentum and Adam on loss surfaces", open=True):
        _descent_lab(ctx)
    end_of_tab_check("part03")

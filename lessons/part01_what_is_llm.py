"""Tab: What is an LLM (Part 1). UI only: every number comes from core.embeddings, core.token_compare and
core.architecture.

Two labs, each built by its own `_<name>_lab(ctx)`:
- the token & embedding explorer: a text as characters, MiniGPT ids and cl100k tokens; the MiniGPT's
  embedding rows, a picked character's nearest neighbours, a PCA map of the whole vocabulary (trained
  against an untrained twin of the same shape) and the next-token distribution;
- the parameter counter: GPT-2-style and Llama-style shapes, presets, a pasted or uploaded config.json.

The explorer's text box goes through `lessons.inputs` (checked once, other controls use the last good
text); its outputs are named (EXPLORER_OUTPUTS) and the builder lists the components in that order.
"""
from __future__ import annotations

import gradio as gr

from core import architecture, embeddings, registry, text_input, token_compare
from core import quiz as Q
from lessons.check import end_of_tab_check, prediction
from lessons.common import (LessonContext, checkpoint_choices, checkpoint_pick, lesson_text, markdown, named_event,
                            shows_errors, try_this)
from lessons.inputs import Checked, checker, on_typed
from lessons.plots import DIVERGING_SCALE, PALETTE, Chart, chart
from lessons.tokens import label_text, tokens_html, visible

DEFAULT_TEXT = "Python is a"
TOP_K = 10  # next-token bars and neighbours shown
HEATMAP_MAX_TOKENS = 32  # rows of the embedding heatmap; more would be too thin to read
CLASS_COLOURS = dict(zip(embeddings.CLASSES, PALETTE))
NO_CHECKPOINT = ("No MiniGPT checkpoint is available yet: train one in tab **4 · MiniGPT**, then come back "
                 "(the list refreshes when you open this tab).")
EXPLORER_OUTPUTS = ("tokens", "next_plot", "rows_plot", "pick", "near_trained", "near_untrained", "summary")
MAPS_OUTPUTS = ("map_trained", "map_untrained", "clusters")


# ----------------------------------------------------------------------------- explorer


def _explorer(ckpt, user_id) -> embeddings.Explorer:
    """The checkpoint from this learner's list (never an arbitrary path sent by a browser)."""
    if not ckpt:
        raise ValueError(NO_CHECKPOINT)
    return embeddings.load(registry.resolve("minigpt", ckpt, user_id).path)


def check_text(text, ckpt, user_id, previous: Checked) -> Checked:
    """First step of a typed text: refused once when the model cannot read it (characters it never saw)."""
    state = previous.sees(text, ckpt)
    if not state.fresh:
        return state
    try:
        embeddings.encode(_explorer(ckpt, user_id), text)
    except ValueError as err:
        return state.refused(err)
    return state.accepted(text, ckpt)


def _token_rows(text: str, ex: embeddings.Explorer, ids: list[int]) -> str:
    """The same text three ways: characters, the MiniGPT's ids, GPT-4's cl100k_base tokens."""
    cl100k = token_compare.by_tiktoken(text, "cl100k_base")
    rows = [(f"Characters: {len(text)}", tokens_html(list(text))),
            (f"MiniGPT ids: {len(ids)} tokens (vocabulary of {len(ex.chars)})",
             tokens_html([ex.chars[i] for i in ids], ids, show_ids=True)),
            (f"cl100k_base (GPT-4): {cl100k.tokens} tokens (vocabulary of about 100,000)",
             tokens_html(cl100k.pieces, cl100k.ids, show_ids=True))]
    return "".join(f"<p style='margin:.4em 0 0'><b>{title}</b></p>{view}" for title, view in rows)


def next_token_bars(ex: embeddings.Explorer, text: str, top: list[tuple[int, float]]) -> Chart:
    labels = [label_text(ex.chars[i]) for i, _ in top]
    tail = label_text(text[-12:])
    fig = chart(f"Next character after “{tail}”", f"the {len(top)} likeliest next characters", "probability",
                height=300)
    fig.add("bar", x=list(range(len(top))), y=[p for _, p in top], customdata=labels, marker=dict(color=PALETTE[0]),
            text=[f"{p:.2f}" for _, p in top], textposition="outside",
            hovertemplate="“%{customdata}”<br>p = %{y:.4f}<extra></extra>")
    return fig.axes(x=dict(tickmode="array", tickvals=list(range(len(top))), ticktext=labels),
                    y=dict(range=[0, 1.1], tickformat=".1f"))


def embedding_rows(ex: embeddings.Explorer, ids: list[int]) -> Chart:
    """The text's rows of the token table: one row per character, one column per dimension."""
    shown = ids[:HEATMAP_MAX_TOKENS]
    labels = [label_text(ex.chars[i]) for i in shown]
    more = f" (first {len(shown)} of {len(ids)})" if len(ids) > len(shown) else ""
    fig = chart(f"Embedding rows{more}: {ex.trained.shape[1]} numbers per character",
                "dimension of the vector", "", height=max(220, 70 + 18 * len(shown)))
    fig.add("heatmap", z=ex.trained[shown], y=list(range(len(shown))), colorscale=DIVERGING_SCALE, zmid=0,
            customdata=[[label] * ex.trained.shape[1] for label in labels],
            colorbar=dict(title=dict(text="value"), thickness=12),
            hovertemplate="“%{customdata}” · dimension %{x}<br>%{z:.4f}<extra></extra>")
    return fig.axes(y=dict(tickmode="array", tickvals=list(range(len(shown))), ticktext=labels, autorange="reversed",
                           showgrid=False), x=dict(showgrid=False))


def neighbour_bars(ex: embeddings.Explorer, pick: int, trained: bool) -> Chart:
    table = ex.trained if trained else ex.untrained
    near = embeddings.neighbours(table, pick, TOP_K)
    labels = [label_text(ex.chars[i]) for i, _ in near]
    which = "after training" if trained else f"untrained twin (seed {embeddings.UNTRAINED_SEED})"
    fig = chart(f"Nearest to “{label_text(ex.chars[pick])}”, {which}", "neighbour", "cosine similarity", height=280)
    fig.add("bar", x=list(range(len(near))), y=[c for _, c in near], customdata=labels,
            marker=dict(color=[CLASS_COLOURS[embeddings.char_class(ex.chars[i])] for i, _ in near]),
            hovertemplate="“%{customdata}”<br>cosine %{y:.3f}<extra></extra>")
    return fig.axes(x=dict(tickmode="array", tickvals=list(range(len(near))), ticktext=labels), y=dict(range=[-1, 1]))


def _pick(ex: embeddings.Explorer, ids: list[int], pick) -> int:
    """The picked character if this vocabulary has it, else the text's last character."""
    return int(pick) if pick is not None and 0 <= int(pick) < len(ex.chars) else ids[-1]


@shows_errors
def explore_values(text, ckpt, pick, user_id) -> dict:
    """Everything the explorer shows for a text, by name (EXPLORER_OUTPUTS)."""
    ex = _explorer(ckpt, user_id)
    ids = embeddings.encode(ex, text)
    pick = _pick(ex, ids, pick)
    top = embeddings.next_token(ex, ids, TOP_K)
    best = ex.chars[top[0][0]]
    summary = (f"The model reads **{len(ids)}** characters (the last {ex.block_size} at most) and gives "
               f"“{label_text(best, markdown=True)}” the highest probability next: **{top[0][1]:.1%}**.")
    choices = [(f"{visible(c)} ({embeddings.char_class(c)})", i) for i, c in enumerate(ex.chars)]
    return dict(tokens=_token_rows(text, ex, ids), next_plot=next_token_bars(ex, text, top),
                rows_plot=embedding_rows(ex, ids), pick=gr.Dropdown(choices=choices, value=pick),
                near_trained=neighbour_bars(ex, pick, True), near_untrained=neighbour_bars(ex, pick, False),
                summary=summary)


@shows_errors
def predict_vocabulary(guess, ckpt, user_id) -> dict:
    """Reveal: how many characters the picked MiniGPT knows (its vocabulary V), and what that costs."""
    ex = _explorer(ckpt, user_id)
    vocab, width = ex.trained.shape
    reason = (f"a character-level MiniGPT knows exactly the {vocab} distinct characters of its training text. Each one "
              f"is a row of {width} learned numbers in the token table: {vocab} × {width} = {vocab * width:,} "
              "parameters, and any other character cannot be read at all.")
    return {"feedback": Q.compare_guess(guess, vocab, reason, unit="characters")}


def explore_view(state: Checked, ckpt, pick, user_id) -> tuple:
    """The explorer on the last good text, outputs in EXPLORER_OUTPUTS order (for on_typed and the pickers)."""
    values = explore_values(state.good[0], ckpt, pick, user_id)
    return tuple(values[name] for name in EXPLORER_OUTPUTS)


@shows_errors
def check_checkpoint(state: Checked, ckpt, user_id) -> None:
    """First step of a checkpoint pick: its vocabulary may lack a character of the text (said once, no
    output badged; the last view stays)."""
    embeddings.encode(_explorer(ckpt, user_id), state.good[0])


def explore_new_checkpoint(state: Checked, ckpt, user_id) -> tuple:
    """Another checkpoint: its own vocabulary, so the pick goes back to the text's last character."""
    return explore_view(state, ckpt, None, user_id)


def pca_map(ex: embeddings.Explorer, trained: bool) -> Chart:
    """Every character of the vocabulary at its place along the table's two main directions."""
    coords, share = embeddings.pca_2d(ex.trained if trained else ex.untrained)
    which = "after training" if trained else "untrained twin"
    fig = chart(f"All {len(ex.chars)} characters, {which}", f"PC 1 ({share[0]:.0%} of the variance)",
                f"PC 2 ({share[1]:.0%})", height=420, margin=dict(l=60, r=20, t=50, b=110),
                legend=dict(orientation="h", x=0, xanchor="left", y=-0.22, yanchor="top"))
    for name in embeddings.CLASSES:
        members = [i for i, c in enumerate(ex.chars) if embeddings.char_class(c) == name]
        labels = [label_text(ex.chars[i]) for i in members]
        fig.add("scatter", x=coords[members, 0], y=coords[members, 1], mode="text", text=labels, name=name,
                textfont=dict(color=CLASS_COLOURS[name], size=14), customdata=labels,
                hovertemplate=f"“%{{customdata}}” ({name})<br>(%{{x:.3f}}, %{{y:.3f}})<extra></extra>")
    return fig


def cluster_text(ex: embeddings.Explorer) -> str:
    after, before = (embeddings.clustering(t, ex.chars) for t in (ex.trained, ex.untrained))
    text = (f"**Nearest neighbour of the same kind** (vowel, consonant, capital, digit, space & punctuation): "
            f"**{after['same_class']:.0%}** of the characters after training, **{before['same_class']:.0%}** "
            f"in the untrained twin; picking neighbours at random gives {after['chance']:.0%}.")
    (hits, n), (hits_before, _) = after["by_class"]["digit"], before["by_class"]["digit"]
    if n:
        text += f" Digits: **{hits} of {n}** have another digit as nearest neighbour after training, {hits_before} before."
    if after["case_pairs"]:
        text += (f" A letter's other case (a ↔ A) is, in the median over {after['case_pairs']} letters, its "
                 f"neighbour number **{after['case_rank']:g}** after training and **{before['case_rank']:g}** before.")
    return text


@shows_errors
def maps_values(ckpt, user_id) -> dict:
    """The vocabulary maps of a checkpoint and its untrained twin, by name (MAPS_OUTPUTS)."""
    ex = _explorer(ckpt, user_id)
    return dict(map_trained=pca_map(ex, True), map_untrained=pca_map(ex, False), clusters=cluster_text(ex))


def refresh_checkpoints(user_id, current):
    """The checkpoint list as this learner sees it now (a run finished in tab 4 appears here). Character
    models only: the explorer is about one row per character (classes, letter cases); a BPE model of the
    tab-11 workflow is explored in tabs 4 and 5."""
    choices = [(c.label, c.id) for c in registry.list_checkpoints("minigpt", user_id) if c.summary.tokenizer == "char"]
    return gr.Dropdown(choices=choices, value=checkpoint_pick("minigpt", user_id, current, [v for _, v in choices]))


# ----------------------------------------------------------------------------- parameter counter

DEFAULT_PRESET = "gpt2"
# The counter's sliders: (label, minimum, maximum). Wide enough for every preset and most config.json
# files (a larger value is counted exactly all the same; the slider then shows its maximum).
SLIDERS = {
    "n_layers": ("Layers L", 1, 128),
    "d_model": ("Width d", 8, 16384),
    "n_heads": ("Query heads", 1, 128),
    "n_kv_heads": ("Key/value heads (Llama style)", 1, 128),
    "d_mlp": ("MLP width", 8, 65536),
    "vocab_size": ("Vocabulary V", 2, 262144),
    "context": ("Context (positions)", 8, 131072),
}
SHAPE_INPUTS = ("family", *SLIDERS, "tied")
COUNTER_OUTPUTS = ("bar", "table", "summary", "preset", *SHAPE_INPUTS)
PART_LABELS = {"embeddings": "token embeddings", "positions": "position table", "attention": "attention",
               "mlp": "MLP", "norms": "norms", "head": "LM head"}


def parameter_bar(parts: dict[str, int], rule: int) -> Chart:
    """One stacked bar of the exact count by part, and the 12·L·d² estimate under it."""
    fig = chart("Where the parameters live (number of parameters)", "", "", height=300, barmode="stack",
                margin=dict(l=90, r=20, t=40, b=110),
                legend=dict(orientation="h", x=0, xanchor="left", y=-0.3, yanchor="top", traceorder="normal"))
    for colour, name in zip(PALETTE, architecture.PARTS):
        fig.add("bar", orientation="h", y=["exact count"], x=[parts[name]], name=PART_LABELS[name],
                marker=dict(color=colour), hovertemplate=f"{PART_LABELS[name]}: %{{x:,}}<extra></extra>")
    fig.add("bar", orientation="h", y=["12·L·d²"], x=[rule], name="12·L·d²", marker=dict(color=PALETTE[7]),
            showlegend=False, hovertemplate="12·L·d²: %{x:,}<extra></extra>")
    return fig.axes(x=dict(tickformat="~s"), y=dict(autorange="reversed"))


def parameter_table(config, parts: dict[str, int]) -> str:
    total, notes = parts["total"], architecture.formulas(config)
    rows = [f"| {PART_LABELS[name]} | {parts[name]:,} | {parts[name] / total:.1%} | {notes[name]} |"
            for name in architecture.PARTS]
    return "\n".join(["| part | parameters | share | how it is counted |", "|---|---:|---:|---|", *rows,
                      f"| **total** | **{total:,}** | 100% | |"])


def _count(config, name: str) -> dict:
    parts, rule = architecture.breakdown(config), architecture.rule_of_thumb(config)
    gap = architecture.rule_of_thumb_gap(config)
    outside = parts["embeddings"] + parts["positions"] + parts["head"]
    summary = (f"**{name}** · {architecture.describe(config)}\n\n**{parts['total']:,}** parameters. "
               f"The rule of thumb 12·L·d² = {rule:,} is **{abs(gap):.1%} {'below' if gap < 0 else 'above'}**: "
               f"it counts only the blocks' weight matrices of a GPT-2-style model (4d² attention + 8d² MLP); "
               f"embeddings, positions and head are {outside / parts['total']:.1%} of this model.")
    return dict(bar=parameter_bar(parts, rule), table=parameter_table(config, parts), summary=summary)


def _controls(config) -> dict:
    """The sliders set to a config's shape (clipped to their range), so the learner can vary it."""
    s = architecture.shape(config)
    values = {name: min(max(s[name], low), high) for name, (_, low, high) in SLIDERS.items()}
    values["n_kv_heads"] = gr.Slider(value=values["n_kv_heads"], interactive=s["family"] == "llama")
    return dict(family=s["family"], tied=s["tied"], **values)


@shows_errors
def count_preset(preset) -> dict:
    config = architecture.preset(preset)
    return {**_count(config, architecture.PRESET_LABELS[preset]), **_controls(config)}


def _custom(family, n_layers, d_model, n_heads, n_kv_heads, d_mlp, vocab_size, context, tied) -> dict:
    kv = n_heads if family == "gpt2" else n_kv_heads  # GPT-2 style: every head has its own keys and values
    return architecture.custom(family, int(n_layers), int(d_model), int(n_heads), int(kv), int(d_mlp),
                               int(vocab_size), int(context), bool(tied))


@shows_errors
def check_shape(**shape) -> None:
    """First step of a control move: an impossible shape is said once, with no output to badge (the last
    good count stays on screen)."""
    _custom(**shape)


@shows_errors
def count_shape(family, n_layers, d_model, n_heads, n_kv_heads, d_mlp, vocab_size, context, tied) -> dict:
    """A shape picked with the controls (no preset any more: the preset box is cleared)."""
    config = _custom(family, n_layers, d_model, n_heads, n_kv_heads, d_mlp, vocab_size, context, tied)
    kv = architecture.shape(config)["n_kv_heads"]
    return {**_count(config, f"Your {architecture.FAMILIES[family]} shape"), "preset": None,
            "n_kv_heads": gr.Slider(value=kv, interactive=family == "llama")}


check_config = checker(architecture.parse_config_json)


@shows_errors
def predict_untied(guess, family, n_layers, d_model, n_heads, n_kv_heads, d_mlp, vocab_size, context, tied) -> dict:
    """Reveal: the total count of the shape on screen with its own (untied) LM head."""
    untied = architecture.breakdown(_custom(family, n_layers, d_model, n_heads, n_kv_heads, d_mlp, vocab_size, context,
                                            False))
    head = untied["head"]
    reason = (f"an untied head is its own V × d matrix: {int(vocab_size):,} × {int(d_model):,} = {head:,} numbers on top "
              "of the token table" + (" (this shape is untied already, so nothing changes)." if not tied else
                                       "; tied, the output layer reuses the token table and costs nothing extra."))
    return {"feedback": Q.compare_guess(guess, untied["total"], reason, unit="parameters")}


def _config_name(config: dict) -> str:
    names = config.get("architectures") or []
    return f"Your config.json ({names[0]})" if names and isinstance(names[0], str) else "Your config.json"


@shows_errors
def count_config_view(state: Checked) -> tuple:
    """The counter on the last good config.json, outputs in COUNTER_OUTPUTS order (for on_typed)."""
    config = architecture.parse_config_json(state.good[0])
    values = {**_count(config, _config_name(config)), **_controls(config), "preset": None}
    return tuple(values[name] for name in COUNTER_OUTPUTS)


@shows_errors
def upload_config(path) -> dict:
    """An uploaded config.json: read as a learner's text, shown in the box, and counted."""
    if not path:
        return {}
    text = text_input.read_file(path, max_chars=architecture.MAX_CONFIG_CHARS)
    config = architecture.parse_config_json(text)
    return {**_count(config, _config_name(config)), **_controls(config), "preset": None, "config_text": text}


# ----------------------------------------------------------------------------- layout

PCA_NOTE = ("**PCA** (principal component analysis) finds the two directions along which the vectors differ most "
            "and draws each character at its position along them: characters the model treats alike land close.")


def _explorer_widgets() -> dict:
    """The explorer's controls (left) and results (right, one view per inner tab), by name."""
    w = {}
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            shipped = checkpoint_choices("minigpt", None)  # the page load adds the learner's own runs
            w["ckpt"] = gr.Dropdown(shipped, value=shipped[0][1] if shipped else None, label="MiniGPT checkpoint",
                                    info="the shipped one, or your runs from tab 4")
            w["text"] = gr.Textbox(DEFAULT_TEXT, label="Text", max_length=embeddings.MAX_TEXT_CHARS,
                                   info="Enter to explore", elem_id="explorer-text")
            w["button"] = gr.Button("Explore", variant="primary")
            w["summary"] = markdown("", elem_id="explorer-summary")
        with gr.Column(scale=3):
            w["tokens"] = gr.HTML()
            # Inner tabs: a learner looks at one view at a time, and a browser draws only the open tab's
            # charts (tab 1 is the page the app opens on: what it draws at first, every visitor waits for)
            with gr.Tabs():
                with gr.Tab("Next character"):
                    w["next_plot"] = gr.Plot(show_label=False)
                with gr.Tab("Embedding rows"):
                    w["rows_plot"] = gr.Plot(show_label=False)
                with gr.Tab("Nearest neighbours", elem_id="explorer-neighbours-tab"):
                    w["pick"] = gr.Dropdown([], label="Character whose neighbours are shown", elem_id="explorer-pick")
                    with gr.Row():
                        w["near_trained"], w["near_untrained"] = gr.Plot(show_label=False), gr.Plot(show_label=False)
                with gr.Tab("Map of the vocabulary", elem_id="explorer-map-tab"):
                    markdown(PCA_NOTE)
                    with gr.Row():
                        w["map_trained"], w["map_untrained"] = gr.Plot(show_label=False), gr.Plot(show_label=False)
                    w["clusters"] = markdown("", elem_id="explorer-clusters")
    return w


def _explorer_lab(ctx: LessonContext) -> None:
    markdown("### Lab: a text as tokens and vectors, inside a MiniGPT")
    w = _explorer_widgets()
    try_this(
        "Open *Nearest neighbours* and pick **a**: after training its nearest neighbour is **A**; in the "
        "untrained twin it is any character. Try **e**, **7** and **.** too.",
        "In *Map of the vocabulary*, find the digits: after training most sit together, in the untrained twin they "
        "are mixed in. A flat map keeps only part of the picture (the axes say how much); the numbers under it "
        "use all the dimensions.",
        "Type *The transformer* and watch the next-character bars: the model has learned which letters follow "
        "which. Compare the token counts: one id per character here, a few tokens in cl100k.",
    )
    vocab = prediction("how many different characters does this MiniGPT know (its vocabulary V)?", unit="characters",
                       elem_id="predict-vocabulary")
    vocab.reveal(named_event(predict_vocabulary, {"guess": vocab.guess, "ckpt": w["ckpt"], "user_id": ctx.user_id},
                             {"feedback": vocab.feedback}))
    state = gr.State(Checked.start(DEFAULT_TEXT, w["ckpt"].value))
    inputs = [state, w["ckpt"], w["pick"], ctx.user_id]
    outputs = [w[name] for name in EXPLORER_OUTPUTS]
    quiet = dict(show_progress="hidden", api_name=False)
    on_typed([w["text"]], check_text, [], state, explore_view, inputs, outputs, extra=[w["ckpt"], ctx.user_id],
             buttons=[w["button"]])
    w["pick"].input(explore_view, inputs, outputs, trigger_mode="always_last", **quiet)
    maps = named_event(maps_values, {"ckpt": w["ckpt"], "user_id": ctx.user_id}, {k: w[k] for k in MAPS_OUTPUTS})
    # .change: the learner's pick, or a refresh that picks another checkpoint (a refresh keeping it does nothing)
    # the maps after the explorer, so the checkpoint is loaded once (then cached), not twice at the same time
    picked = [state, w["ckpt"], ctx.user_id]
    w["ckpt"].change(check_checkpoint, picked, None, **quiet).success(explore_new_checkpoint, picked, outputs, **quiet).then(
        **maps, **quiet)
    ctx.on_open(explore_view, inputs, outputs, **quiet).then(**maps, **quiet)
    refresh = dict(inputs=[ctx.user_id, w["ckpt"]], outputs=w["ckpt"], **quiet)
    ctx.on_open(refresh_checkpoints, **refresh)
    ctx.tab.select(refresh_checkpoints, **refresh)


def _shape_widgets(config: dict) -> dict:
    s = architecture.shape(config)
    w = {"family": gr.Radio([(label, key) for key, label in architecture.FAMILIES.items()], value=s["family"],
                            label="Family", info="GPT-2: learned positions, LayerNorm, GELU. Llama: RoPE, RMSNorm, "
                                                 "SwiGLU, grouped-query attention")}
    for name, (label, low, high) in SLIDERS.items():
        w[name] = gr.Slider(low, high, value=s[name], step=1, label=label,
                            interactive=name != "n_kv_heads" or s["family"] == "llama")
    w["tied"] = gr.Checkbox(s["tied"], label="Tied head (the output layer reuses the token table)")
    return w


def _counter_lab(ctx: LessonContext) -> None:
    markdown("### Lab: where the parameters live")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            w = {"preset": gr.Dropdown([(label, name) for name, label in architecture.PRESET_LABELS.items()],
                                       value=DEFAULT_PRESET, label="Preset", elem_id="counter-preset")}
            w.update(_shape_widgets(architecture.preset(DEFAULT_PRESET)))
            with gr.Accordion("Paste or upload a config.json", open=False):
                w["config_text"] = gr.Textbox(label="config.json", lines=6, max_length=architecture.MAX_CONFIG_CHARS,
                                              placeholder='{"model_type": "llama", "hidden_size": 2048, ...}',
                                              info="any Hub model of type gpt2, llama, mistral or qwen2; nothing is "
                                                   "downloaded", elem_id="counter-config")
                count_btn = gr.Button("Count this config.json")
                w["config_file"] = gr.File(label="or upload config.json", file_types=[".json"], type="filepath")
        with gr.Column(scale=3):
            w["summary"] = markdown("", elem_id="counter-summary")
            w["bar"] = gr.Plot(show_label=False)
            w["table"] = markdown("")
    try_this(
        "Pick **GPT-2 small**, then untick *Tied head*: 38.6 million parameters appear in the LM head.",
        "Pick **Llama-3-8B** and set the key/value heads to 32 (full multi-head attention): how much does "
        "grouped-query attention save?",
        "Pick **MiniGPT** and compare the rule of thumb with the exact count; then set the vocabulary to 50,257.",
    )
    untied = prediction("with its own (untied) LM head, how many parameters will the shape on screen have in total?",
                        unit="parameters", elem_id="predict-untied")
    untied.reveal(named_event(predict_untied, {"guess": untied.guess, **{name: w[name] for name in SHAPE_INPUTS}},
                              {"feedback": untied.feedback}))
    quiet = dict(show_progress="hidden", api_name=False)
    counted = {name: w[name] for name in COUNTER_OUTPUTS}
    ctx.on_open(**named_event(count_preset, {"preset": w["preset"]}, counted), **quiet)
    w["preset"].input(**named_event(count_preset, {"preset": w["preset"]}, counted), **quiet)
    controls = {name: w[name] for name in SHAPE_INPUTS}
    for name in SHAPE_INPUTS:
        w[name].input(**named_event(check_shape, controls), trigger_mode="always_last", **quiet).success(
            **named_event(count_shape, controls, counted), **quiet)
    state = gr.State(Checked.start(""))
    on_typed([w["config_text"]], check_config, [], state, count_config_view, [state], list(counted.values()),
             buttons=[count_btn])
    w["config_file"].upload(**named_event(upload_config, {"path": w["config_file"]},
                                          {**counted, "config_text": w["config_text"]}), **quiet)


def build(ctx: LessonContext) -> None:
    lesson_text("part01_what_is_llm")
    _explorer_lab(ctx)
    _counter_lab(ctx)
    end_of_tab_check("part01")

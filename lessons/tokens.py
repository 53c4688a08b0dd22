"""Token colouring and token labels: one place for how a token's text is shown.

- `tokens_html`: one function and one palette for every coloured view of tokens (BPE, tiktoken, explorer).
- `visible`: whitespace made visible in plain text (dropdown choices, hovers).
- `label_text`: a learner's label (a token, a word they typed) shown literally inside a chart title or
  axis (plotly reads a little HTML) or, with markdown=True, inside Markdown (no formatting, no formula).
"""
from __future__ import annotations

import html
from typing import Sequence

# Soft colours that alternate, so neighbouring tokens are always distinguishable.
TOKEN_COLOURS = ["#dbe4ff", "#ffe8cc", "#d3f9d8", "#ffdeeb", "#c5f6fa", "#fff3bf"]


def _visible(piece: str) -> str:
    out = html.escape(piece)
    out = out.replace(" ", '<span class="ws">·</span>')
    out = out.replace("\t", '<span class="ws">→</span>')
    out = out.replace("\n", '<span class="ws">↵</span><br>')
    return out


MUTED_STYLE = "background:#e9ecef;color:#868e96"
OUTLINE_STYLE = "outline:2px solid #e8590c"  # a token to point at (e.g. the one the last BPE merge made)
WHITESPACE_SIGNS = {" ": "␣", "\n": "↵", "\t": "→"}
MARKDOWN_MARKS = {ord(c): f"\\{c}" for c in "*_`[]#"}


def visible(text: str) -> str:
    """Whitespace made visible (a space is invisible on an axis or in a list of choices)."""
    return "".join(WHITESPACE_SIGNS.get(c, c) for c in text) if any(c in text for c in WHITESPACE_SIGNS) else text


def label_text(label: str, markdown: bool = False) -> str:
    """A label shown literally: whitespace visible and HTML escaped (plotly titles and ticks read
    tags such as <b>); with markdown=True also no Markdown marks and no formula."""
    text = html.escape(visible(label), quote=False)
    if markdown:
        # Gradio reads $…$ as LaTeX before Markdown runs (escaping does not help): swap the sign
        text = text.replace("$", "＄").translate(MARKDOWN_MARKS)
    return text


def tokens_html(pieces: Sequence[str], ids: Sequence[int] | None = None, show_ids: bool = False,
                muted: Sequence[bool] | None = None, muted_note: str = "context only",
                outlined: Sequence[bool] | None = None) -> str:
    """Colour each token; hover shows its id and text. Whitespace and newlines are made visible.

    `pieces[i]` is the text of token i (for byte-level tokens that are not valid UTF-8 on their own,
    pass a readable stand-in such as '\\xe2'). Tokens flagged in `muted` are drawn grey, with
    `muted_note` in their hover (e.g. the prompt tokens that a fine-tune does not train on). Tokens
    flagged in `outlined` get an orange outline (OUTLINE_STYLE).
    """
    spans = []
    for i, piece in enumerate(pieces):
        is_muted = bool(muted[i]) if muted is not None else False
        style = MUTED_STYLE if is_muted else f"background:{TOKEN_COLOURS[i % len(TOKEN_COLOURS)]}"
        if outlined is not None and outlined[i]:
            style += ";" + OUTLINE_STYLE
        token_id = ids[i] if ids is not None else None
        hover = f"id {token_id}: {piece!r}" if token_id is not None else repr(piece)
        title = html.escape(hover + (f" ({muted_note})" if is_muted else ""), quote=True)
        label = f"<sub>{token_id}</sub>" if show_ids and token_id is not None else ""
        spans.append(f'<span class="tok" style="{style}" title="{title}">{_visible(piece)}{label}</span>')
    return f'<div class="token-view">{"".join(spans)}</div>'

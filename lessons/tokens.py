"""Token colouring: one function and one palette for every view of tokens (BPE, tiktoken, explorer)."""
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


def tokens_html(pieces: Sequence[str], ids: Sequence[int] | None = None, show_ids: bool = False,
                muted: Sequence[bool] | None = None, muted_note: str = "context only") -> str:
    """Colour each token; hover shows its id and text. Whitespace and newlines are made visible.

    `pieces[i]` is the text of token i (for byte-level tokens that are not valid UTF-8 on their own,
    pass a readable stand-in such as '\\xe2'). Tokens flagged in `muted` are drawn grey, with
    `muted_note` in their hover (e.g. the prompt tokens that a fine-tune does not train on).
    """
    spans = []
    for i, piece in enumerate(pieces):
        is_muted = bool(muted[i]) if muted is not None else False
        style = MUTED_STYLE if is_muted else f"background:{TOKEN_COLOURS[i % len(TOKEN_COLOURS)]}"
        token_id = ids[i] if ids is not None else None
        hover = f"id {token_id}: {piece!r}" if token_id is not None else repr(piece)
        title = html.escape(hover + (f" ({muted_note})" if is_muted else ""), quote=True)
        label = f"<sub>{token_id}</sub>" if show_ids and token_id is not None else ""
        spans.append(f'<span class="tok" style="{style}" title="{title}">{_visible(piece)}{label}</span>')
    return f'<div class="token-view">{"".join(spans)}</div>'

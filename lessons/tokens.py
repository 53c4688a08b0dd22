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


def tokens_html(pieces: Sequence[str], ids: Sequence[int] | None = None, show_ids: bool = False) -> str:
    """Colour each token; hover shows its id and text. Whitespace and newlines are made visible.

    `pieces[i]` is the text of token i (for byte-level tokens that are not valid UTF-8 on their own,
    pass a readable stand-in such as '\\xe2').
    """
    spans = []
    for i, piece in enumerate(pieces):
        colour = TOKEN_COLOURS[i % len(TOKEN_COLOURS)]
        token_id = ids[i] if ids is not None else None
        title = html.escape(f"id {token_id}: {piece!r}" if token_id is not None else repr(piece), quote=True)
        label = f"<sub>{token_id}</sub>" if show_ids and token_id is not None else ""
        spans.append(f'<span class="tok" style="background:{colour}" title="{title}">{_visible(piece)}{label}</span>')
    return f'<div class="token-view">{"".join(spans)}</div>'

"""What one quick-lab event costs the server: the handler, then what Gradio does with its outputs.

`event_cost(handler)` runs the handler and then, for every output, Gradio's postprocess (gr.Plot calls
the figure's to_json(), gr.Markdown cleans its text, a component update becomes its config) and the
orjson serialisation of the whole payload, as the queue does before sending it to the browser.
Used by bench/math_handlers.py and bench/attention_handlers.py.
"""
from __future__ import annotations

import statistics
import time

import gradio as gr
import orjson

_PLOT, _MARKDOWN, _HTML = gr.Plot(render=False), gr.Markdown(render=False), gr.HTML(render=False)


def _payload(value):
    if hasattr(value, "to_json") and not isinstance(value, gr.components.Component):
        return _PLOT.postprocess(value).model_dump()  # a Chart or a go.Figure, as gr.Plot sends it
    if isinstance(value, gr.components.Component):
        return value.get_config()  # an update such as gr.Slider(maximum=...) or gr.Plot(value=..., visible=...)
    if isinstance(value, str):
        return _MARKDOWN.postprocess(value)
    return value


def to_browser(outputs) -> bytes:
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return orjson.dumps([_payload(v) for v in outputs], option=orjson.OPT_SERIALIZE_NUMPY, default=str)


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: first calls pay for imports and caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def event_ms(handler, repeats: int) -> tuple[float, float, int]:
    """(handler alone, handler + postprocess + JSON, bytes sent) in ms, medians of `repeats` calls."""
    alone = median_ms(handler, repeats)
    full = median_ms(lambda: to_browser(handler()), repeats)
    return alone, full, len(to_browser(handler()))

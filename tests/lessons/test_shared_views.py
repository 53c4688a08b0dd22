"""The shared views every tab uses: token colouring and checkpoint lists."""
import json
import os
import re

from core import registry, sessions
from lessons.common import checkpoint_choices, checkpoint_dropdown
from lessons.tokens import MUTED_STYLE, tokens_html


def test_tokens_html_shows_every_token_with_visible_whitespace():
    out = tokens_html(["Hel", "lo", " wor", "ld\n", "<&>"], ids=[1, 2, 3, 4, 5], show_ids=True)
    assert out.count('class="tok"') == 5
    assert "&lt;&amp;&gt;" in out and "<&>" not in out  # escaped, never raw HTML
    assert '<span class="ws">·</span>wor' in out and '<span class="ws">↵</span><br>' in out
    styles = re.findall(r'style="background:(#[0-9a-f]+)"', out)
    assert all(a != b for a, b in zip(styles, styles[1:]))  # neighbours always differ


def test_muted_tokens_are_grey_and_say_why():
    out = tokens_html(["<user>", "Hi", "Answer"], ids=[7, 8, 9], muted=[True, True, False], muted_note="context only")
    assert out.count(MUTED_STYLE) == 2
    assert out.count("(context only)") == 2 and 'title="id 9: &#x27;Answer&#x27;"' in out


def _adapter(user, name, losses, stopped, mtime):
    run = sessions.new_run_dir(user, "lora", name)
    (run / "run.json").write_text(json.dumps({"base_model": "pocket", "data": "mine.jsonl", "settings": {"max_steps": 80},
                                              "steps": list(range(1, len(losses) + 1)), "losses": losses,
                                              "stopped_early": stopped}))
    (run / "adapter_config.json").write_text("{}")
    os.utime(run, (mtime, mtime))
    return run


def test_checkpoint_lists_are_per_learner(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path))
    alice, bob = sessions.new_user_id(), sessions.new_user_id()
    run = sessions.new_run_dir(alice, "lora", "mine")
    (run / "adapter_config.json").write_text("{}")
    assert (run.name + " (your run)", "run/mine") in checkpoint_choices("lora", alice)  # an id, not a path
    assert "run/mine" not in [v for _, v in checkpoint_choices("lora", bob)]
    assert checkpoint_dropdown("lora", alice, current="run/mine").value == "run/mine"  # the learner's pick stays
    assert checkpoint_dropdown("lora", alice, current=str(run)).value == "run/mine"  # a run just saved, by its folder
    for current in ("run/mine", str(run)):
        assert checkpoint_dropdown("lora", bob, current=current).value != "run/mine"  # never another learner's
    assert str(tmp_path) not in str(checkpoint_dropdown("lora", alice).choices)


def test_checkpoint_dropdown_preselects_the_best_finished_run(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path))
    alice = sessions.new_user_id()
    shipped = ["shipped/" + c.name for c in registry.shipped_checkpoints("lora")]
    stopped = _adapter(alice, "stopped", [3.0, 2.9], True, 3_000)  # newest, but a 2-step stopped run
    assert checkpoint_dropdown("lora", alice).value == (shipped[0] if shipped else "run/" + stopped.name)
    finished = _adapter(alice, "finished", [3.0] * 79 + [1.5], False, 1_000)
    _adapter(alice, "worse", [3.0] * 79 + [2.5], False, 2_000)
    dropdown = checkpoint_dropdown("lora", alice)
    assert [v for _, v in dropdown.choices][:3] == ["run/stopped", "run/worse", "run/finished"]
    assert dropdown.value == "run/finished"  # lowest final loss among finished runs, not the newest
    assert dict((v, label) for label, v in dropdown.choices)["run/finished"].startswith("pocket · mine.jsonl · 80/80 steps")
    assert checkpoint_dropdown("lora", alice, current="/somewhere/else").value == "run/finished"
    assert finished.name == "finished"


def test_named_event_passes_values_by_name_both_ways():
    import gradio as gr
    import pytest

    from lessons.common import named_event

    with gr.Blocks():
        a, b, out1, out2 = gr.Number(), gr.Number(), gr.Textbox(), gr.Textbox()

    def add(x, y):
        return {"total": str(x + y)}

    def count(x, y):
        yield {"total": "0"}
        yield {"total": str(x), "note": f"y was {y}"}

    event = named_event(add, {"x": a, "y": b}, {"total": out1, "note": out2})
    assert event["inputs_kwargs"] == {"x": a, "y": b} and event["outputs"] == [out1, out2]
    assert event["fn"](x=2, y=3) == {out1: "5"}  # names left out (note) keep their value
    stream = named_event(count, {"x": a, "y": b}, {"total": out1, "note": out2})
    assert list(stream["fn"](x=2, y=7)) == [{out1: "0"}, {out1: "2", out2: "y was 7"}]
    assert stream["fn"].__name__ == "count"
    with pytest.raises(KeyError, match="shown"):
        named_event(lambda: {"shown": 1}, outputs={"total": out1})["fn"]()
    with pytest.raises(TypeError, match="dict of named outputs"):
        named_event(lambda: "5", outputs={"total": out1})["fn"]()
    # nothing to change: every output skipped (an empty dict reaches Gradio as one value and badges it "Error")
    skipped = named_event(lambda: {}, outputs={"total": out1, "note": out2})["fn"]()
    assert set(skipped) == {out1, out2} and all(v == gr.skip() for v in skipped.values())


def test_named_event_hands_gr_request_only_to_a_parameter_annotated_so():
    import inspect
    import typing

    import gradio as gr

    from lessons.common import named_event

    def watched_handler(x, request: gr.Request | None = None):
        yield {"out": (x, request)}

    def plain_handler(request: dict):  # a parameter that happens to be called "request" is an input
        return {"out": request}

    with gr.Blocks():
        box = gr.Textbox()
        event = named_event(watched_handler, {"x": box}, {"out": box})
        # what Gradio looks for to fill it in (lessons.common's annotations are strings: resolved as Gradio does)
        assert typing.get_type_hints(event["fn"])["request"] is gr.Request
        assert list(event["fn"](request="the request", x=1)) == [{box: (1, "the request")}]
        plain = named_event(plain_handler, {"request": box}, {"out": box})
        assert "request" not in inspect.signature(plain["fn"]).parameters
        assert plain["fn"](request={"a": 1}) == {box: {"a": 1}}

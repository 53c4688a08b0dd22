"""The shared views every tab uses: token colouring and checkpoint lists."""
import re

from core import sessions
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


def test_checkpoint_lists_are_per_learner(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path))
    alice, bob = sessions.new_user_id(), sessions.new_user_id()
    run = sessions.new_run_dir(alice, "lora", "mine")
    (run / "adapter_config.json").write_text("{}")
    assert (run.name + " (your run)", str(run)) in checkpoint_choices("lora", alice)
    assert str(run) not in [p for _, p in checkpoint_choices("lora", bob)]
    assert checkpoint_dropdown("lora", alice).value == str(run)  # newest own run first
    assert checkpoint_dropdown("lora", bob, current=str(run)).value != str(run)  # never another learner's

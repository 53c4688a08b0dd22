"""Tab 6: every number the step-through, the encoder and the comparison show, checked by recounting."""
import re

import gradio as gr
import pytest

from core.bpe import simple
from core.token_compare import BUILTIN_CORPUS, EXAMPLES
from lessons import part06_tokenization as tab
from tests.conftest import build_tab_alone, open_tab

CORPUS = BUILTIN_CORPUS.read_text(encoding="utf-8")
DEFAULTS = dict(source=tab.SOURCES[0], pasted="", upload=None, target=512, pattern="none", special="<|endoftext|>")


def settings(**changes):
    s = {**DEFAULTS, **changes}
    return [s["source"], s["pasted"], s["upload"], s["target"], s["pattern"], s["special"]]


def recount(text: str, merges: int):
    """Independent replay with the simple recount trainer: (merges, token lists, counts before the next merge)."""
    chunks = [list(text.encode())]
    done = []
    for new_id in range(256, 256 + merges):
        counts = simple.get_stats(chunks)
        pair = simple.most_frequent(counts)
        chunks = [simple.merge(ids, pair, new_id) for ids in chunks]
        done.append((pair, new_id))
    return done, chunks, simple.get_stats(chunks)


def test_tab_builds():
    labels = build_tab_alone(tab)
    assert "Training text" in labels and "Target vocabulary size (256 bytes + merges)" in labels


def test_page_load_shows_the_first_merges_as_a_recount_finds_them():
    session, status, last, rows, fig, html = tab.start(*settings())
    merges, chunks, counts = recount(CORPUS, 12)
    assert session.trainer.merges == merges
    n_bytes, n_tokens = len(CORPUS.encode()), len(chunks[0])
    assert f"{n_bytes:,} bytes → {n_tokens:,} tokens ({n_bytes / n_tokens:.2f} bytes per token)" in status
    assert "Merges 12 / 256" in status
    # the table: the ten most frequent pairs now, most frequent first, ties by smallest ids
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [(r[0], r[2]) for r in rows] == [(f"{a} + {b}", c) for (a, b), c in expected]
    # the last merge: its pair, how often it occurred before merging, and the new token
    (a, b), new_id = merges[-1]
    _, chunks11, _ = recount(CORPUS, 11)
    before = simple.get_stats(chunks11)
    assert f"**{before[(a, b)]:,}** times" in last and f"token **{new_id}**" in last
    # the curve: tokens after 0..12 merges and bytes per token
    lengths = [len(recount(CORPUS, k)[1][0]) for k in range(13)]
    assert list(fig.data[0].y) == lengths and list(fig.data[0].x) == list(range(256, 269))
    assert list(fig.data[1].y) == pytest.approx([n_bytes / n for n in lengths])
    # the preview colours the start of the text, one span per token, the newest token outlined
    preview_ids = session.trainer.tokenizer().encode(CORPUS[:tab.PREVIEW_CHARS])
    assert html.count('class="tok"') == len(preview_ids)
    assert html.count(tab.NEW_TOKEN_OUTLINE) == preview_ids.count(new_id) > 0


def test_step_step10_and_play_to_the_target():
    session = tab.start(*settings())[0]
    out = tab.step(session, *settings())
    assert "Merges 13 / 256" in out[1]
    out = tab.step10(out[0], *settings())
    assert "Merges 23 / 256" in out[1]
    frames = list(tab.play(out[0], *settings(target=300), speed=1000))
    assert "Merges 44 / 44" in frames[-1][1] and "done" in frames[-1][1]
    assert frames[-1][0].trainer.merges == recount(CORPUS, 44)[0]
    # at the target, another step changes nothing
    assert "Merges 44 / 44" in tab.step(frames[-1][0], *settings(target=300))[1]


def test_changing_the_settings_starts_again_from_bytes():
    session = tab.start(*settings())[0]
    out = tab.step(session, *settings(pattern="GPT-4"))
    assert "Merges 1 / 256" in out[1]
    assert out[0].trainer.pattern is not None


def test_training_text_sources(tmp_path):
    with pytest.raises(gr.Error, match="paste box is empty"):
        tab.reset(*settings(source=tab.SOURCES[1], pasted="  "))
    with pytest.raises(gr.Error, match="No file uploaded"):
        tab.reset(*settings(source=tab.SOURCES[2]))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00abc")
    with pytest.raises(gr.Error, match="not UTF-8"):
        tab.reset(*settings(source=tab.SOURCES[2], upload=str(bad)))
    good = tmp_path / "good.txt"
    good.write_text("aaab aaab", encoding="utf-8")
    session = tab.reset(*settings(source=tab.SOURCES[2], upload=str(good)))[0]
    assert session.trainer.n_bytes == 9
    long_text = "xy " * (tab.MAX_TRAIN_CHARS // 2)
    session = tab.reset(*settings(source=tab.SOURCES[1], pasted=long_text))[0]
    assert session.trainer.n_bytes == tab.MAX_TRAIN_CHARS


def test_encode_and_decode_boxes():
    session = tab.start(*settings())[0]
    text = "Python is fun. Héllo 😍"
    html, ids_text, summary = tab.encode_box(session, text)
    ids = [int(x) for x in ids_text.split()]
    assert ids == simple.encode(session.trainer.tokenizer(), text)
    assert f"**{len(ids)} tokens**" in summary and html.count('class="tok"') == len(ids)
    assert tab.decode_box(session, ids_text) == text
    assert tab.decode_box(session, "240") == "\ufffd"  # one byte of a 4-byte emoji
    with pytest.raises(gr.Error, match="numbers separated by spaces"):
        tab.decode_box(session, "12 abc")
    with pytest.raises(gr.Error, match="not in this vocabulary"):
        tab.decode_box(session, "99999")
    with pytest.raises(gr.Error, match="at most"):
        tab.encode_box(session, "x" * (tab.MAX_INPUT_CHARS + 1))


def test_comparison_counts_match_tiktoken_and_characters():
    from core import tiktoken_offline

    session = tab.start(*settings())[0]
    text = EXAMPLES["Non-English"][0]
    rows, html = tab.compare(session, text, 8192, 2.5)
    by_name = {r[0]: r for r in rows}
    assert by_name["characters"][1] == len(text)
    ours = by_name[f"your BPE ({session.trainer.vocab_size} tokens)"]
    assert ours[1] == len(simple.encode(session.trainer.tokenizer(), text))
    for name in tiktoken_offline.distinct_names():
        n = len(tiktoken_offline.get_encoding(name).encode(text))
        assert by_name[name][1] == n
        assert by_name[name][2] == round(len(text) / n, 2)
        assert by_name[name][3] == round(len(text.encode()) / n, 2)
        assert by_name[name][4] == f"{n / 8192:.2%}" and by_name[name][5] == f"${n * 1000 * 2.5 / 1e6:.4f}"
        assert f"<h4>{name}: {n} tokens</h4>" in html
    assert {"cl100k_base", "o200k_base", "r50k_base"} <= set(by_name) and "gpt2" not in by_name  # gpt2 = r50k_base
    with pytest.raises(gr.Error, match="Type or pick"):
        tab.compare(session, " ", 8192, 2.5)


def test_examples_and_availability_text():
    for name in EXAMPLES:
        text, why, checked = tab.example_text(name)
        assert text == EXAMPLES[name][0] and why.startswith("**Why look here:**")
        assert checked.good == (text, 8192, 2.5)  # what the comparison then shows
    table = tab.availability_text()
    for name in ("cl100k_base", "o200k_base", "r50k_base", "gpt2"):
        assert f"`{name}`" in table
    assert table.count("✅") == 4 and "not available" not in table  # every encoding works offline here


def test_save_tokenizer_into_the_learners_folder():
    from core import bpe, sessions

    user = sessions.new_user_id()
    session = tab.start(*settings())[0]
    update = tab.save_tokenizer(session, user)
    path = update["value"]
    assert path.startswith(str(sessions.user_dir(user)))
    assert bpe.load(path).merges == session.trainer.merges


def test_stop_ends_play_as_a_result_with_no_eta():
    session = tab.start(*settings())[0]
    frames = tab.play(session, *settings(target=2048), speed=1000)
    first = next(frames)
    assert first[-2]["interactive"] is False and first[-1]["interactive"] is True  # Play busy, Stop enabled
    running = next(frames)  # half a second of merges later
    assert "ETA" in running[1]
    reached = len(running[0].trainer.merges)
    tab.request_stop(running[0])  # what the Stop button does, while Play runs
    *_, last = frames
    assert f"stopped at merge {reached:,}" in last[1] and "ETA" not in last[1]
    assert last[-2]["value"] == "Play" and last[-2]["interactive"] is True and last[-1]["interactive"] is False
    assert 12 < reached < 1792 and last[0].trainer.merges == recount(CORPUS, reached)[0]  # no merge after the request
    assert not last[0].stop_requested  # the next Play starts afresh


def test_every_free_text_box_is_bounded_in_the_handler():
    with pytest.raises(gr.Error, match="keep them under 400"):
        tab.reset(*settings(special="<|x|>" * 2_000_000))  # 10 MB: refused before any work
    with pytest.raises(gr.Error, match="at most 16"):
        tab.check_settings(*settings(special=" ".join(f"<{i}>" for i in range(17))))
    session = tab.start(*settings())[0]
    with pytest.raises(gr.Error, match="decode at most"):
        tab.decode_box(session, "1 " * tab.MAX_INPUT_CHARS)
    with pytest.raises(gr.Error, match="'abc' is not a token id"):  # a sentence, not Python's int() message
        tab.decode_box(session, "12 abc")
    with pytest.raises(gr.Error, match="compare at most"):
        tab.compare(session, "x" * (tab.MAX_INPUT_CHARS + 1), 8192, 2.5)
    with pytest.raises(gr.Error, match="Give the context length"):
        tab.compare(session, "abc", None, 2.5)


def test_uploads_are_read_like_every_other_tab(tmp_path):
    # a BOM and Windows line ends are not content (core.text_input): same bytes as tab 4 trains on
    upload = tmp_path / "notes.txt"
    upload.write_bytes(b"\xef\xbb\xbfab ab\r\nab ab\r\n")
    session = tab.reset(*settings(source=tab.SOURCES[2], upload=str(upload)))[0]
    assert session.trainer.n_bytes == len("ab ab\nab ab\n")


def test_a_closed_tab_releases_its_trainer():
    import gradio as gr_

    from lessons.common import LessonContext

    with gr_.Blocks() as demo:
        with gr_.Tabs(), gr_.Tab("alone") as t:
            tab.build(LessonContext(demo=demo, tab=t, user_id=gr_.BrowserState(None)))
    state = next(b for b in demo.blocks.values() if isinstance(b, gr_.State) and b.value is None)
    assert any(t[1] == "unload" for fn in demo.fns.values() for t in fn.targets)
    from gradio.state_holder import StateHolder

    demo.state_holder = StateHolder()
    demo.state_holder.set_blocks(demo)
    session_state = demo.state_holder["learner-1"]
    session_state[state._id] = tab.start(*settings())[0]
    assert tab.release(demo, state, "learner-1") is True
    assert session_state[state._id] is None
    assert tab.release(demo, state, "learner-1") is False and tab.release(demo, state, "nobody") is False


def test_the_merges_prediction_makes_the_next_100_merges():
    session = tab.start(*settings())[0]
    with pytest.raises(gr.Error, match="Type your guess"):
        tab.predict_merges("", session, **DEFAULTS)
    assert len(session.trainer.merges) == 12  # a missing guess made no merge
    out = tab.predict_merges("20000", session, **{**DEFAULTS, "target": 300})
    merges, chunks, _ = recount(CORPUS, 12 + tab.AHEAD)
    actual = len(chunks[0])
    assert out["state"].trainer.merges == merges
    assert f"**the lab:** {actual} tokens" in out["feedback"] and f"to {actual:,} tokens" in out["feedback"]
    assert out["target"] == 256 + 12 + tab.AHEAD  # the slider is raised so the merges fit
    assert f"Merges {12 + tab.AHEAD} / {12 + tab.AHEAD}" in out["status"] and f"→ {actual:,} tokens" in out["status"]
    before = len(recount(CORPUS, 12)[1][0])
    assert f"from {before:,} to {actual:,} tokens" in out["feedback"]
    assert tab.predict_merges("1", out["state"], **DEFAULTS)["target"] == 512  # a higher target is kept
    far = tab.start(*settings(target=tab.MAX_TARGET))[0]
    tab.advance(far, tab.MAX_TARGET - 256 - 50)
    with pytest.raises(gr.Error, match="Press Reset"):
        tab.predict_merges("1", far, **{**DEFAULTS, "target": tab.MAX_TARGET})


def test_the_encode_prediction_counts_the_sentence_with_the_learners_tokenizer():
    session = tab.start(*settings())[0]
    with pytest.raises(gr.Error, match="Type your guess"):
        tab.predict_encoded(" ", session)
    out = tab.predict_encoded("30", session)
    ids = simple.encode(session.trainer.tokenizer(), tab.PREDICT_SENTENCE)
    assert f"**the lab:** {len(ids)} tokens" in out["feedback"] and f"vocabulary of {session.trainer.tokenizer().vocab_size}" in out["feedback"]
    assert out["text"] == tab.PREDICT_SENTENCE and out["text_state"].good == (tab.PREDICT_SENTENCE,)
    assert out["ids"] == " ".join(map(str, ids)) and out["decoded"] == tab.PREDICT_SENTENCE
    assert f"**{len(ids)} tokens**" in out["summary"] and out["view"].count('class="tok"') == len(ids)
    with pytest.raises(gr.Error, match="Train a tokenizer"):
        tab.predict_encoded("30", None)


def test_the_foreign_prediction_counts_cl100k_and_shows_the_example():
    from core import tiktoken_offline
    from lessons.inputs import Checked

    import tiktoken

    tiktoken_offline.get_encoding("cl100k_base")  # the bundled file in tiktoken's cache
    text = EXAMPLES["Non-English"][0]
    actual = len(tiktoken.get_encoding("cl100k_base").encode(text))
    english = len(tiktoken.get_encoding("cl100k_base").encode(EXAMPLES["English prose"][0]))
    session = tab.start(*settings())[0]
    with pytest.raises(gr.Error, match="Type your guess"):
        tab.predict_foreign("", session, Checked.start("x", 4096, 1.0))
    out = tab.predict_foreign("20", session, Checked.start("x", 4096, 1.0))
    assert f"**the lab:** {actual / english:.3g} ×" in out["feedback"] and f"take {english}: {actual} / {english}." in out["feedback"]
    assert out["example"] == "Non-English" and out["text"] == text and out["checked"].good == (text, 4096, 1.0)
    row = next(r for r in out["table"] if r[0] == "cl100k_base")
    assert row[1] == actual and row[4] == f"{actual / 4096:.2%}"  # the learner's context length is kept
    assert f"<h4>cl100k_base: {actual} tokens</h4>" in out["views"]


@pytest.mark.browser
def test_step_through_in_a_browser(page, tmp_path):
    open_tab(page, "6 · Tokenization")
    status = page.locator("#bpe-status")
    status.get_by_text("Merges 12 / 256").wait_for()
    page.get_by_role("button", name="Step", exact=True).click()
    status.get_by_text("Merges 13 / 256").wait_for()
    page.get_by_role("button", name="Step ×10").click()
    status.get_by_text("Merges 23 / 256").wait_for()
    merge = page.locator("#bpe-last-merge").inner_text()
    assert re.search(r"Merge 23: the pair .* occurred [\d,]+ times, so it became token 278", merge)
    assert page.locator("#bpe-preview .tok").count() > 100
    # the comparison ran on load with the official encodings
    page.locator("#compare-tokens").get_by_text("cl100k_base:").wait_for()
    availability = page.locator("#tiktoken-availability").inner_text()
    assert "not available" not in availability and availability.count("✅") == 4  # gpt2 and r50k ship offline too
    # predict, then run: the guess is judged and the comparison switches to the non-English example
    from core.tiktoken_offline import get_encoding

    foreign = len(get_encoding("cl100k_base").encode(EXAMPLES["Non-English"][0]))
    page.locator("#predict-foreign-guess textarea").fill("2")
    page.locator("#predict-foreign-button").click()
    page.locator("#predict-foreign-feedback").get_by_text("the lab:").wait_for()
    assert f"take {foreign} tokens" in page.locator("#predict-foreign-feedback").inner_text()
    page.locator("#compare-tokens").get_by_text(f"cl100k_base: {foreign} tokens").wait_for()
    # Play towards a vocabulary of 2048, then Stop: it stops, and the page keeps what was reached
    target = page.locator("#bpe-target input[type=number]")
    target.fill("2048")
    target.press("Enter")
    speed = page.locator("#bpe-speed input[type=number]")
    speed.fill("40")
    speed.press("Enter")
    page.get_by_role("button", name="Play").click()
    status.get_by_text("merges/s").wait_for()
    page.get_by_role("button", name="Stop").click()
    page.wait_for_timeout(1500)

    def reached():
        return int(re.search(r"Merges ([\d,]+) / 1,792", status.inner_text()).group(1).replace(",", ""))

    stopped_at = reached()
    page.wait_for_timeout(1500)
    assert 23 < stopped_at == reached() < 1792
    page.screenshot(path=str(tmp_path / "part06.png"), full_page=True)


@pytest.mark.browser
def test_play_is_busy_then_stop_is_a_result(page):
    open_tab(page, "6 · Tokenization")
    status = page.locator("#bpe-status")
    status.get_by_text("Merges 12 / 256").wait_for()
    speed = page.locator("#bpe-speed input[type=number]")
    speed.fill("20")
    speed.press("Enter")
    page.get_by_role("button", name="Play").click()
    playing = page.get_by_role("button", name="Playing…")
    playing.wait_for()
    assert playing.is_disabled() and page.locator("#bpe-stop").is_enabled()
    status.get_by_text("ETA").wait_for()
    page.locator("#bpe-stop").click()
    status.get_by_text("stopped at merge").wait_for()
    assert "ETA" not in status.inner_text()  # nothing live-looking is left behind
    page.get_by_role("button", name="Play", exact=True).wait_for()
    assert page.get_by_role("button", name="Play", exact=True).is_enabled() and page.locator("#bpe-stop").is_disabled()
    panel = page.locator("[role=tabpanel]").filter(has=status)
    assert panel.get_by_text("Error", exact=True).count() == 0
    # a bad setting: one message, and no badge on the results it never touched
    from tests.lessons.test_part03_core_math import _toasts, record_toasts

    record_toasts(page)
    special = page.locator("#bpe-special textarea")
    special.fill(" ".join(f"<{i}>" for i in range(20)))
    page.get_by_role("button", name="Step", exact=True).click()
    page.locator(".toast-body").filter(has_text="at most 16").first.wait_for()
    page.wait_for_timeout(1000)
    assert _toasts(page, "at most 16") == 1
    assert panel.get_by_text("Error", exact=True).count() == 0 and "stopped at merge" in status.inner_text()

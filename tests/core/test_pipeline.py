"""core.pipeline: data statistics, the tokenizer step, bits per character two ways, the zip, the CLI, bad input."""
import json
import math
import zipfile

import pytest
import torch
from safetensors import safe_open

from core import pipeline, text_input
from core.__main__ import main
from core.minigpt import checkpoint

TINY = dict(steps=16, block_size=16, n_layer=1, n_head=2, n_embd=32, batch_size=8)
TEXT = text_input.builtin_corpus()[:4000]


@pytest.fixture(scope="module")
def data():
    return pipeline.prepare_data(TEXT)


@pytest.fixture(scope="module", params=["char", "bpe"])
def finished(request, data, tmp_path_factory):
    settings = pipeline.Settings(tokenizer=request.param, vocab_size=300, **TINY)
    reports = list(pipeline.run(data, settings, tmp_path_factory.mktemp("pipe") / request.param))
    return settings, reports


def test_data_step_cleans_splits_and_counts():
    raw = "\ufeffline one  \r\nline two\n\n\n\n\nline three\t\n" + "more text here\n" * 30
    data = pipeline.prepare_data(raw, val_fraction=0.2)
    expected = "line one\nline two\n\nline three\n" + "more text here\n" * 30
    assert data.text == expected
    s = data.stats
    assert s["characters"] == len(expected) and s["distinct_characters"] == len(set(expected))
    assert s["lines"] == len(expected.splitlines()) and s["removed_by_cleaning"] == len(raw) - len(expected)
    assert s["train_characters"] == len(data.train_text) and data.train_text.endswith("\n")  # cut at a line start
    assert abs(len(data.val_text) - 0.2 * len(expected)) <= 15


def test_bad_input_is_refused_at_the_step_that_needs_it(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        pipeline.prepare_data("  \n ")
    with pytest.raises(ValueError, match="one distinct character"):
        pipeline.prepare_data("aaaa aaaa\n" * 5)
    small = pipeline.prepare_data("the cat sat. " * 20)
    with pytest.raises(ValueError, match="at most 2[0-9][0-9]"):  # a few words: few merges possible
        pipeline.make_tokenizer(small, pipeline.Settings(tokenizer="bpe", vocab_size=1000))
    with pytest.raises(ValueError, match="between 260 and 4096"):
        pipeline.make_tokenizer(small, pipeline.Settings(tokenizer="bpe", vocab_size=99999))
    short = pipeline.Settings(tokenizer="char", **TINY | {"block_size": 64})
    summary = pipeline.tokenizer_summary(pipeline.make_tokenizer(small, short), small)
    with pytest.raises(ValueError, match="validation text is 26 tokens long; a context of 64"):
        pipeline.check_length_for_context(summary, 64)
    with pytest.raises(ValueError, match="validation text is 26 tokens"):  # the run checks it before training
        list(pipeline.run(small, short, tmp_path / "short"))


def test_tokenizer_step_reports_its_compression(data):
    settings = pipeline.Settings(tokenizer="bpe", vocab_size=300)
    tok = pipeline.make_tokenizer(data, settings)
    summary = pipeline.tokenizer_summary(tok, data)
    assert summary["vocab_size"] == 300
    assert summary["characters_per_token"] == len(data.train_text) / len(tok.encode(data.train_text)) > 1.2
    char = pipeline.tokenizer_summary(pipeline.make_tokenizer(data, pipeline.Settings()), data)
    assert char["characters_per_token"] == 1.0 and char["vocab_size"] == len(set(data.text))


def _bits_scored_directly(model, tokenizer, data) -> float:
    """An independent scoring: every validation token on its own forward pass over exactly its window's
    context, log-softmax in float64, -log2 p summed and divided by the validation characters."""
    block = model.config.block_size
    context = pipeline.context_ids(tokenizer, data.train_text, block)
    val = tokenizer.encode(data.val_text)
    ids = context + val
    bits = 0.0
    with torch.no_grad():
        for p in range(len(context), len(ids)):
            start = (p - 1) // block * block  # the window holding the prediction of position p
            logits = model(torch.tensor([ids[start:p]]))[0][0, -1].double()
            bits -= float(torch.log_softmax(logits, -1)[ids[p]]) / math.log(2)
    return bits / len(data.val_text)


def test_bits_per_character_two_ways_agree(finished, data):
    settings, reports = finished
    last = reports[-1]
    assert [r.stage for r in reports][:2] == ["tokenizer", "pretrain"] and last.stage == "done"
    e = last.evaluation
    loaded = checkpoint.load(last.run_dir)
    assert loaded.tokenizer.kind == settings.tokenizer
    assert e.validation_tokens == len(loaded.tokenizer.encode(data.val_text)) and e.validation_characters == len(data.val_text)
    assert e.bits_per_character == pytest.approx(e.loss_per_token * e.tokens_per_character / math.log(2), rel=1e-12)
    direct = _bits_scored_directly(loaded.model, loaded.tokenizer, data)
    print(f"{settings.tokenizer}: {e.bits_per_character:.5f} bits/char (direct {direct:.5f})")
    assert e.bits_per_character == pytest.approx(direct, rel=1e-5)
    assert 0 < e.bits_per_character < math.log2(256)
    assert all(s.startswith(data.val_text[:pipeline.SAMPLE_PROMPT_CHARS]) for s in e.samples)


def test_zip_holds_what_it_says_and_no_pickle(finished, tmp_path):
    settings, reports = finished
    last = reports[-1]
    with zipfile.ZipFile(last.zip_path) as zf:
        names = {n.split("/", 1)[1] for n in zf.namelist()}
        assert names == {"README.md", *pipeline.ZIPPED}
        assert not any(n.endswith((".pkl", ".pickle", ".pt", ".pth", ".bin")) for n in zf.namelist())
        zf.extractall(tmp_path)
    folder = tmp_path / last.run_dir.name
    for path in folder.iterdir():  # every file is UTF-8 text or safetensors: nothing that could be a pickle
        if path.suffix == ".safetensors":
            with safe_open(str(path), "pt") as f:
                assert "lm_head.weight" in f.keys() or "wte.weight" in f.keys()
        else:
            path.read_text(encoding="utf-8")
    readme = (folder / "README.md").read_text()
    assert f"python -m core pipeline corpus.txt --out rerun --tokenizer {settings.tokenizer}" in readme
    assert "python -m core generate" in readme
    assert json.loads((folder / "evaluation.json").read_text())["bits_per_character"] == last.evaluation.bits_per_character
    assert (folder / "loss_history.csv").read_text().startswith("step,train_loss,val_loss\n")
    assert (folder / "corpus.txt").read_text() == pipeline.prepare_data(TEXT).text
    reloaded = checkpoint.load(folder)  # the zip's checkpoint works by itself
    assert reloaded.tokenizer.kind == settings.tokenizer
    back = pipeline.read_run(last.run_dir)
    assert pipeline.comparison_row(back)[-1] == round(last.evaluation.bits_per_character, 4)


def test_cli_runs_the_pipeline_and_its_readme_reproduces_it(tmp_path, monkeypatch, capsys):
    corpus = tmp_path / "notes.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    args = ["--tokenizer", "bpe", "--vocab-size", "300", "--steps", "6", "--model", "tiny"]
    assert main(["pipeline", str(corpus), "--out", str(tmp_path / "out"), *args]) == 0
    out = capsys.readouterr().out
    bits = float(out.split(" bits per character")[0].rsplit("= ", 1)[1])
    saved = json.loads((tmp_path / "out" / "bpe" / "evaluation.json").read_text())
    assert round(saved["bits_per_character"], 4) == bits and "characters per token" in out
    with zipfile.ZipFile(tmp_path / "out" / "bpe.zip") as zf:
        zf.extractall(tmp_path / "unzipped")
    folder = tmp_path / "unzipped" / "bpe"
    command = next(line for line in (folder / "README.md").read_text().splitlines() if line.startswith("python -m core pipeline"))
    assert "--model tiny" in command and "--vocab-size 300" in command
    monkeypatch.chdir(folder)
    assert main(command.split()[3:]) == 0  # the README's own command, run in the unzipped folder
    again = json.loads((folder / "rerun" / "bpe" / "evaluation.json").read_text())
    assert again["bits_per_character"] == pytest.approx(saved["bits_per_character"], rel=1e-5)
    assert main(["pipeline", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "x")]) == 2

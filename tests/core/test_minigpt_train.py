"""Data windows, the learning-rate schedule, and a tiny training run end to end."""
import csv
import math
from dataclasses import replace

import pytest
import torch

from core.minigpt import checkpoint, data, train
from core.minigpt.config import GPTConfig

CORPUS = "a cat sat on a mat. a dog sat on a log. " * 20
TINY = GPTConfig(block_size=16, n_layer=1, n_head=2, n_embd=32)


def tiny_train_config(**overrides):
    return train.TrainConfig(**{**dict(steps=60, batch_size=8, learning_rate=1e-2, warmup_steps=5, eval_every=30,
                                       eval_batches=2, sample_every=30, sample_tokens=20, log_every=10, threads=1),
                                **overrides})


def test_windows_are_shifted_by_one_and_split_train_validation():
    ds = data.CharDataset(CORPUS, block_size=16, val_fraction=0.1)
    assert len(ds.train) + len(ds.val) == len(CORPUS) and len(ds.val) == len(CORPUS) // 10
    x, y = ds.batch("train", 4, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 16)
    assert torch.equal(x[:, 1:], y[:, :-1])
    text = ds.tokenizer.decode(torch.cat([x[0], y[0, -1:]]).tolist())
    assert text in CORPUS[: len(ds.train)]


def test_bad_corpora_give_clear_messages():
    with pytest.raises(ValueError, match="has 40 characters; it needs at least 130 for a context of 64"):
        data.CharDataset("x" * 20 + "y" * 20, block_size=64)
    with pytest.raises(ValueError, match="one distinct"):
        data.CharDataset("a" * 500, block_size=16)
    with pytest.raises(ValueError, match="empty"):
        data.CharDataset("", block_size=16)


def test_corpus_files_utf8_size_and_line_ends(tmp_path):
    good = tmp_path / "good.txt"
    good.write_bytes("\ufeffcaf\u00e9 au lait\r\nsecond line".encode("utf-8"))
    assert data.read_text_file(good) == "caf\u00e9 au lait\nsecond line"
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\u00e9".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8 text .byte 0xe9 at position 3"):
        data.read_text_file(latin1)
    with pytest.raises(ValueError, match="limit is 0 MB"):
        data.read_text_file(good, max_bytes=10)
    with pytest.raises(ValueError, match="limit is 2,000,000"):
        data.check_corpus("ab" * 1_000_001, 16)


def test_builtin_corpus_is_there():
    text = data.builtin_corpus()
    assert len(text) > 10_000 and "Python is" in text


def test_schedule_warms_up_then_decays_to_a_tenth():
    cfg = train.TrainConfig(steps=100, learning_rate=1.0, warmup_steps=10)
    lrs = [train.learning_rate_at(s, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert train.learning_rate_at(100, cfg) == pytest.approx(0.1)
    assert train.learning_rate_at(55, cfg) == pytest.approx(0.1 + 0.9 * 0.5)


def test_tiny_run_learns_reports_and_writes_its_folder(tmp_path):
    reports = list(train.train(CORPUS, TINY, tiny_train_config(), out_dir=tmp_path))
    first, last = reports[0], reports[-1]
    assert first.step == 0 and first.train_loss == pytest.approx(math.log(first.vocab_size), abs=0.15)
    assert last.done and last.stop_reason is None and last.step == 60
    assert last.train_loss < first.train_loss - 1.0 and last.val_loss < first.val_loss - 1.0
    assert [s for s, _ in last.val_curve] == [0, 30, 60]
    assert [s for s, _ in last.samples] == [30, 60] and last.samples[-1][1].startswith(CORPUS[:16])
    assert all(p.tokens_per_s > 0 for p in reports[1:])
    # the folder: a loadable checkpoint whose validation loss matches what was reported
    loaded = checkpoint.load(tmp_path)
    assert loaded.meta["steps_done"] == 60
    ds = data.CharDataset(CORPUS, 16, 0.1, tokenizer=loaded.tokenizer)
    assert train.estimate_loss(loaded.model, ds, "val", 2, 8) == pytest.approx(last.val_loss, rel=1e-5)
    rows = list(csv.DictReader((tmp_path / train.LOSS_CSV).open()))
    assert [int(r["step"]) for r in rows] == [0, 10, 20, 30, 40, 50, 60]
    assert float(rows[-1]["val_loss"]) == pytest.approx(last.val_loss, rel=1e-5)
    assert "=== step 60 ===" in (tmp_path / train.SAMPLES_TXT).read_text()
    # read_run rebuilds the same curves from the folder (what tab 4 shows for a finished run)
    again = train.read_run(tmp_path)
    assert [s for s, _ in again.train_curve] == [s for s, _ in last.train_curve]
    assert [v for _, v in again.train_curve] == pytest.approx([v for _, v in last.train_curve], rel=1e-5)
    assert [s for s, _ in again.val_curve] == [s for s, _ in last.val_curve]
    assert [v for _, v in again.val_curve] == pytest.approx([v for _, v in last.val_curve], rel=1e-5)
    assert (again.step, again.vocab_size, again.num_params) == (60, last.vocab_size, last.num_params)
    assert train.read_run(tmp_path / "missing") is None


def test_same_seed_same_run():
    a = list(train.train(CORPUS, TINY, tiny_train_config(steps=20)))[-1]
    b = list(train.train(CORPUS, TINY, tiny_train_config(steps=20)))[-1]
    assert a.train_curve == b.train_curve and a.samples == b.samples


def test_stop_request_and_closing_the_generator_both_save(tmp_path):
    calls = []
    reports = list(train.train(CORPUS, TINY, tiny_train_config(), out_dir=tmp_path / "a",
                               should_stop=lambda: calls.append(1) or len(calls) >= 15))
    assert reports[-1].done and reports[-1].stop_reason == "stopped" and reports[-1].step == 15
    assert checkpoint.load(tmp_path / "a").meta["steps_done"] == 15
    gen = train.train(CORPUS, TINY, tiny_train_config(), out_dir=tmp_path / "b")
    for progress in gen:
        if progress.step == 20:
            break
    gen.close()
    assert checkpoint.load(tmp_path / "b").meta["steps_done"] == 20


def test_nan_loss_stops_cleanly_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    class Exploding(train.MiniGPT):
        calls = 0

        def forward(self, idx, targets=None, cache=None):
            logits, loss = super().forward(idx, targets, cache)
            if self.training:
                Exploding.calls += 1
                if Exploding.calls >= 35:  # training step 35 diverges
                    loss = loss * float("nan")
            return logits, loss

    monkeypatch.setattr(train, "MiniGPT", Exploding)
    reports = list(train.train(CORPUS, TINY, tiny_train_config(), out_dir=tmp_path))
    last = reports[-1]
    assert last.done and "nan at step 35" in last.stop_reason and "smaller learning rate" in last.stop_reason
    loaded = checkpoint.load(tmp_path)
    assert loaded.meta["steps_done"] == 30  # the last evaluated weights, not the broken ones
    assert all(torch.isfinite(p).all() for p in loaded.model.parameters())


def test_presets_are_valid_and_default_is_the_guides_model():
    for name in train.PRESETS:
        model_config, train_config = train.preset(name)
        train_config.validate()
        model_config.validate()
    model_config, _ = train.preset("default")
    assert 0.75e6 < model_config.num_params() < 0.85e6
    with pytest.raises(ValueError, match="Unknown preset"):
        train.preset("nope")


def test_zip_holds_the_whole_run(tmp_path):
    import zipfile

    run = tmp_path / "run"
    list(train.train(CORPUS, TINY, tiny_train_config(steps=10, eval_every=10, sample_every=10), out_dir=run))
    path = train.zip_run(run)
    names = sorted(zipfile.ZipFile(path).namelist())
    assert names == ["run/config.json", "run/loss_history.csv", "run/model.safetensors", "run/samples.txt"]
    assert zipfile.ZipFile(path).read("run/loss_history.csv") == (run / train.LOSS_CSV).read_bytes()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no saved checkpoint"):
        train.zip_run(tmp_path / "empty")


def test_with_steps_keeps_the_recipe_and_scales_the_cadence():
    _, cfg = train.preset("default")
    short = cfg.with_steps(100)
    assert (short.steps, short.warmup_steps, short.eval_every, short.sample_every) == (100, 10, 7, 17)
    assert (short.learning_rate, short.batch_size) == (cfg.learning_rate, cfg.batch_size)


def test_epoch_windows_cover_every_character_once_per_epoch():
    tokens = torch.arange(1000)
    windows = data.EpochWindows(tokens, 16, torch.Generator().manual_seed(0))
    targets, firsts = [], []
    while windows.epoch < 2 or not targets:
        x, y = windows.batch(1)
        assert torch.equal(x[0, 1:], y[0, :-1]) and torch.equal(y[0], x[0] + 1)
        if windows.epoch == 1:
            targets += y[0].tolist()
            firsts.append(int(x[0, 0]))
        if windows.epoch == 2 and not windows._queue.numel():
            break
    offset = min(firsts)
    assert offset < 16 and len(set(targets)) == len(targets)  # no character twice in one epoch
    assert set(targets) == set(range(offset + 1, offset + 1 + 16 * len(firsts)))  # back to back from the offset
    assert len(firsts) == (999 - offset) // 16 and firsts != sorted(firsts)  # all windows that fit, shuffled


def test_epoch_windows_batches_continue_into_the_next_epoch():
    windows = data.EpochWindows(torch.arange(100), 8, torch.Generator().manual_seed(0))
    x, y = windows.batch(30)  # an epoch holds at most 12 windows of 8
    assert x.shape == (30, 8) and windows.epoch >= 3
    with pytest.raises(ValueError, match="shorter than one window"):
        data.EpochWindows(torch.arange(8), 8)


def test_window_loss_floor_is_the_loss_of_the_best_possible_predictor():
    """The floor equals the cross-entropy of the empirical next-character distributions, computed in float64."""
    text, T = "abcabdabcabe" * 3 + "xabcz", 6
    starts = range(len(text) - T)
    losses = []
    for k in range(T):
        contexts = [text[s:s + k + 1] for s in starts]
        nexts = [text[s + k + 1] for s in starts]
        vocab = sorted(set(text))
        for ctx, nxt in zip(contexts, nexts):
            counts = torch.zeros(len(vocab), dtype=torch.float64)
            for c, n in zip(contexts, nexts):
                if c == ctx:
                    counts[vocab.index(n)] += 1
            logits = torch.log(counts.clamp(min=1e-300))
            losses.append(torch.nn.functional.cross_entropy(logits[None], torch.tensor([vocab.index(nxt)])).item())
    assert data.window_loss_floor(text, T) == pytest.approx(sum(losses) / len(losses), rel=1e-12, abs=1e-15)
    assert data.window_loss_floor("abcdefgh" * 4, 4) == pytest.approx(0.0)  # every context is unambiguous


def test_muon_runs_give_matrices_to_muon_and_the_rest_to_adamw():
    model = train.MiniGPT(TINY)
    cfg = tiny_train_config(optimizer="muon", muon_lr=0.05, learning_rate=0.01)
    adamw, muon = train.make_optimizers(model, cfg)
    in_muon = {id(p) for g in muon.param_groups for p in g["params"]}
    in_adamw = {id(p) for g in adamw.param_groups for p in g["params"]}
    names = {id(p): n for n, p in model.named_parameters()}
    assert in_muon.isdisjoint(in_adamw) and in_muon | in_adamw == set(names)
    assert sorted(names[i] for i in in_muon) == sorted(n for n, p in model.named_parameters()
                                                        if n.startswith("blocks.") and p.dim() == 2)
    assert "wte.weight" in {names[i] for i in in_adamw} and "lm_head.weight" in {names[i] for i in in_adamw}
    lr = train.set_learning_rate([adamw, muon], 3, cfg)
    assert lr == pytest.approx(train.learning_rate_at(3, cfg))
    assert muon.param_groups[0]["lr"] == pytest.approx(0.05 * lr / 0.01)
    assert len(train.make_optimizers(model, tiny_train_config())) == 1


def test_muon_with_short_windows_learns_and_reports_full_windows_only():
    reports = list(train.train(CORPUS, TINY, tiny_train_config(optimizer="muon", muon_lr=0.02, short_window=8)))
    assert reports[-1].train_loss < 0.5 * reports[0].train_loss
    assert reports[-1].epoch > 1 and reports[-1].train_time > 0
    assert all(step % 10 == 0 for step, _ in reports[-1].train_curve)


def test_bad_optimizer_and_short_window_are_refused():
    with pytest.raises(ValueError, match="Unknown optimizer 'sgd'"):
        list(train.train(CORPUS, TINY, tiny_train_config(optimizer="sgd")))
    with pytest.raises(ValueError, match="short_window = 16 must be 0 .off. or from 8 to less than the context .16."):
        list(train.train(CORPUS, TINY, tiny_train_config(short_window=16)))


def test_short_windows_that_do_not_fit_the_context_are_turned_off_with_a_note():
    cfg = tiny_train_config(short_window=48)
    assert train.fit_short_window(cfg, 64) == (cfg, None)
    fitted, note = train.fit_short_window(cfg, 48)
    assert fitted.short_window == 0 and cfg.short_window == 48
    assert note == "The short windows (48) are not shorter than the context (48): training without them."


def test_run_info_is_stored_in_the_checkpoint_meta(tmp_path):
    from core.minigpt import checkpoint as ckpt_mod
    from core.minigpt.config import GPTConfig as Config

    text = "abcdefgh" * 40
    cfg = train.TrainConfig(steps=3, batch_size=2, eval_every=3, sample_every=3, sample_tokens=4, warmup_steps=0, threads=1)
    info = {"preset": "default", "corpus": "pasted text"}
    list(train.train(text, Config(block_size=8, n_layer=1, n_head=1, n_embd=16), cfg, out_dir=tmp_path, run_info=info))
    meta = ckpt_mod.load(tmp_path).meta
    assert meta["run_info"] == info and meta["total_steps"] == 3 and meta["steps_done"] == 3


def _losses_step_by_step(seed, start=None):
    """Every step's training loss, every validation loss and sample of a small run with dropout on."""
    cfg = tiny_train_config(steps=24, log_every=1, eval_every=8, sample_every=12, seed=seed)
    if start is not None:
        start.wait()  # both threads begin training at the same moment
    last = list(train.train(CORPUS, GPTConfig(**{**TINY.to_dict(), "dropout": 0.2}), cfg))[-1]
    return last.train_curve, last.val_curve, last.samples


def test_two_trainings_at_once_in_threads_give_exactly_their_losses_alone():
    import threading

    alone = {seed: _losses_step_by_step(seed) for seed in (1, 2)}
    assert alone[1][0] != alone[2][0] and len(alone[1][0]) == 25  # step 0 and every one of the 24 steps
    assert _losses_step_by_step(1) == alone[1]  # and a run alone is reproducible
    start, together, errors = threading.Barrier(2), {}, []

    def run(seed):
        try:
            together[seed] = _losses_step_by_step(seed, start)
        except BaseException as err:  # noqa: BLE001 - reported below, not lost in the thread
            errors.append(err)

    before = torch.get_rng_state()
    workers = [threading.Thread(target=run, args=(seed,)) for seed in (1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    assert together == alone  # ==: bit for bit, step for step, validation losses and samples too
    assert torch.equal(torch.get_rng_state(), before)  # neither run drew from torch's global generator


def test_untrained_loss_is_the_curves_step_zero_and_near_ln_v():
    """The tab-4 prediction's answer: the loss train() reports at step 0, measured without training (and
    near ln V, a uniform guess, from torch's own cross-entropy on uniform logits)."""
    cfg = tiny_train_config(steps=2, eval_every=2, sample_every=2)
    first = next(iter(train.train(CORPUS, TINY, cfg)))
    measured = train.untrained_loss(CORPUS, TINY, cfg)
    assert measured == pytest.approx(first.train_curve[0][1], abs=1e-6)
    vocab = len(set(CORPUS))
    targets = torch.arange(vocab)
    uniform = torch.nn.functional.cross_entropy(torch.zeros(vocab, vocab), targets).item()  # ln V
    assert measured == pytest.approx(uniform, abs=0.3)
    other = train.untrained_loss(CORPUS, TINY, replace(cfg, seed=cfg.seed + 1))
    assert other != measured  # other weights, another start: the value is measured, not ln V typed in

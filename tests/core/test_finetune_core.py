"""core.finetune offline: a tiny Llama built here, and the shipped pocket model.

One LoRA run on the tiny model is shared by the tests that need a trained adapter (trl's import
and a run cost seconds; the whole file must stay fast on one thread).
"""
import dataclasses
import functools
import json
import math
import threading
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core import registry, sessions
from core.finetune import chat, data, export, lora, models, pocket
from core.finetune.train import StopFlag, TrainSettings, train

ROOT = Path(__file__).resolve().parents[2]
TEXT = ("Python is a language. A neural network learns weights. The transformer uses attention. "
        "Answer: tokens are pieces of text. [done] ") * 20
QA = [[{"role": "user", "content": f"Question {i}: what is item {i}?"},
       {"role": "assistant", "content": f"Answer: item {i} is a thing. [done]"}] for i in range(24)]


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """A tiny LlamaForCausalLM with a BPE tokenizer and chat template, saved like a Hub model."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = pocket.train_tokenizer(TEXT, vocab_size=300)
    model = pocket.build_model(tok, seed=0, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                               num_attention_heads=4, num_key_value_heads=2)
    tok.save_pretrained(folder)
    model.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def user_id():
    return sessions.new_user_id()


@pytest.fixture(scope="session")
def trained_run(tiny_dir, user_id):
    """A 12-step LoRA run on the tiny model: (run folder, list of Progress snapshots)."""
    run_dir, _, snapshots = _trained_run_with_reports(tiny_dir, user_id)
    return run_dir, snapshots


@functools.cache
def _trained_run_with_reports(tiny_dir, user_id):
    """The run behind `trained_run`, plus every Progress object exactly as yielded (kept, not copied)."""
    run_dir = sessions.new_run_dir(user_id, "lora")
    settings = TrainSettings(lora=lora.LoraSettings(rank=4, alpha=8, dropout=0.0), learning_rate=1e-2,
                             max_steps=12, batch_size=8, max_length=64, eval_fraction=0.25)
    kept, snapshots = [], []
    for p in train(tiny_dir, data.Dataset(QA, "test"), settings, run_dir):
        kept.append(p)
        snapshots.append((p.phase, list(p.losses), list(p.eval_losses)))  # copies made at the moment of the yield
    return run_dir, kept, snapshots


def logits(model, tokenizer, text="Question 3: what is item 3?"):
    with torch.no_grad():
        return model(**tokenizer(text, return_tensors="pt")).logits.double()


# ---------- environment and loading ----------

def test_offline_environment_chooses_the_pocket_model_and_refuses_4bit_on_cpu():
    assert models.hub_reachable() is False  # HF_HUB_OFFLINE=1 in tests: answered without touching the network
    env = models.detect_environment()
    if not env.cuda:
        assert env.setting == "offline" and env.default_model == models.POCKET
        assert "GPU" in env.four_bit_unavailable
        with pytest.raises(ValueError, match="4-bit.*GPU"):
            models.load_model(models.POCKET, four_bit=True)


def test_hub_probe_is_time_bounded(monkeypatch):
    import time

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://10.255.255.1")  # a host that never answers HTTPS
    start = time.perf_counter()
    assert models.hub_reachable(timeout=0.3) is False
    assert time.perf_counter() - start < 1.5


def test_settings_are_told_apart():
    cases = {(True, True): ("GPU", models.TINYLLAMA), (False, True): ("CPU with internet", models.SMOLLM2),
             (False, False): ("offline", models.POCKET)}
    for (cuda, hub), (setting, default) in cases.items():
        env = models.Environment(cuda=cuda, gpu_name="T4" if cuda else None, bitsandbytes=True, hub=hub, spaces=False)
        assert (env.setting, env.default_model) == (setting, default)
        assert (env.four_bit_unavailable is None) == cuda


def test_clear_messages_for_wrong_paths_and_offline_ids(tmp_path):
    with pytest.raises(ValueError, match="No file or folder"):
        models.resolve("./does/not/exist")
    with pytest.raises(ValueError, match="without config.json"):
        models.resolve(str(tmp_path))
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="not a .gguf"):
        models.resolve(str(tmp_path / "weights.bin"))
    with pytest.raises(ValueError, match="No file or folder"):
        models.resolve(str(tmp_path / "model.gguf"))
    (tmp_path / "SmolLM2.Q4_1.gguf").write_bytes(b"GGUF")
    gguf = models.resolve(str(tmp_path / "SmolLM2.Q4_1.gguf"))
    assert (gguf.kind, gguf.path, gguf.gguf_file) == ("gguf", str(tmp_path.resolve()), "SmolLM2.Q4_1.gguf")
    assert models.resolve(models.SMOLLM2).kind == "hub"
    with pytest.raises(ValueError, match="neither a Hub id"):
        models.resolve("not a model")
    with pytest.raises(ValueError, match="offline"):
        models.load_model("someone-nonexistent/model-xyz")


def test_loading_is_cached_and_training_gets_a_private_copy(tiny_dir):
    first, second = models.load_model(tiny_dir), models.load_model(tiny_dir)
    assert first is second
    copy = models.load_model(tiny_dir, copy_for_training=True)
    assert copy.model is not first.model
    assert torch.equal(logits(copy.model, copy.tokenizer), logits(first.model, first.tokenizer))
    assert first.weight_bytes == sum(p.numel() * 4 for p in first.model.parameters()) + sum(
        b.numel() * b.element_size() for b in first.model.buffers())
    assert "M parameters" in first.describe()


def test_shipped_pocket_model_is_small_and_has_learned_its_corpus():
    folder = models.POCKET_DIR
    assert sum(p.stat().st_size for p in folder.iterdir()) < 10 * 2**20
    loaded = models.load_model(models.POCKET)
    assert loaded.model.__class__.__name__ == "LlamaForCausalLM"
    text = pocket.CORPUS_PATH.read_text(encoding="utf-8")
    ids = torch.tensor([loaded.tokenizer(text[:2000])["input_ids"][:200]])
    with torch.no_grad():
        out = loaded.model(ids).logits.double()
    # next-token loss by hand (float64): far below a uniform guess over the vocabulary (ln 1024 = 6.9)
    loss = torch.nn.functional.cross_entropy(out[0, :-1], ids[0, 1:]).item()
    assert loss < 2.5 < math.log(len(loaded.tokenizer))


def test_pocket_build_saves_a_loadable_chat_model(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT * 3, encoding="utf-8")
    out = pocket.build_pocket(tmp_path / "p", steps=3, corpus_path=corpus, log=lambda s: None, vocab_size=300,
                              hidden_size=32, intermediate_size=64, num_hidden_layers=1)
    assert registry._complete(out, "pocket")
    loaded = models._load_uncached(models.resolve(str(out)), False, models.detect_environment())
    ids = list(chat.generate_ids(loaded.model, loaded.tokenizer, "What is Python?", max_new_tokens=5, temperature=0))
    assert ids == hf_greedy_ids(loaded.model, loaded.tokenizer, "What is Python?", 5)
    reply = chat.generate(loaded.model, loaded.tokenizer, "What is Python?", max_new_tokens=5, temperature=0)
    assert reply == loaded.tokenizer.decode(ids, skip_special_tokens=True)
    assert len(ids) == 5 or ids == hf_greedy_ids(loaded.model, loaded.tokenizer, "What is Python?", 6)  # stopped at <|end|>


def hf_greedy_ids(model, tokenizer, prompt, n):
    """The reply's ids from transformers' own generate() (greedy, no sampling), its end token dropped."""
    inputs = chat.chat_inputs(tokenizer, prompt)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=n, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    new = out[0, inputs["input_ids"].shape[1]:].tolist()
    end = model.generation_config.eos_token_id
    return new[:new.index(end)] if end in new else new


# ---------- data ----------

def test_jsonl_formats_and_malformed_lines_by_number():
    lines = [
        json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}),
        json.dumps({"instruction": "Add", "input": "2 and 3", "output": "5"}),
        "{not json",
        "",
        json.dumps({"messages": [{"role": "user", "content": "no answer"}]}),
        json.dumps({"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}),
        json.dumps({"question": "?"}),
    ]
    parsed = data.parse_jsonl("\n".join(lines))
    assert parsed.examples[1] == [{"role": "user", "content": "Add\n\n2 and 3"}, {"role": "assistant", "content": "5"}]
    assert [p.split(":")[0] for p in parsed.problems] == ["line 3", "line 5", "line 6", "line 7"]
    with pytest.raises(ValueError, match="line 1: not valid JSON"):
        data.parse_jsonl("{oops")


def test_builtin_data_teaches_one_format():
    builtin = data.builtin()
    assert len(builtin.examples) >= 100 and not builtin.problems
    answers = [m[-1]["content"] for m in builtin.examples]
    assert all(a.startswith("Answer: ") and a.endswith(" [done]") for a in answers)


def test_hub_dataset_offline_is_refused():
    with pytest.raises(ValueError, match="offline"):
        data.from_hub("tatsu-lab/alpaca", online=False)


def test_preview_marks_exactly_the_answer_tokens():
    loaded = models.load_model(models.POCKET)
    messages = data.builtin().examples[0]
    view = data.preview(loaded.tokenizer, messages)
    answer_ids = [i for i, t in zip(view.ids, view.trained) if t]
    # independent: the answer as the template renders it, tokenized on its own
    assert loaded.tokenizer.decode(answer_ids) == messages[-1]["content"] + "<|end|>\n"
    assert view.trained == sorted(view.trained)  # context first, then answer
    assert view.ids == loaded.tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]


# ---------- LoRA arithmetic ----------

def test_trainable_counts_shapes_and_memory_match_peft(tiny_dir):
    from peft import get_peft_model

    base = models.load_model(tiny_dir, copy_for_training=True).model
    for targets in (lora.PRESETS["attention only"], lora.PRESETS["all linear"], ["v_proj"]):
        settings = lora.LoraSettings(rank=3, alpha=6, target_modules=targets)
        count = lora.parameter_count(base, settings)
        n_base = sum(p.numel() for p in base.parameters())
        memory = lora.memory_estimate(base, settings)
        assert memory.full == 16 * n_base
        assert memory.lora == 2 * n_base + 16 * count.trainable
        assert memory.qlora < memory.lora < memory.full
        layer = lora.example_layer(base, settings)
        peft_model = get_peft_model(models.load_model(tiny_dir, copy_for_training=True).model, settings.peft_config())
        trainable, total = peft_model.get_nb_trainable_parameters()
        assert (count.trainable, count.total) == (trainable, total)
        assert count.trainable == sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
        assert count.percent == pytest.approx(100 * trainable / total)
        module = peft_model.get_submodule("base_model.model." + layer.name)
        assert tuple(module.lora_A["default"].weight.shape) == (3, layer.in_features)
        assert tuple(module.lora_B["default"].weight.shape) == (layer.out_features, 3)
        assert module.scaling["default"] == 6 / 3
    with pytest.raises(ValueError, match="at least one target"):
        lora.parameter_count(base, lora.LoraSettings(target_modules=[]))


# ---------- training, adapters, chat, merge, export ----------

def test_training_streams_a_falling_loss_and_saves_the_adapter(trained_run, user_id):
    run_dir, snapshots = trained_run
    phases = [s[0] for s in snapshots]
    assert phases[0] == "loading" and phases[-1] == "done" and "training" in phases
    losses, eval_losses = snapshots[-1][1], snapshots[-1][2]
    assert len(losses) == 12 and eval_losses
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    assert {p.name for p in run_dir.iterdir()} >= {"adapter_model.safetensors", "adapter_config.json", "run.json", "data.jsonl"}
    assert [c.path for c in registry.list_checkpoints("lora", user_id)][0] == run_dir
    assert json.loads((run_dir / "run.json").read_text())["losses"] == losses


def test_completion_only_labels_match_the_preview(tiny_dir):
    from core.finetune.train import build_trainer

    loaded = models.load_model(tiny_dir, copy_for_training=True)
    trainer = build_trainer(loaded, QA[:4], [], TrainSettings(max_steps=1, batch_size=2, max_length=64), "/tmp/unused-sft")
    row = trainer.train_dataset[0]
    mask = row.get("completion_mask") or [int(l != -100) for l in row["labels"]]
    assert [bool(m) for m in mask] == data.preview(loaded.tokenizer, QA[0]).trained


def test_adapter_reload_gives_identical_outputs_and_merge_matches(trained_run, tmp_path):
    from transformers import AutoModelForCausalLM

    run_dir, _ = trained_run
    first, second = chat.load_adapted(run_dir), chat.load_adapted(run_dir)
    tuned = logits(first.model, first.tokenizer)
    assert torch.equal(tuned, logits(second.model, second.tokenizer))
    with first.model.disable_adapter():
        assert not torch.allclose(tuned, logits(first.model, first.tokenizer))  # the adapter changed something
    merged = AutoModelForCausalLM.from_pretrained(chat.merge_and_save(run_dir, tmp_path / "merged"))
    assert torch.allclose(logits(merged, first.tokenizer), tuned, atol=1e-4)


def test_compare_uses_the_exact_base_model_for_the_left_answer(trained_run):
    run_dir, _ = trained_run
    adapted = chat.load_adapted(run_dir)
    pairs = list(chat.compare(adapted, "Question 5: what is item 5?", max_new_tokens=6, temperature=0.8, seed=3))
    base_model = models.load_model(adapted.base_model)
    expected = chat.generate(base_model.model, base_model.tokenizer, "Question 5: what is item 5?",
                             max_new_tokens=6, temperature=0.8, seed=3)
    assert pairs[-1][0] == expected
    assert pairs[-1][1] == chat.generate(adapted.model, adapted.tokenizer, "Question 5: what is item 5?",
                                         max_new_tokens=6, temperature=0.8, seed=3)


def test_stop_flag_ends_the_run_early_and_keeps_what_was_learned(tiny_dir, user_id):
    stop = StopFlag()
    run_dir = sessions.new_run_dir(user_id, "lora")
    phases = []
    for progress in train(tiny_dir, data.Dataset(QA, "test"), TrainSettings(max_steps=50, batch_size=4, eval_fraction=0),
                          run_dir, stop):
        phases.append(progress.phase)
        if progress.step >= 2:
            stop.set()
    assert phases[-1] == "stopped" and progress.step < 50
    assert (run_dir / "adapter_config.json").is_file() and json.loads((run_dir / "run.json").read_text())["stopped_early"]


def test_four_bit_training_is_refused_cleanly_on_cpu(tiny_dir, user_id):
    if models.detect_environment().cuda:
        pytest.skip("a GPU is present")
    run = train(tiny_dir, data.Dataset(QA, "test"), TrainSettings(four_bit=True), sessions.new_run_dir(user_id, "lora"))
    next(run)
    with pytest.raises(ValueError, match="4-bit"):
        next(run)


def test_exported_script_runs_one_step(trained_run, tmp_path):
    run_dir, _ = trained_run
    script = export.write_from_run(run_dir, tmp_path / "finetune_lora.py")
    text = script.read_text()
    assert "accelerate launch" in text and '"learning_rate": 0.01' not in text and "'learning_rate': 0.01" in text
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(script), "--max-steps", "1", "--output-dir", str(out)],
                            capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()


def test_zip_holds_the_adapter(trained_run, tmp_path):
    import zipfile

    run_dir, _ = trained_run
    names = zipfile.ZipFile(chat.zip_adapter(run_dir, tmp_path / "a.zip")).namelist()
    assert f"{run_dir.name}/adapter_config.json" in names and f"{run_dir.name}/adapter_model.safetensors" in names


def test_each_lora_progress_is_a_snapshot_later_steps_do_not_change(tiny_dir, user_id):
    _, kept, snapshots = _trained_run_with_reports(tiny_dir, user_id)
    first, later = kept[0], kept[-1]
    assert (first.phase, first.losses, first.step) == ("loading", (), 0)  # as it was when yielded, at the end
    assert [(p.phase, list(p.losses), list(p.eval_losses)) for p in kept] == snapshots
    assert len(later.losses) == 12 and later is not kept[-2]
    with pytest.raises(dataclasses.FrozenInstanceError):
        later.step = 0


def test_greedy_replies_are_what_transformers_generate_gives(tiny_dir):
    loaded = models.load_model(tiny_dir)
    for prompt in ("Question 3: what is item 3?", "Hello"):
        ids = list(chat.generate_ids(loaded.model, loaded.tokenizer, prompt, max_new_tokens=8, temperature=0))
        assert ids == hf_greedy_ids(loaded.model, loaded.tokenizer, prompt, 8)


def test_sampled_replies_follow_the_seed():
    loaded = models.load_model(models.POCKET)
    reply = lambda seed: chat.generate(loaded.model, loaded.tokenizer, "What is a token?", max_new_tokens=12,  # noqa: E731
                                       temperature=1.0, seed=seed)
    assert reply(1) == reply(1) and reply(1) != reply(2)
    with pytest.raises(ValueError, match="Temperature"):
        reply_args = dict(max_new_tokens=5, temperature=-1)
        list(chat.stream(loaded.model, loaded.tokenizer, "Hi", **reply_args))


def test_two_chats_at_once_in_threads_give_exactly_their_replies_alone(trained_run):
    run_dir, _ = trained_run
    prompt, settings = "Question 5: what is item 5?", dict(max_new_tokens=16, temperature=1.0)

    def chat_pair(seed, start=None):
        adapted = chat.load_adapted(run_dir)  # as tab 7 does: every chat gets its own copy
        if start is not None:
            start.wait()  # both threads begin sampling at the same moment
        before = torch.get_rng_state()
        pair = list(chat.compare(adapted, prompt, seed=seed, **settings))[-1]
        if start is None:  # alone: sampling drew nothing from the global generator
            assert torch.equal(torch.get_rng_state(), before)
        return pair

    alone = {seed: chat_pair(seed) for seed in (3, 4)}
    assert alone[3] != alone[4]  # the seeds matter, so the comparison below can fail
    start, together, errors = threading.Barrier(2), {}, []

    def run(seed):
        try:
            together[seed] = chat_pair(seed, start)
        except BaseException as err:  # noqa: BLE001 - reported below, not lost in the thread
            errors.append(err)

    workers = [threading.Thread(target=run, args=(seed,)) for seed in (3, 4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    assert together == alone  # base and adapted replies, token for token

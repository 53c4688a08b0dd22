"""Tab 9's library examples: each one's printed output checked against an independent computation.

The code shown in the tab is the string that runs (core.library_examples.EXAMPLES[key].code), so these
tests run exactly what a learner reads and check the numbers it prints.
"""
import json
import math
import sys

import numpy as np
import pytest

from core import library_examples as L
from tests.core.test_no_global_rng import offences


def test_only_the_fixed_examples_run_and_none_draws_from_a_global_generator():
    assert list(L.EXAMPLES) == ["torch", "tiktoken", "tokenizers", "datasets", "transformers", "peft", "trl", "accelerate"]
    for key, ex in L.EXAMPLES.items():
        compile(ex.code, key, "exec")  # valid Python, as copied into a notebook
        assert offences(ex.code, f"<example {key}>") == []
    with pytest.raises(ValueError, match="Unknown example"):
        L.run("import os; os.system('true')")


def test_torch_autograd_step_matches_the_chain_rule_by_hand():
    ran = L.run("torch")
    w, x, y, lr = np.array([0.5, -1.0]), np.array([2.0, 3.0]), 1.0, 0.01
    residual = w @ x - y
    grad = 2 * residual * x  # d/dw (w·x − y)² in float64
    w1 = w - lr * grad
    loss1 = (w1 @ x - y) ** 2
    assert ran.namespace["w"].grad.tolist() == pytest.approx(grad.tolist())
    assert ran.namespace["w"].tolist() == pytest.approx(w1.tolist(), rel=1e-6)
    assert f"loss: {float(residual ** 2)}" in ran.output and f"gradient: {grad.tolist()}" in ran.output
    assert f"new weights: {[round(float(v), 4) for v in w1]}" in ran.output and f"new loss: {round(float(loss1), 4)}" in ran.output
    assert ran.namespace["new_loss"].item() < ran.namespace["loss"].item()
    why = L.EXAMPLES["torch"].why  # the lesson line under the output states the same numbers
    assert f"= ({grad[0]:g}, {grad[1]:g})".replace("-", "−") in why and f"from {residual ** 2:g} to about {loss1:.2f}" in why


def test_tiktoken_counts_with_the_official_vocabulary():
    import tiktoken

    ran = L.run("tiktoken")
    enc = tiktoken.get_encoding("cl100k_base")  # available offline once the example has run
    assert enc.encode("Hello world") == [9906, 1917]  # the official ids (tiktoken's own hash check passed)
    text = ran.namespace["text"]
    ids = enc.encode(text)
    assert ran.namespace["ids"] == ids
    assert f"{len(ids)} tokens: {ids}" in ran.output
    assert "".join(enc.decode([i]) for i in ids) == text and "round trip exact: True" in ran.output
    assert f"characters per token: {round(len(text) / len(ids), 2)}" in ran.output


def _bpe_replay(merges: list, word: str) -> list[str]:
    """Plain BPE: merge the adjacent pair of lowest rank until none of the learned merges applies."""
    rank = {tuple(m): i for i, m in enumerate(merges)}
    parts = list(word)
    while True:
        pairs = [(rank.get((a, b), math.inf), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
        best, i = min(pairs, default=(math.inf, -1))
        if best == math.inf:
            return parts
        parts[i:i + 2] = [parts[i] + parts[i + 1]]


def test_tokenizers_bpe_trained_on_the_corpus_replays_with_its_own_merges():
    from core.text_input import builtin_corpus

    ran = L.run("tokenizers")
    tok, text, enc = ran.namespace["tok"], ran.namespace["text"], ran.namespace["enc"]
    assert text == builtin_corpus() and tok.get_vocab_size() == 500
    merges = json.loads(tok.to_str())["model"]["merges"]
    assert len(merges) == 500 - 256  # 256 byte tokens + the learned merges
    sentence = ran.namespace["sentence"]
    replayed = [t for piece, _ in tok.pre_tokenizer.pre_tokenize_str(sentence) for t in _bpe_replay(merges, piece)]
    assert enc.tokens == replayed and str(replayed) in ran.output
    assert tok.decode(tok.encode(text).ids) == text
    n = len(tok.encode(text).ids)
    assert f"{len(text):,} characters -> {n:,} tokens ({len(text) / n:.2f} characters per token)" in ran.output


def test_datasets_loads_every_line_of_the_instruction_file():
    from core.finetune.data import BUILTIN_PATH

    ran = L.run("datasets")
    rows = [json.loads(line) for line in BUILTIN_PATH.read_text(encoding="utf-8").splitlines() if line.strip()]
    data = ran.namespace["data"]
    assert data.num_rows == len(rows) and data[0] == rows[0]
    assert f"num_rows: {len(rows)}" in ran.output and f"assistant: {rows[0]['messages'][1]['content']}" in ran.output
    test_rows = math.ceil(0.1 * len(rows))  # datasets rounds the test share up
    assert f"train / test rows: {len(rows) - test_rows} / {test_rows}" in ran.output


def test_transformers_generates_the_greedy_reply_and_reuses_the_cached_model():
    import torch

    from core.finetune import models

    ran = L.run("transformers")
    model, tok, inputs = ran.namespace["model"], ran.namespace["tok"], ran.namespace["inputs"]
    assert ran.namespace["pocket"] is models.load_model("pocket")  # the process's cached model, not a new load
    ids = inputs["input_ids"]
    with torch.no_grad():  # greedy by hand: full forward passes, no KV cache, no generate()
        for _ in range(30):
            next_id = model(input_ids=ids).logits[0, -1].argmax()
            ids = torch.cat([ids, next_id.view(1, 1)], dim=1)
            if next_id.item() == tok.eos_token_id:
                break
    reply = tok.decode(ids[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert f"reply: {reply}\n" in ran.output
    assert f"{sum(p.numel() for p in model.parameters()):,} parameters" in ran.output
    assert L.run("transformers").namespace["pocket"] is ran.namespace["pocket"]


def test_peft_trains_r_times_in_plus_out_per_adapted_layer():
    from core.finetune import models

    ran = L.run("peft")
    config = models.load_model("pocket").model.config
    h, r = config.hidden_size, 8
    kv = config.num_key_value_heads * (h // config.num_attention_heads)
    expected = config.num_hidden_layers * (r * (h + h) + r * (h + kv))  # q_proj: h -> h, v_proj: h -> kv
    base = sum(p.numel() for p in models.load_model("pocket").model.parameters())
    assert ran.namespace["trainable"] == expected and ran.namespace["total"] == base + expected
    assert f"trainable: {expected:,} of {base + expected:,} ({100 * expected / (base + expected):.2f}%)" in ran.output
    assert f"v_proj.lora_B.default.weight: ({kv}, {r})" in ran.output


def test_trl_trains_on_the_assistant_tokens_only_and_needs_generation_markers():
    from trl import SFTConfig

    ran = L.run("trl")
    assert SFTConfig.__dataclass_fields__["assistant_only_loss"].default is False  # why the text warns
    assert ran.namespace["config"].assistant_only_loss is True
    tok, chat, ids, mask = (ran.namespace[k] for k in ("tok", "chat", "ids", "mask"))
    answer = chat[-1]["content"] + "<|end|>"
    trained = [i for i, m in zip(ids, mask) if m]
    assert trained == tok(answer, add_special_tokens=False)["input_ids"]  # exactly the answer and its end token
    assert tok.decode(trained) == answer and f"{len(ids)} tokens, {len(trained)} of them in the loss" in ran.output
    unmarked = tok.chat_template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    plain = tok.apply_chat_template(chat, chat_template=unmarked, return_dict=True, return_assistant_tokens_mask=True)
    assert plain["input_ids"] == ids and sum(plain["assistant_masks"]) == 0  # no markers: nothing marked


def test_accelerate_on_one_cpu_runs_the_script_once():
    import torch

    ran = L.run("accelerate")
    args = ran.namespace["args"]
    if ran.namespace["config"] is not None:  # an `accelerate config` file on this machine decides instead
        pytest.skip("this machine has an accelerate config file")
    assert "none, defaults used" in ran.output
    assert args.multi_gpu == (torch.cuda.device_count() > 1) and args.num_processes == torch.cuda.device_count()
    assert f"processes: {torch.cuda.device_count()} | machines: 1" in ran.output
    if not args.multi_gpu:
        assert ran.namespace["cmd"] == [sys.executable, "train.py"]
        assert f"it would run: {sys.executable} train.py" in ran.output


def test_one_example_at_a_time_per_learner():
    with L.one_at_a_time("alice"):
        with pytest.raises(ValueError, match="still running"):
            L.run_for("alice", "torch")
        assert "gradient" in L.run_for("bob", "torch").output
    assert "gradient" in L.run_for("alice", "torch").output  # released when the first one ended


def test_a_missing_library_is_a_message_not_a_traceback(monkeypatch):
    monkeypatch.setitem(L.EXAMPLES, "torch", L.Example("torch", "PyTorch", "t", "import no_such_library_xyz\n", ""))
    with pytest.raises(ValueError, match="needs no_such_library_xyz"):
        L.run("torch")

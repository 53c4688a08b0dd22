"""core.registry: which checkpoints a learner sees, what their labels say, and which one is best."""
import json
import re
import os
import subprocess
import sys

import pytest

from core import registry, sessions, stop_requests


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path))
    return tmp_path


def minigpt_run(user, name, *, steps_done, total, loss, stop_reason=None, run_info=None, mtime=None,
                shape=(4, 4, 128, 192)):
    """A run folder whose config.json looks like core.minigpt.train.save_run's (weights are not needed to list it)."""
    folder = sessions.new_run_dir(user, "minigpt", name)
    n_layer, n_head, n_embd, block = shape
    meta = {"steps_done": steps_done, "train_loss": loss, "val_loss": None, "total_steps": total,
            "stop_reason": stop_reason, "train_config": {"steps": total}}
    if run_info is not None:
        meta["run_info"] = run_info
    config = {"format": "minigpt-1", "model": {"n_layer": n_layer, "n_head": n_head, "n_embd": n_embd,
                                               "block_size": block, "vocab_size": 60}, "meta": meta}
    (folder / "config.json").write_text(json.dumps(config))
    if mtime is not None:
        os.utime(folder, (mtime, mtime))
    return folder


def test_minigpt_labels_say_what_the_run_is(runs):
    user = sessions.new_user_id()
    minigpt_run(user, "20261201-195210", steps_done=480, total=480, loss=0.0936,
                run_info={"preset": "default", "corpus": "built-in corpus"})
    minigpt_run(user, "20261201-200001", steps_done=40, total=200, loss=2.5, stop_reason="stopped",
                run_info={"preset": None, "corpus": "notes.txt"}, shape=(2, 2, 64, 32))
    labels = {c.name: c.label for c in registry.user_checkpoints("minigpt", user)}
    assert labels["20261201-195210"] == ("default preset · built-in corpus · 480/480 steps · loss 0.094 · finished"
                                         " · Dec 1, 19:52 (your run)")
    assert labels["20261201-200001"] == ("2×2×64, ctx 32 · notes.txt · 40/200 steps · loss 2.500 · stopped"
                                         " · Dec 1, 20:00 (your run)")


def test_runs_that_ended_short_are_stopped_even_without_a_reason(runs):
    # e.g. the server went down mid-run: the record says 120 of 480 steps, no stop reason
    user = sessions.new_user_id()
    minigpt_run(user, "cut", steps_done=120, total=480, loss=0.8)
    [ckpt] = registry.user_checkpoints("minigpt", user)
    assert ckpt.summary.stopped and not ckpt.summary.finished and "120/480 steps" in ckpt.label


def test_a_run_from_an_older_version_still_gets_a_label(runs):
    user = sessions.new_user_id()
    folder = sessions.new_run_dir(user, "minigpt", "old")
    (folder / "config.json").write_text("{}")
    [ckpt] = registry.user_checkpoints("minigpt", user)
    assert ckpt.label == "old (your run)" and not ckpt.summary.finished
    (folder / "config.json").write_text("not json")
    assert registry.user_checkpoints("minigpt", user)[0].label == "old (your run)"


def test_the_shipped_model_is_labelled_from_its_record():
    shipped = registry.shipped_checkpoints("minigpt")
    if not shipped:
        pytest.skip("no shipped checkpoint in this checkout")
    meta = json.loads((shipped[0].path / "config.json").read_text())["meta"]
    label = shipped[0].label
    assert label.startswith(f"{shipped[0].name} (shipped) · ")
    assert f"loss {meta['train_loss']:.3f}" in label and f"{meta['steps_done']}/" in label and "finished" in label


def test_folders_without_a_checkpoint_are_never_listed(runs):
    user = sessions.new_user_id()
    sessions.new_run_dir(user, "minigpt", "failed-start")  # a failed start leaves an empty folder
    assert registry.user_checkpoints("minigpt", user) == []


def test_best_is_the_lowest_final_loss_among_finished_runs(runs):
    user = sessions.new_user_id()
    good = minigpt_run(user, "good", steps_done=480, total=480, loss=0.09, mtime=1_000)
    minigpt_run(user, "worse", steps_done=480, total=480, loss=0.5, mtime=3_000)
    minigpt_run(user, "stopped-low", steps_done=10, total=480, loss=0.01, stop_reason="stopped", mtime=2_000)
    assert [c.name for c in registry.user_checkpoints("minigpt", user)] == ["worse", "stopped-low", "good"]
    assert registry.best("minigpt", user).path == good


def test_best_falls_back_to_the_shipped_model(runs):
    user = sessions.new_user_id()
    minigpt_run(user, "stopped", steps_done=10, total=480, loss=3.0, stop_reason="stopped")
    shipped = registry.shipped_checkpoints("minigpt")
    best = registry.best("minigpt", user)
    assert (best.path if best else None) == (shipped[0].path if shipped else None)
    assert registry.best("minigpt", None) == best  # no session yet: the same fallback


def test_another_learners_runs_are_never_listed_nor_best(runs):
    alice, bob = sessions.new_user_id(), sessions.new_user_id()
    mine = minigpt_run(alice, "mine", steps_done=480, total=480, loss=0.01)
    assert mine not in [c.path for c in registry.list_checkpoints("minigpt", bob)]
    best = registry.best("minigpt", bob)
    assert best is None or best.shipped
    with pytest.raises(ValueError, match="not available"):
        registry.resolve("minigpt", mine, bob)
    assert registry.resolve("minigpt", mine, alice).path == mine


def test_checkpoints_are_named_by_ids_without_server_paths(runs):
    alice, bob = sessions.new_user_id(), sessions.new_user_id()
    mine = minigpt_run(alice, "mine", steps_done=480, total=480, loss=0.01)
    [own] = registry.user_checkpoints("minigpt", alice)
    assert own.id == "run/mine" and str(runs) not in own.id
    assert registry.resolve("minigpt", "run/mine", alice).path == mine
    for shipped in registry.shipped_checkpoints("minigpt"):
        assert shipped.id == f"shipped/{shipped.name}"
        assert registry.resolve("minigpt", shipped.id, bob).path == shipped.path
    for refused in ("run/mine", "run/../" + alice + "/minigpt/mine", "mine", "shipped/../../etc", "/etc/passwd",
                    str(mine.parent / ".." / "minigpt" / "nope")):
        with pytest.raises(ValueError, match="not available"):
            registry.resolve("minigpt", refused, bob)  # another learner's id, a climb, a bare name, a path


def test_lora_labels_and_best_come_from_run_json(runs):
    user = sessions.new_user_id()

    def adapter(name, losses, stopped, max_steps):
        folder = sessions.new_run_dir(user, "lora", name)
        run = {"base_model": "pocket", "data": "instructions.jsonl", "settings": {"max_steps": max_steps},
               "steps": list(range(1, len(losses) + 1)), "losses": losses, "stopped_early": stopped}
        (folder / "run.json").write_text(json.dumps(run))
        (folder / "adapter_config.json").write_text("{}")
        return folder

    done = adapter("done", [3.0, 2.5, 2.0], False, 3)
    adapter("early", [3.0, 1.0], True, 80)
    labels = {c.name: c.label for c in registry.user_checkpoints("lora", user)}
    assert labels["done"] == "pocket · instructions.jsonl · 3/3 steps · loss 2.000 · finished (your run)"
    assert labels["early"] == "pocket · instructions.jsonl · 2/80 steps · loss 1.000 · stopped (your run)"
    assert registry.best("lora", user).path == done


def test_stop_requests_are_a_marker_in_the_run_folder(tmp_path):
    run = tmp_path / "run"
    assert not stop_requests.request_stop(run) and not stop_requests.request_stop(None)  # no folder: nothing to stop
    run.mkdir()
    assert not stop_requests.stop_requested(run)
    assert stop_requests.request_stop(run) and stop_requests.stop_requested(str(run))
    stop_requests.clear(run)
    assert not stop_requests.stop_requested(run)
    stop_requests.clear(run)  # clearing twice is fine
    assert not stop_requests.stop_requested(None)


def test_listing_checkpoints_does_not_import_torch():
    code = ("import sys; from core import registry; registry.list_checkpoints('minigpt'); "
            "registry.best('minigpt'); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def workflow_run(user, kind, *, steps_done=300, total=300, loss=3.25, vocab=512):
    """A tab-11 run folder (core.pipeline: runs/<user>/pipeline/<char|bpe>) with a config.json like checkpoint.save's."""
    from core import pipeline

    folder = pipeline.learner_folder(user) / kind
    folder.mkdir(parents=True)
    config = {"format": "minigpt-1", "model": {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 32, "vocab_size": vocab},
              "vocabulary": None if kind == "bpe" else "ab", "meta": {"steps_done": steps_done, "train_loss": loss,
                                                                     "total_steps": total, "run_info": {"pipeline": kind}}}
    if kind == "bpe":
        config["tokenizer"] = {"kind": "bpe", "pattern": None, "merges": []}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_workflow_models_are_listed_with_their_tokenizer_and_resolve(runs):
    alice, bob = sessions.new_user_id(), sessions.new_user_id()
    tab4 = minigpt_run(alice, "20261201-195210", steps_done=480, total=480, loss=0.09)
    bpe = workflow_run(alice, "bpe", loss=3.25, vocab=512)
    char = workflow_run(alice, "char", steps_done=40, total=300, loss=1.5, vocab=60)
    listed = registry.list_checkpoints("minigpt", alice)
    ids = [c.id for c in listed]
    assert ids[0] == "run/20261201-195210" and set(ids[1:3]) == {"workflow/char", "workflow/bpe"}  # then shipped
    labels = {c.id: c.label for c in listed}
    assert re.fullmatch(r"workflow · BPE 512 · 1×2×32, ctx 32 · 300/300 steps · loss 3\.250 per token · finished"
                        r" · \w{3} \d+, \d\d:\d\d \(your run\)", labels["workflow/bpe"]), labels["workflow/bpe"]
    assert labels["workflow/char"].startswith("workflow · characters · 1×2×32, ctx 32 · 40/300 steps · loss 1.500 · stopped · ")
    assert "BPE" not in labels["run/20261201-195210"]
    assert registry.resolve("minigpt", "workflow/bpe", alice).path == bpe
    assert registry.resolve("minigpt", str(char), alice).summary.tokenizer == "char"
    # tab 4's own runs and `best` are unchanged: a loss per token is not compared with a loss per character
    assert [c.path for c in registry.user_checkpoints("minigpt", alice)] == [tab4]
    assert registry.best("minigpt", alice).path == tab4
    assert "workflow/bpe" not in [c.id for c in registry.list_checkpoints("minigpt", alice, workflow=False)]
    # another learner sees none of them, by id or by path
    assert not any(c.workflow for c in registry.list_checkpoints("minigpt", bob))
    for ref in ("workflow/bpe", str(bpe)):
        with pytest.raises(ValueError, match="not available"):
            registry.resolve("minigpt", ref, bob)


def test_a_workflow_run_without_a_checkpoint_yet_is_not_listed(runs):
    from core import pipeline

    user = sessions.new_user_id()
    (pipeline.learner_folder(user) / "bpe").mkdir(parents=True)  # the tokenizer step is running
    assert registry.workflow_checkpoints(user) == [] and registry.workflow_checkpoints(None) == []

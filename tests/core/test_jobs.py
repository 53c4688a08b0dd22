"""core.jobs: trainings in child processes that stream back, stop, crash and die cleanly."""
import os
import threading
import time
from dataclasses import replace

import pytest

from core import jobs, stop_requests

T = "tests.core.job_targets:"
FAST = jobs.Limits(grace_s=2.0, threads=1)


def owner(name: str) -> str:
    return f"{name}-{os.getpid()}-{time.monotonic_ns()}"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def test_snapshots_stream_back_from_a_nicer_child_with_its_threads():
    who = owner("a")
    items = list(jobs.stream(T + "count", {"n": 5}, owner=who, limits=replace(FAST, threads=1, nice=5)))
    assert [i["i"] for i in items] == list(range(5))
    child = items[0]["pid"]
    assert child != os.getpid() and not alive(child)
    assert items[0]["nice"] == os.nice(0) + 5 and items[0]["threads"] == "1"
    assert not jobs.has_job(who)


def test_minigpt_in_a_child_gives_the_same_snapshots_as_in_process(tmp_path):
    from core.minigpt.config import GPTConfig
    from core.minigpt.train import TrainConfig, train

    text = "hello world, the quick brown fox jumps over the lazy dog. " * 20
    model = GPTConfig(block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=0.0)
    cfg = TrainConfig(steps=6, batch_size=4, eval_every=3, sample_every=6, log_every=2, eval_batches=1,
                      sample_tokens=8, warmup_steps=1, threads=1)
    here = list(train(text, model, cfg, out_dir=tmp_path / "here"))
    there = list(jobs.stream("core.minigpt.train:train", dict(text=text, model_config=model, cfg=cfg,
                                                              out_dir=tmp_path / "there"), owner=owner("m"), limits=FAST))

    def key(p):
        return (p.step, p.train_loss, p.val_loss, p.train_curve, p.val_curve, p.samples, p.done, p.stop_reason)

    assert [key(p) for p in there] == [key(p) for p in here]
    assert (tmp_path / "there" / "config.json").is_file()


def test_a_learner_has_at_most_one_job_and_stop_ends_it_as_a_result(tmp_path):
    who = owner("b")
    marker = tmp_path / "saved"
    run = jobs.stream(T + "save_on_stop", {"marker": str(marker)}, owner=who, limits=FAST)
    assert next(run) == 1
    assert jobs.has_job(who)
    with pytest.raises(jobs.JobError, match="already have a run going"):
        next(jobs.stream(T + "count", {"n": 1}, owner=who, limits=FAST))
    assert jobs.has_job(who)  # the refused second start did not free the first one's slot
    assert jobs.request_stop(who)
    rest = list(run)
    assert rest[-1] == "stopped" and marker.read_text().startswith("saved at")
    assert jobs.wait_finished(who, 5) and not jobs.has_job(who)
    assert not jobs.request_stop(who)
    # and now a new run may start
    assert [i["i"] for i in jobs.stream(T + "count", {"n": 2}, owner=who, limits=FAST)] == [0, 1]


def test_stop_is_the_marker_file_in_the_run_folder(tmp_path):
    """A tab's Stop button writes core.stop_requests' marker into the run folder; the child sees it."""
    who = owner("f")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run = jobs.stream(T + "save_on_stop", {"marker": str(tmp_path / "saved")}, owner=who, limits=FAST,
                      stop_dir=run_dir)
    assert next(run) == 1
    with pytest.raises(jobs.JobError, match="already have a run going"):
        jobs.check_free(who)
    assert stop_requests.request_stop(run_dir)  # what the Stop button does: no call into core.jobs
    assert list(run)[-1] == "stopped"
    assert jobs.wait_finished(who, 5)
    assert not stop_requests.stop_requested(run_dir)  # answered: the marker is gone with the job
    jobs.check_free(who)  # free again


def test_lora_style_stop_flag_is_passed_under_its_own_name():
    who = owner("l")
    run = jobs.stream(T + "lora_style", {}, owner=who, limits=FAST, stop_arg="stop")
    assert next(run) == 0
    jobs.request_stop(who)
    assert list(run)[-1] == "stopped"


@pytest.mark.parametrize("target, message", [
    ("fail_with_value_error", "^the corpus is too short for this context$"),
    ("fail_with_bug", r"internal error \(KeyError: 'oops'\)"),
    ("hard_exit", "exited with code 3"),
    ("killed", "killed by signal SIGKILL"),
])
def test_a_crash_becomes_a_message_not_a_hang(target, message):
    who = owner(target)
    run = jobs.stream(T + target, {}, owner=who, limits=FAST)
    assert next(run) == 1
    start = time.monotonic()
    with pytest.raises(jobs.JobError, match=message):
        list(run)
    assert time.monotonic() - start < 10
    assert jobs.wait_finished(who, 10)


def test_memory_limit_kills_the_job(tmp_path):
    who = owner("mem")
    with pytest.raises(jobs.JobError, match="The run used .* MB, over this server's limit of 150 MB"):
        for _ in jobs.stream(T + "hog_memory", {"mb": 400}, owner=who, limits=replace(FAST, memory_mb=150)):
            pass
    assert jobs.wait_finished(who, 10)


def test_memory_limit_refuses_a_large_torch_allocation_with_a_clear_message():
    who = owner("rl")
    with pytest.raises(jobs.JobError, match="more than this server's limit of 1,200 MB"):
        list(jobs.stream(T + "torch_too_big", {}, owner=who, limits=replace(FAST, memory_mb=1200)))
    assert jobs.wait_finished(who, 10)


def test_closing_the_consumer_kills_a_child_that_ignores_stop_and_sigterm(tmp_path):
    who = owner("c")
    pid_file = tmp_path / "pid"
    run = jobs.stream(T + "ignore_stop", {"pid_file": str(pid_file)}, owner=who, limits=replace(FAST, grace_s=0.5))
    next(run)
    pid = int(pid_file.read_text())
    assert alive(pid)
    start = time.monotonic()
    run.close()  # what Gradio does on Stop (cancels=) or a closed tab
    assert time.monotonic() - start < 0.5, "closing must not block the server's event loop"
    assert jobs.wait_finished(who, 10)
    assert not alive(pid), "orphan child left behind"


def test_wall_clock_limit_asks_the_job_to_stop(tmp_path):
    who = owner("w")
    marker = tmp_path / "saved"
    items = list(jobs.stream(T + "save_on_stop", {"marker": str(marker)}, owner=who, limits=replace(FAST, wall_s=0.5)))
    assert items[-1] == "stopped" and marker.is_file()


def test_a_job_nobody_listens_to_is_stopped():
    who = owner("n")
    listening = threading.Event()
    listening.set()
    run = jobs.stream(T + "count", {"n": 10_000, "delay": 0.01}, owner=who, limits=FAST, listening=listening.is_set)
    next(run)
    listening.clear()
    with pytest.raises(jobs.JobError, match="Nobody is watching"):
        list(run)
    assert jobs.wait_finished(who, 10)


def test_bad_target_is_reported():
    with pytest.raises(jobs.JobError, match="internal error"):
        list(jobs.stream("tests.core.job_targets:no_such_function", {}, owner=owner("x"), limits=FAST))


def test_a_stop_request_for_a_folder_removed_meanwhile_is_false_not_an_error(tmp_path, monkeypatch):
    from core import stop_requests

    run = tmp_path / "run"
    run.mkdir()
    real_is_dir = type(run).is_dir

    def removed_after_the_check(path):  # the race: the folder exists when checked, is gone when touched
        answer = real_is_dir(path)
        if path == run and answer:
            run.rmdir()
        return answer

    monkeypatch.setattr(type(run), "is_dir", removed_after_the_check)
    assert stop_requests.request_stop(run) is False


def test_a_stop_while_queued_is_answered_and_its_empty_folder_removed(tmp_path):
    from core import stop_requests

    run = tmp_path / "run"
    run.mkdir()
    assert stop_requests.withdrawn_before_start(run) is False and run.is_dir()  # nobody pressed Stop
    stop_requests.request_stop(run)
    assert stop_requests.withdrawn_before_start(run) is True
    assert not run.exists() and not stop_requests.stop_requested(run)

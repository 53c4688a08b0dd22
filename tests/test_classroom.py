"""The server's rules for a class, through the queue as a browser (or an attacker) speaks it.

A tiny app with one training-like event wired the way the tabs wire theirs (core.jobs.stream with
lessons.watched), so the rules are tested on Gradio's real queue without a tab's cost.
"""
import json
import time
import urllib.request

import gradio as gr
import pytest

from core import jobs
from lessons import watched
from lessons.common import shows_errors
from tests.conftest import free_port


@pytest.fixture(scope="module")
def tiny_app():
    with gr.Blocks() as demo:
        owner = gr.Textbox()
        n = gr.Number(precision=0)
        out = gr.Textbox()

        @shows_errors
        def run(who, steps, request: gr.Request):
            for item in jobs.stream("tests.core.job_targets:count", {"n": int(steps), "delay": 0.01}, owner=who,
                                    limits=jobs.Limits(grace_s=1, threads=1), listening=watched(demo, request)):
                yield str(item["i"])

        owner.submit(run, [owner, n], out, api_name=False, concurrency_limit=4)  # fn_index 0, as the tabs wire it
        n.submit(run, [owner, n], out, api_name="run", concurrency_limit=4)  # the same, for gradio_client
        out.submit(run, [owner, n], out, api_name="one_slot", concurrency_limit=1)  # one training slot
    demo.queue(api_open=False)
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True)
    yield demo, f"http://127.0.0.1:{port}"
    demo.close()


def join(url: str, data: list, session: str) -> dict:
    """What the browser's client sends (and what `api_name=False` does not hide): queue/join by fn_index."""
    body = json.dumps({"data": data, "fn_index": 0, "session_hash": session, "trigger_id": None}).encode()
    request = urllib.request.Request(f"{url}/gradio_api/queue/join", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def wait_until(condition, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_job_joined_without_a_listener_is_stopped(tiny_app):
    _, url = tiny_app
    who = "nobody-listens"
    assert "event_id" in join(url, [who, 100_000], "s-unheard")  # api_name=False: still runs
    assert wait_until(lambda: jobs.has_job(who), 20), "the event should start"
    # 100,000 steps at 10 ms would take 17 minutes; nobody reads the stream, so it stops within seconds
    assert wait_until(lambda: not jobs.has_job(who), 20), "a job without a listener kept running"


def test_a_listened_job_runs_to_its_end_and_a_second_start_is_refused(tiny_app):
    from gradio_client import Client

    _, url = tiny_app
    client = Client(url + "/", verbose=False)
    who = "one-learner"
    first = client.submit(who, 300, api_name="/run")
    assert wait_until(lambda: jobs.has_job(who), 20)
    second = Client(url + "/", verbose=False)  # the same learner in another tab (another session)
    with pytest.raises(Exception, match="already have a run going"):
        second.predict(who, 5, api_name="/run")
    assert first.result(timeout=60) == "299"
    assert wait_until(lambda: not jobs.has_job(who), 10)


def test_a_queued_learner_sees_their_position_and_can_cancel(tiny_app):
    from gradio_client import Client

    _, url = tiny_app
    running = Client(url + "/", verbose=False).submit("runner", 100_000, api_name="/one_slot")
    assert wait_until(lambda: jobs.has_job("runner"), 20)
    queued = Client(url + "/", verbose=False).submit("waiter", 5, api_name="/one_slot")
    assert wait_until(lambda: queued.status().code.name == "IN_QUEUE" and queued.status().rank is not None, 20)
    assert queued.status().rank == 0  # first in line behind the running job
    assert queued.cancel()  # what the tab's Stop (cancels=) does to a queued event
    assert wait_until(lambda: queued.status().code.name == "CANCELLED", 20)
    assert not jobs.has_job("waiter")
    assert running.cancel()  # closing the stream: Gradio closes the generator, core.jobs kills the child
    assert wait_until(lambda: not jobs.has_job("runner"), 30)


def test_auth_closes_the_app_and_limits_guessing(monkeypatch):
    import urllib.error
    import urllib.parse

    import app

    monkeypatch.setenv("PLAYGROUND_LOGIN_FAILURES", "3")
    with gr.Blocks() as demo:
        gr.Markdown("inside")
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True, auth=app.login_check("teacher:s3cret"))
    url = f"http://127.0.0.1:{port}"

    def login(password: str) -> int:
        body = urllib.parse.urlencode({"username": "teacher", "password": password}).encode()
        try:
            with urllib.request.urlopen(urllib.request.Request(f"{url}/login", body), timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as err:
            return err.code

    try:
        with pytest.raises(urllib.error.HTTPError) as closed:
            urllib.request.urlopen(f"{url}/config", timeout=10)
        assert closed.value.code == 401
        assert login("s3cret") == 200
        assert [login(f"guess{i}") for i in range(3)] == [400, 400, 400]
        assert login("s3cret") == 400, "past the failure budget, logins wait for the window"
    finally:
        demo.close()

"""LLM Training Playground: builds the app from the lesson tabs and launches it.

    python app.py [--host HOST] [--port PORT] [--share] [--auth USER:PASS]

Each option can also come from the environment (for Hugging Face Spaces):
PLAYGROUND_HOST, PLAYGROUND_PORT, PLAYGROUND_SHARE=1, PLAYGROUND_AUTH=user:pass.
Class settings (README "Classroom"): PLAYGROUND_CONCURRENCY, PLAYGROUND_QUEUE_SIZE, the caps in
core/caps.py, the quotas in core/quotas.py, PLAYGROUND_SECRET, PLAYGROUND_RUNS_DIR, PLAYGROUND_BOARD=1,
PLAYGROUND_ADMIN_PASSWORD, PLAYGROUND_WARM_UP_DELAY_S. On a Space with persistent storage, runs, the
class board and the id secret live under /data (core.sessions.runs_root).
"""
import os

# Nothing phones home: set before gradio is imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Gradio's queue rebuilds a pandas table of its last GRADIO_ANALYTICS_MAX_EVENTS (10,000) events after
# every event, for a monitoring page this app does not serve: under a class that was ~10% of the
# server's CPU and grew with every event. Keep fewer and summarise rarely (bench/class_load.py).
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "500")
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "500")

import argparse  # noqa: E402
import gc  # noqa: E402
import threading  # noqa: E402

from core import threads  # noqa: E402  (only `os`: cheap)

# The server's own torch work (generation, tab 5's maps, chat) runs in many learners' event threads at
# once, next to the training workers: with torch's default of one thread per core it collapses (threads
# spin waiting for each other; tab 5's maps took 6 s instead of 45 ms under a class). torch reads this
# when it is first imported, which is inside a handler, long after this line.
os.environ.setdefault("OMP_NUM_THREADS", str(threads.default_threads()))

# How many learners' events run at once. Queued learners see their place in the queue.
CONCURRENCY = int(os.environ.get("PLAYGROUND_CONCURRENCY", "4"))
# Events waiting at once, server-wide; past it a new event is refused with "queue is full".
# A class of 30 has at most ~30 quick-lab events and a few trainings waiting at any moment.
QUEUE_SIZE = int(os.environ.get("PLAYGROUND_QUEUE_SIZE", "64"))
# api_open=False: the HTTP API would otherwise bypass the queue and its limits
QUEUE = dict(api_open=False, default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
# Seconds between the server being up and the warm-up (lessons.warm_up) starting.
WARM_UP_DELAY_S = float(os.environ.get("PLAYGROUND_WARM_UP_DELAY_S", "2"))

# Training jobs run in "spawn" child processes (core/jobs.py), and a spawned child re-imports the file
# that started the server, as `__mp_main__`: it must not import Gradio or build the app again there.
if __name__ != "__mp_main__":
    # Gradio, FastAPI and pandas (~150,000 objects, imported next) and the app built from them live as long
    # as the server, so no garbage collection could free them. The collector is off until the app is
    # built, and then they are frozen, so its later passes skip them: 0.3-0.5 s of start-up went to the
    # passes that importing and building triggered, and each pass in a learner's event walks fewer objects.
    gc.disable()
    # On a ZeroGPU Space, `spaces` must be imported before torch initialises CUDA (core/spaces_support.py).
    from core import spaces_support

    spaces_support.import_spaces()
    from lessons import build_app, warm_up
    from lessons.style import CSS, THEME

    demo = build_app(queue=QUEUE)
    gc.freeze()
    gc.enable()



def parse_args(argv=None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description="LLM Training Playground")
    parser.add_argument("--host", default=env("PLAYGROUND_HOST") or env("GRADIO_SERVER_NAME") or "127.0.0.1",
                        help="address to serve on (0.0.0.0 to reach it from other machines)")
    parser.add_argument("--port", type=int, default=int(env("PLAYGROUND_PORT") or env("GRADIO_SERVER_PORT") or 7860))
    parser.add_argument("--share", action="store_true", default=env("PLAYGROUND_SHARE", "") in ("1", "true", "yes"),
                        help="create a public gradio.live link for a class")
    parser.add_argument("--auth", default=env("PLAYGROUND_AUTH"), metavar="USER:PASS",
                        help="require this login (recommended with --share)")
    args = parser.parse_args(argv)
    if args.auth and ":" not in args.auth:
        parser.error("--auth must look like USER:PASS")
    return args


def login_check(auth: str | None):
    """Gradio's `auth=`: a callable that also limits failed logins (core.sessions.LoginLimiter)."""
    from core.sessions import LoginLimiter

    if not auth:
        return None
    user, password = auth.split(":", 1)
    return LoginLimiter(user, password, max_failures=int(os.environ.get("PLAYGROUND_LOGIN_FAILURES", "10")))


def launch(args: argparse.Namespace, **kwargs):
    from core import jobs, quotas

    # old runs and empty failed starts, now and every PLAYGROUND_SWEEP_MINUTES; never a learner's running job
    quotas.start_sweeper(busy_users=lambda: {job["owner"] for job in jobs.table()})  # running or queued
    wait = not kwargs.pop("prevent_thread_lock", False)
    served = demo.launch(server_name=args.host, server_port=args.port, share=args.share, auth=login_check(args.auth),
                         theme=THEME, css=CSS, max_file_size="5mb", prevent_thread_lock=True, **kwargs)
    # A moment after the server is up, so the first page is served before importing torch holds the
    # interpreter (a page asked for meanwhile took 0.3 s instead of 0.06); the first learner's view then
    # finds torch and the shipped model ready.
    warm = threading.Timer(WARM_UP_DELAY_S, warm_up)
    warm.name, warm.daemon = "warm-up", True
    warm.start()
    if wait:
        demo.block_thread()
    return served


if __name__ == "__main__":
    launch(parse_args())

"""LLM Training Playground: builds the app from the lesson tabs and launches it.

    python app.py [--host HOST] [--port PORT] [--share] [--auth USER:PASS]

Each option can also come from the environment (for Hugging Face Spaces):
PLAYGROUND_HOST, PLAYGROUND_PORT, PLAYGROUND_SHARE=1, PLAYGROUND_AUTH=user:pass.
"""
import os

# Nothing phones home: set before gradio is imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import argparse  # noqa: E402

from lessons import build_app  # noqa: E402
from lessons.style import CSS, THEME  # noqa: E402

demo = build_app()

# How many learners' events run at once. Queued learners see their place in the queue.
CONCURRENCY = int(os.environ.get("PLAYGROUND_CONCURRENCY", "4"))


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


def launch(args: argparse.Namespace, **kwargs):
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    # api_open=False: the HTTP API would otherwise bypass the queue and its limits
    demo.queue(api_open=False, default_concurrency_limit=CONCURRENCY)
    return demo.launch(server_name=args.host, server_port=args.port, share=args.share, auth=auth,
                       theme=THEME, css=CSS, max_file_size="5mb", **kwargs)


if __name__ == "__main__":
    launch(parse_args())

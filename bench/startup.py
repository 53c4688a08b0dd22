"""Start-up time: from `python app.py` to the page being served, next to a bare Gradio app.

    python bench/startup.py [--pairs 3]

Machines differ (importing gradio alone took 2.5 s on one and 5.3 s on another), so the app is timed
against `gr.Blocks()` with one Markdown, alternately in the same run, and the ratio is what counts
(target: at most 1.3x, issue 12). Also prints which heavy modules `import app` pulls in.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BARE_APP = """
import os, sys
import gradio as gr
with gr.Blocks() as demo:
    gr.Markdown("# Hello")
demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]))
"""
HEAVY = ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "bitsandbytes", "plotly", "numpy", "tiktoken")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_one_start(command: list[str], timeout: float = 120) -> float:
    port = free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    # A learner's Python keeps the app's compiled bytecode after the first start (pip compiled Gradio's at
    # install). Some machines set PYTHONDONTWRITEBYTECODE, which would recompile the app's ~70 modules on
    # every start (~0.1 s) and measure a start no learner has twice.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    proc = subprocess.Popen([*command, str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
                    if r.status == 200 and b"<html" in r.read(2000).lower():
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"{command} did not start within {timeout} s")
    finally:
        proc.terminate()
        proc.wait(10)


def heavy_modules() -> list[str]:
    code = f"import sys, app; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    return out.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3, help="app/bare pairs, alternated (at least 3)")
    args = parser.parse_args()
    app_cmd = [sys.executable, "app.py", "--port"]
    bare_cmd = [sys.executable, "-c", BARE_APP]
    time_one_start(app_cmd)  # warm the OS file cache (the first start after install reads the disk) and write bytecode
    app_times, bare_times = [], []
    for _ in range(max(3, args.pairs)):
        bare_times.append(time_one_start(bare_cmd))
        app_times.append(time_one_start(app_cmd))
    ratios = [a / b for a, b in zip(app_times, bare_times)]
    print("bare gr.Blocks (s):", " ".join(f"{t:.2f}" for t in bare_times))
    print("the app       (s):", " ".join(f"{t:.2f}" for t in app_times))
    print(f"median: app {statistics.median(app_times):.2f} s, bare {statistics.median(bare_times):.2f} s, "
          f"ratio {statistics.median(ratios):.2f}x (per pair: {' '.join(f'{r:.2f}' for r in ratios)}; target <= 1.3x)")
    print("heavy modules imported by `import app`:", " ".join(heavy_modules()) or "none")


if __name__ == "__main__":
    main()

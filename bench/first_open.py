"""First open of each tab in a real browser: from the click until the tab has settled.

    python bench/first_open.py [--repeats 3] [--tabs "3 · Core math" "4 · MiniGPT" ...]

Starts `app.py` on a free port (and, for the baseline, a bare Gradio app with two Markdown tabs),
opens Debian's Chromium through Playwright, and for each tab, in a fresh page (a new learner): waits
for the page's own load, clicks the tab and records when the tab's panel last changed (a
MutationObserver in the page: plots drawn, values filled in), ending once it has been quiet for
QUIET_MS. "Settled" is that last change minus the click. The baseline is the same measurement on the
bare app, so the ratio says what the tab itself costs on this machine (the target is about one
second: UI-GUIDE). Run it on an idle machine; speed is never asserted in the tests.
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
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
QUIET_MS = 800
PAGE_SETTLE_S = 2.0  # the learner reads the first tab for a moment; the page's own load events run meanwhile

BARE_APP = """
import sys
import gradio as gr
with gr.Blocks() as demo:
    with gr.Tab("A"):
        gr.Markdown("first tab")
    with gr.Tab("B"):
        gr.Markdown("## Part B\\nsecond tab")
demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]))
"""

WATCH_JS = """() => {
  const panel = [...document.querySelectorAll('[role=tabpanel]')].find(p => p.offsetParent !== null);
  window.__last = performance.now();
  new MutationObserver(() => { window.__last = performance.now(); })
    .observe(panel || document.body, {childList: true, subtree: true, attributes: true, characterData: true});
  return performance.now();
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([*command, str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise TimeoutError(f"{command} did not start")


def settle_seconds(browser, url: str, label: str) -> float:
    """One fresh page: seconds from clicking `label` until its panel last changed."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(url)
        page.get_by_role("tab").first.wait_for(timeout=60_000)
        page.wait_for_timeout(PAGE_SETTLE_S * 1000)
        clicked = page.evaluate("performance.now()")
        page.get_by_role("tab", name=label, exact=True).click()
        page.wait_for_timeout(50)  # the panel exists once the tab is selected
        page.evaluate(WATCH_JS)
        page.wait_for_function(f"() => performance.now() - window.__last > {QUIET_MS}", timeout=120_000, polling=50)
        return (page.evaluate("window.__last") - clicked) / 1000
    finally:
        page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tabs", nargs="*", default=None, help="tab labels (default: every tab)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from lessons import LESSONS

    tabs = args.tabs or [label for label, _ in LESSONS[1:]]  # the first tab is open already
    bare_proc, bare_url = start([sys.executable, "-c", BARE_APP])
    app_proc, app_url = start([sys.executable, "app.py", "--port"])
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            settle_seconds(browser, app_url, tabs[0])  # warm the server: the first view ever is not a class's
            base = statistics.median(settle_seconds(browser, bare_url, "B") for _ in range(args.repeats))
            print(f"bare Gradio app, second tab: {base:.2f} s (median of {args.repeats})")
            for label in tabs:
                times = [settle_seconds(browser, app_url, label) for _ in range(args.repeats)]
                median = statistics.median(times)
                print(f"{label:24s} settled in {median:5.2f} s (median; runs {', '.join(f'{t:.2f}' for t in times)}), "
                      f"{median / base:4.1f}x the bare app's tab")
            browser.close()
    finally:
        for proc in (bare_proc, app_proc):
            proc.terminate()
            proc.wait(10)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

"""What tab 10's calculators cost the server: each handler at its defaults, as one event pays it.

    python bench/compute.py [--repeats 20]

Columns (median ms of --repeats calls): the handler alone, and the event = handler + Gradio's
postprocess + orjson of the payload (bench/gradio_cost.py), with the bytes sent. Target (issue 15):
every calculator handler under 100 ms. Also printed: the live matmul measurement (it runs once when the
page opens and on "Measure this machine"; its budget is 0.15 s of repeats by design).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from bench.gradio_cost import event_ms  # noqa: E402
from lessons import part10_compute as tab  # noqa: E402

TARGET_MS = 100
MEMORY = dict(batch=1, inference_dtype="bf16", checkpointing=False, fused_attention=False, dropout=False,
              lora_rank=8, lora_targets="all linear", zero_stage=0)


def _labs(preset: str, hardware: str = "A100", measured: float = 2e10):
    d = tab.preset_values(preset)
    shape = [d[k] for k in tab.SHAPE_FIELDS] + [d["glu"]]
    return lambda: tab.both_labs(d["state"], *shape, hardware, 16, 40, 2.0, measured,
                                 *[MEMORY[k] for k in tab.MEMORY_FIELDS])


def _typed():
    d = tab.preset_values("tinyllama-1.1b")
    return lambda: tab.check_run("175B", "300B", d["state"])


CASES = [
    ("labs 1 + 2, TinyLlama on 16 A100 (any control of the model)", _labs("tinyllama-1.1b")),
    ("labs 1 + 2, Llama-3-8B on this machine", _labs("llama-3-8b", tab.compute.THIS_MACHINE)),
    ("preset picked (fills N, D and the shape)", lambda: tab.preset_values("llama-2-7b")),
    ("typed N / D checked", _typed()),
    ("lab 3 prediction (before a run)", lambda: tab.measure_prediction(2, 4, 128, 64, 8, 20, 40, 2e10)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"{'handler':<62}{'alone ms':>10}{'event ms':>10}{'bytes':>9}")
    worst = 0.0
    for name, handler in CASES:
        alone, full, size = event_ms(handler, args.repeats)
        worst = max(worst, full)
        print(f"{name:<62}{alone:>10.2f}{full:>10.2f}{size:>9,}")
    print(f"\nslowest event {worst:.1f} ms: {'under' if worst < TARGET_MS else 'OVER'} the {TARGET_MS} ms target")
    for when in ("first (imports torch)", "again"):
        start = time.perf_counter()
        measured = tab.measure_machine()
        print(f"live matmul measurement, {when}: {1000 * (time.perf_counter() - start):.0f} ms · {measured['machine']}")


if __name__ == "__main__":
    main()

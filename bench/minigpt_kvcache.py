"""KV cache vs no cache: time to generate 500 characters with the guide's MiniGPT (target: >= 3x).

    python bench/minigpt_kvcache.py [--tokens 500] [--threads 1] [--repeats 3]

Speed does not depend on what the weights learned, so the model is the default shape with fresh
weights (the shipped checkpoint is used when present, for realism). Both paths must produce the same
characters; the best of `repeats` runs is reported to damp noise from other processes, in wall-clock
time and in this process's CPU time (steadier than wall time on a busy machine; one thread only).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from core.minigpt import checkpoint, sample  # noqa: E402
from core.minigpt.config import GPTConfig  # noqa: E402
from core.minigpt.model import MiniGPT  # noqa: E402
from core.sessions import CHECKPOINTS_DIR  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    shipped = CHECKPOINTS_DIR / "minigpt" / "default"
    if (shipped / "config.json").is_file():
        loaded = checkpoint.load(shipped)
        model, ids, name = loaded.model, loaded.tokenizer.encode("Python is"), "shipped default"
    else:
        torch.manual_seed(0)
        model, ids, name = MiniGPT(GPTConfig(vocab_size=66)).eval(), [1, 2, 3], "default shape, fresh weights"
    c = model.config
    print(f"model: {name}, {model.num_params():,} parameters, context {c.block_size}, {args.threads} thread(s)")
    settings = dict(temperature=0.8, top_k=None, top_p=None, seed=0)
    best, cpu = {}, {}
    for use_cache in (True, False):
        times, cpu_times = [], []
        for _ in range(args.repeats):
            cpu_start = time.process_time()
            tokens, seconds = sample.time_generation(model, ids, args.tokens, use_cache, **settings)
            cpu_times.append(time.process_time() - cpu_start)
            times.append(seconds)
        best[use_cache], cpu[use_cache] = (tokens, min(times)), min(cpu_times)
        label = "with KV cache   " if use_cache else "without (full)  "
        print(f"{label} {min(times):6.3f} s wall  {args.tokens / min(times):8,.0f} tokens/s  "
              f"{min(cpu_times):6.3f} s CPU  (wall runs: {', '.join(f'{t:.3f}' for t in times)})")
    same = best[True][0] == best[False][0]
    print(f"speed-up at {args.tokens} tokens (target >= 3x): {best[False][1] / best[True][1]:.2f}x wall, "
          f"{cpu[False] / cpu[True]:.2f}x CPU time; identical text: {same}")


if __name__ == "__main__":
    main()

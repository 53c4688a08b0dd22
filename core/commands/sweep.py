"""`python -m core sweep`: Part 8's learning-rate sweep and overfitting runs, from the terminal.

With no options it trains the tab's defaults on the built-in corpus; that is how the example series
shipped in `checkpoints/examples/` were made (the tab shows them until a learner trains their own).
"""
from __future__ import annotations

import sys

ORDER = 8


def register(subparsers) -> None:
    from core import sweeps

    p = subparsers.add_parser("sweep", help="train a learning-rate sweep or the overfitting runs (Part 8)")
    p.add_argument("--kind", choices=("sweep", "overfitting"), default="sweep")
    p.add_argument("--rates", type=float, nargs="+", default=list(sweeps.DEFAULT_RATES),
                   help="learning rates of the sweep (2 to 6)")
    p.add_argument("--steps", type=int, help=f"steps per run (default {sweeps.DEFAULT_SWEEP_STEPS} for a sweep, "
                                              f"{sweeps.DEFAULT_OVERFIT_STEPS} for the overfitting runs)")
    p.add_argument("--train-chars", type=int, default=sweeps.DEFAULT_TRAIN_CHARS)
    p.add_argument("--dropout", type=float, default=sweeps.DEFAULT_DROPOUT)
    p.add_argument("--out", required=True, help="folder for series.json")
    p.set_defaults(func=run)


def run(args) -> int:
    from core import sweeps, text_input, threads

    threads.set_torch_threads(None)
    text = text_input.learner_text(text_input.BUILTIN, None, None)
    if args.kind == "sweep":
        series = sweeps.learning_rate_sweep(text, args.rates, args.steps or sweeps.DEFAULT_SWEEP_STEPS, out_dir=args.out)
    else:
        series = sweeps.overfitting_runs(text, args.steps or sweeps.DEFAULT_OVERFIT_STEPS, args.train_chars,
                                         args.dropout, out_dir=args.out)
    last, shown = None, None
    for last in series:
        if sys.stdout.isatty():
            print(last.status_line(), end="\r", flush=True)
        elif last.current != shown:  # a log file gets one line per run, not one per report
            shown = last.current
            print(last.status_line(), flush=True)
    print("\n" + last.status_line() if sys.stdout.isatty() else last.status_line())
    for run_, gap in zip(last.runs, sweeps.generalisation_gaps(last)):
        val = f"{run_.final_val_loss:.3f}" if run_.final_val_loss is not None else "-"
        print(f"{run_.label:>32}: train {run_.final_loss:.3f} · validation {val}" + (" (diverged)" if run_.diverged else ""))
    print(f"wrote {args.out}/{sweeps.SERIES_JSON}")
    return 0

"""`python -m core softmax | cross-entropy | gradient-descent`: Part 3's lessons printed as text.

The same computations as tab 3 of the app (core.probability, core.optimizers), with options for
the inputs, like the guide's three scripts in examples/part3_math_foundations/.
"""
from __future__ import annotations

from core.seeds import seed_argument

ORDER = 3


def register(subparsers) -> None:
    p = subparsers.add_parser("softmax", help="logits to probabilities: temperature, stability, top-k/top-p, sampling")
    p.add_argument("--logits", default="2.0, 1.0, 0.1", help="comma-separated logits (2 to 50)")
    p.add_argument("--labels", default="", help="comma-separated token labels, one per logit")
    p.add_argument("--temperatures", type=float, nargs="+", default=[0.5, 1.0, 2.0], metavar="T", help="0 means greedy")
    p.add_argument("--top-k", type=int, default=2)
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument("--samples", type=int, default=1000, help="draws for the sampling histogram")
    p.add_argument("--seed", type=seed_argument, default=0)
    p.set_defaults(func=run_softmax)

    p = subparsers.add_parser("cross-entropy", help="the loss -log p(target), its gradient, perplexity and ln V")
    p.add_argument("--logits", default="2.0, 1.0, 0.1", help="comma-separated logits (2 to 50)")
    p.add_argument("--labels", default="", help="comma-separated token labels, one per logit")
    p.add_argument("--target", default="0", help="index (0 = first) or label of the correct next token")
    p.add_argument("--vocab", type=int, default=65, help="vocabulary size for the 'untrained model' loss ln V")
    p.add_argument("--loss", type=float, default=0.09, help="a loss to translate into a probability")
    p.add_argument("--batch", action="append", metavar="'LOGITS -> TARGET'",
                   help="one batch position (repeat the option), e.g. '2, 1, 0.1 -> 0'")
    p.set_defaults(func=run_cross_entropy)

    from core.optimizers import OPTIMIZERS, SURFACES

    p = subparsers.add_parser("gradient-descent", help="SGD, momentum and Adam on small loss surfaces")
    p.add_argument("--surface", choices=list(SURFACES), default="regression")
    p.add_argument("--optimizer", choices=[*OPTIMIZERS, "all"], default="all")
    p.add_argument("--lr", type=float, help="learning rate (default: one that suits the surface)")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--start", help="comma-separated start point (default: the surface's)")
    p.add_argument("--every", type=int, default=10, help="print every N steps")
    p.set_defaults(func=run_gradient_descent)


def _row(name: str, values, width: int = 9, fmt: str = ".3f") -> str:
    return f"  {name:<14}" + "".join(f"{v:>{width}{fmt}}" if isinstance(v, float) else f"{str(v):>{width}}" for v in values)


def run_softmax(args) -> int:
    from core import probability as P

    logits = P.parse_logits(args.logits)
    labels = P.parse_labels(args.labels, len(logits))
    print("Softmax turns logits into probabilities: p_i = exp(z_i / T) / sum_j exp(z_j / T)\n")
    print(_row("", [label[:8] for label in labels]) + f"{'entropy':>10}")
    print(_row("logits", [float(z) for z in logits]))
    for t in args.temperatures:
        probs = P.softmax(logits, t)
        print(_row(f"T = {t:g}", [float(p) for p in probs]) + f"{P.entropy(probs):>10.3f}")
    print(f"\n  entropy in nats: 0 when certain, ln {len(logits)} = {P.uniform_loss(len(logits)):.3f} when uniform."
          " T = 0 is greedy (argmax).")

    demo = [1000.0, 1001.0, 1002.0]
    print(f"\nNumerical stability, logits {demo}:")
    print(_row("naive", [float(p) for p in P.naive_softmax(demo)]) + "   exp(1000) overflows: inf / inf = nan")
    print(_row("max trick", [float(p) for p in P.softmax(demo)]) + "   exp(z - max(z)) never overflows")

    probs = P.softmax(logits)
    print("\nFilters after softmax (T = 1), renormalised over the tokens they keep:")
    print(_row(f"top-k, k={args.top_k}", [float(p) for p in P.top_k_filter(probs, args.top_k)]))
    print(_row(f"top-p, p={args.top_p:g}", [float(p) for p in P.top_p_filter(probs, args.top_p)]))

    counts = P.sample_counts(probs, args.samples, args.seed)
    print(f"\nSampling {args.samples} tokens at T = 1 (seed {args.seed}): frequency vs probability")
    print(_row("frequency", [float(c / args.samples) for c in counts]))
    print(_row("probability", [float(p) for p in probs]))
    return 0


def _target_index(target: str, labels: list[str]) -> int:
    if target in labels:
        return labels.index(target)
    try:
        index = int(target)
    except ValueError:
        raise ValueError(f"--target {target!r} is neither a label ({', '.join(labels)}) nor an index") from None
    if not 0 <= index < len(labels):
        raise ValueError(f"--target must be an index from 0 to {len(labels) - 1}")
    return index


def run_cross_entropy(args) -> int:
    import math

    from core import probability as P

    logits = P.parse_logits(args.logits)
    labels = P.parse_labels(args.labels, len(logits))
    target = _target_index(args.target, labels)
    probs = P.softmax(logits)
    loss = P.cross_entropy(logits, target)
    print("Cross-entropy: the loss is -log p(correct token)\n")
    print(_row("", [label[:8] for label in labels]))
    print(_row("logits", [float(z) for z in logits]))
    print(_row("probability", [float(p) for p in probs]))
    print(_row("gradient", [float(g) for g in P.cross_entropy_gradient(logits, target)]) + "   = softmax - one-hot")
    print(f"\n  correct token: {labels[target]} (index {target}), p = {probs[target]:.4f}")
    print(f"  loss = -ln {probs[target]:.4f} = {loss:.4f}   perplexity = exp(loss) = {P.perplexity(loss):.3f}")

    print("\nHow loss reads as confidence:")
    for p in (0.99, 0.9, 0.5, 0.1, 0.01):
        print(f"  p(correct) = {p:<5} -> loss {-math.log(p):.3f}")
    v = args.vocab
    print(f"\n  An untrained model spreads probability evenly: p = 1/{v} = {1 / v:.4f}, so the first loss is"
          f" ln {v} = {P.uniform_loss(v):.3f} (perplexity {v}).")
    print(f"  A loss of {args.loss:g} means p(correct) = exp(-{args.loss:g}) = {P.probability_from_loss(args.loss):.3f}"
          f", perplexity {P.perplexity(args.loss):.3f}.")

    lines = args.batch or ["2.0, 1.0, 0.1 -> 0", "0.5, 2.5, 0.3 -> 1", "1.0, 1.0, 1.0 -> 2", "3.0, 0.2, -1.0 -> 2"]
    batch, targets = P.parse_batch("\n".join(lines))
    per_position = P.cross_entropy_per_position(batch, targets)
    print("\nA batch: the training loss is the mean over positions")
    for line, target_i, loss_i in zip(lines, targets, per_position):
        print(f"  {line.split('->')[0].strip():<28} target {target_i}   loss {loss_i:.4f}")
    import torch
    import torch.nn.functional as F

    reference = F.cross_entropy(torch.tensor(batch, dtype=torch.float64), torch.tensor(targets)).item()
    print(f"  mean loss {P.cross_entropy(batch, targets):.6f}   torch.nn.functional.cross_entropy: {reference:.6f}")
    return 0


def run_gradient_descent(args) -> int:
    from core.optimizers import OPTIMIZERS, SURFACES, run_descent
    from core.probability import parse_numbers

    surface = SURFACES[args.surface]
    start = None if args.start is None else parse_numbers(args.start, "coordinates", surface.dim, surface.dim)
    lr = surface.lr if args.lr is None else args.lr
    names = list(OPTIMIZERS) if args.optimizer == "all" else [args.optimizer]
    print(f"Gradient descent on {surface.title}: loss = {surface.formula}")
    print(f"  minimum at {', '.join(f'{n} = {m:.3f}' for n, m in zip(surface.axis_names, surface.minimum))}"
          + (f"; plain SGD diverges above lr = {surface.sgd_limit:.3g}" if surface.sgd_limit else ""))
    for name in names:
        run = run_descent(surface, name, lr, args.steps, start)
        print(f"\n{name}, learning rate {lr:g}")
        print(f"  {'step':>6}{'loss':>14}" + "".join(f"{n:>12}" for n in surface.axis_names[: surface.dim]))
        every = max(1, args.every)
        for step, (point, loss) in enumerate(zip(run.points, run.losses)):
            if step % every == 0 or step == run.steps_taken:
                print(f"  {step:>6}{loss:>14.6g}" + "".join(f"{c:>12.5g}" for c in point))
        print(f"  {run.message()}")
    return 0

"""`python -m core attention "the cat sat"`: self-attention on a sentence, printed step by step."""
from __future__ import annotations

from core.seeds import seed_argument

ORDER = 5


def register(subparsers) -> None:
    p = subparsers.add_parser("attention", help="print every step of self-attention on a short sentence (Part 5)")
    p.add_argument("sentence", help='a short sentence, e.g. "the cat sat"')
    p.add_argument("--tokens", choices=["words", "characters"], default="words", help="how to cut the sentence (default: words)")
    p.add_argument("--d-model", type=int, default=8, help="embedding width of the random embeddings (default: 8)")
    p.add_argument("--heads", type=int, default=1, help="number of heads; must divide the width (default: 1)")
    p.add_argument("--head", type=int, default=1, help="which head to print for per-head steps (default: 1)")
    p.add_argument("--no-scale", action="store_true", help="skip the division by √d_k")
    p.add_argument("--no-mask", action="store_true", help="skip the causal mask (every token sees the future too)")
    p.add_argument("--seed", type=seed_argument, default=0, help="seed of the random embeddings and weights (default: 0)")
    p.add_argument("--checkpoint", metavar="DIR", help="take X and the weights from layer 1 of a MiniGPT checkpoint (tokens are then characters)")
    p.add_argument("--precision", type=int, default=2, help="decimals printed (default: 2)")
    p.set_defaults(func=run)


def run(args) -> int:
    from core import attention

    if args.checkpoint:
        from core.minigpt import checkpoint

        loaded = checkpoint.load(args.checkpoint)
        tokens, x, w = attention.model_inputs(loaded, args.sentence)
        print(f"X and weights from layer 1 of {args.checkpoint} (the model uses {loaded.config.n_head} heads)")
    else:
        tokens = attention.split_tokens(args.sentence, args.tokens)
        x, w = attention.random_inputs(tokens, args.d_model, args.seed)
    scaled, causal = not args.no_scale, not args.no_mask
    steps = attention.attention_steps(x, n_heads=args.heads, causal=causal, scaled=scaled, **w)
    if not 1 <= args.head <= args.heads:
        raise ValueError(f"--head must be between 1 and {args.heads}.")
    print(f"Tokens ({len(tokens)}): {' '.join(attention.repr_label(t) for t in tokens)}")
    print(f"d_model = {x.shape[1]}, heads = {args.heads}, d_k = {steps['q'].shape[-1]}, "
          f"scaling {'on' if scaled else 'off'}, causal mask {'on' if causal else 'off'}\n")
    for number, step in enumerate(attention.describe_steps(steps, tokens, args.heads, scaled, causal), start=1):
        matrix = step.matrix[args.head - 1] if step.per_head else step.matrix
        which = f"   [head {args.head} of {args.heads}]" if step.per_head else ""
        print(f"Step {number}. {step.title}: {step.formula}   shape {step.shape_text()}{which}")
        print(f"  {step.note}")
        print(attention.format_matrix(matrix, step.row_labels, step.col_labels, args.precision))
        print()
    return 0

"""`python -m core cost`: training compute, time, money and memory, as tab 10 computes them (core.compute).

    python -m core cost --params 1.1e9 --tokens 3e12 --gpu A100 --gpus 16 --mfu 0.5 --price 2
    python -m core cost --preset tinyllama-1.1b --gpu H100 --json
"""
from __future__ import annotations

import json

ORDER = 10


def register(subparsers) -> None:
    from core import compute

    p = subparsers.add_parser("cost", help="training FLOPs, Chinchilla tokens, time and cost on GPUs, memory per setting")
    p.add_argument("--params", help="parameters N, e.g. 1.1e9 or 1.1B (default: the preset's)")
    p.add_argument("--tokens", help="training tokens D, e.g. 3e12 or 3T (default: the preset's run, else 20 N)")
    p.add_argument("--preset", choices=list(compute.RUNS), help="a model's shape and size (core.architecture)")
    p.add_argument("--gpu", choices=list(compute.GPUS), default="A100", help="GPU type (dense 16-bit peak)")
    p.add_argument("--gpus", type=int, default=1, help="number of GPUs (data parallel)")
    p.add_argument("--mfu", type=float, default=0.4, help="model FLOPs utilisation, 0.01 to 1 (default 0.4)")
    p.add_argument("--price", type=float, default=2.0, help="USD per GPU-hour (default 2)")
    p.add_argument("--batch", type=int, default=1, help="sequences per GPU for the memory estimate")
    p.add_argument("--context", type=int, help="tokens per sequence for the memory estimate (default: the shape's)")
    p.add_argument("--checkpointing", action="store_true", help="full activation checkpointing")
    p.add_argument("--dropout", action="store_true", help="count dropout's masks and copies (Korthikanti's GPT)")
    p.add_argument("--fused-attention", action="store_true", help="FlashAttention: no s x s matrix kept")
    p.add_argument("--zero", type=int, choices=(0, 1, 2, 3), default=0, help="ZeRO stage over --gpus (3 = FSDP)")
    p.add_argument("--lora-rank", type=int, default=8)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _inputs(args):
    """(N, D, shape) from the options: a preset fills what is not given."""
    from core import compute

    chosen = compute.preset(args.preset) if args.preset else None
    if args.params is None and chosen is None:
        raise ValueError("Give --params N (e.g. 1.1e9) or a --preset.")
    params = compute.parse_count(args.params, "number of parameters", compute.MAX_PARAMS) if args.params else chosen.params
    if args.tokens is not None:
        tokens = compute.parse_count(args.tokens, "number of training tokens", compute.MAX_TOKENS)
    else:
        tokens = chosen.tokens if chosen and chosen.tokens else compute.chinchilla_tokens(params)
    return params, tokens, chosen.shape if chosen else None


def run(args) -> int:
    from core import compute

    params, tokens, shape = _inputs(args)
    settings = compute.MemorySettings(batch=args.batch, context=args.context, checkpointing=args.checkpointing,
                                      dropout=args.dropout, fused_attention=args.fused_attention, lora_rank=args.lora_rank, gpus=args.gpus, zero_stage=args.zero)
    report = compute.cost_report(params, tokens, args.gpu, args.gpus, args.mfu, args.price, shape, settings)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    _print_report(report)
    return 0


def _gb(n: float) -> str:
    return f"{n / 1e9:,.2f} GB"


def _print_report(r: dict) -> None:
    print(f"N = {r['params']:.3g} parameters, D = {r['tokens']:.3g} tokens ({r['tokens_per_param']:,.0f} tokens per parameter)")
    print(f"  training compute  6 N D = {r['flops_6nd']:.3g} FLOPs", end="")
    print(f" + attention 12 L d T D = {r['attention_flops']:.3g}" if r["attention_flops"] else "")
    print(f"  Chinchilla-optimal D = 20 N = {r['chinchilla_tokens']:.3g} tokens "
          f"({r['tokens'] / r['chinchilla_tokens']:.2g}x that here)")
    print(f"  on {r['gpus']} x {r['gpu']} ({r['peak_flops_per_gpu'] / 1e12:g} TFLOP/s peak) at MFU {r['mfu']:.0%}: "
          f"{r['hours']:,.1f} hours ({r['hours'] / 24:,.1f} days), {r['gpu_hours']:,.0f} GPU-hours, "
          f"USD {r['cost_usd']:,.0f} at USD {r['price_per_gpu_hour']:g} per GPU-hour")
    print(f"\nMemory per GPU (shape {r['shape_source']}; batch {r['memory_settings']['batch']}, "
          f"ZeRO stage {r['memory_settings']['zero_stage']}):")
    print(f"  {'setting':<15}{'weights':>12}{'gradients':>12}{'optimizer':>12}{'activations':>13}{'total':>12}")
    for name, parts in r["memory"].items():
        print(f"  {name:<15}" + "".join(f"{_gb(parts[k]):>12}" for k in ("weights", "gradients", "optimizer"))
              + f"{_gb(parts['activations']):>13}{_gb(parts['total']):>12}")
    print("  (inference: bf16 KV cache as its activations; full fine-tune: mixed-precision AdamW, 16 bytes per parameter)")

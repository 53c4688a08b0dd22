"""Batch, context and gradient accumulation: how many tokens one optimizer step learns from, and a live
proof that accumulating k micro-batches gives the gradient of one batch k times larger.

    tokens_per_step(batch_size=16, context=192, accumulation=4)   # {"sequences": 64, "tokens": 12288, ...}
    prove_equivalence(micro_batch=4, accumulation=4, context=64)  # {"max_abs_diff": 6e-8, ...}

Why dividing each micro-batch's loss by k: the loss of a batch is the *mean* over its tokens, so the
gradient of a batch of k·B windows is (1/k) · the sum of the k micro-batches' mean-loss gradients.
backward() adds into .grad, so k backward passes of loss / k build exactly that sum. Only the order of
the float32 additions differs, hence differences of the order of float32's rounding (~1e-7 relative).
"""
from __future__ import annotations

LIMITS = {"micro_batch": (1, 32), "accumulation": (1, 16), "context": (8, 128), "gpus": (1, 4096)}
MAX_PROOF_TOKENS = 8192  # micro-batch x accumulation x context of the live proof: about a second on one core
PROOF_SHAPE = dict(n_layer=2, n_head=2, n_embd=64)  # small enough that the proof takes well under a second


def _check(**values) -> None:
    for name, value in values.items():
        low, high = LIMITS[name]
        if not low <= value <= high:
            raise ValueError(f"{name.replace('_', ' ')} = {value} is outside the supported range {low}..{high}.")


def tokens_per_step(batch_size: int, context: int, accumulation: int = 1, gpus: int = 1) -> dict:
    """Sequences and tokens one optimizer step averages over: micro-batch x accumulation steps x GPUs."""
    if min(batch_size, context, accumulation, gpus) < 1:
        raise ValueError("Batch size, context, accumulation steps and GPUs must all be at least 1.")
    sequences = batch_size * accumulation * gpus
    return {"sequences": sequences, "tokens": sequences * context, "micro_batch_tokens": batch_size * context,
            "forward_backward_passes": accumulation}


def _windows(text: str, count: int, context: int, seed: int):
    """`count` random (input, target) windows of the corpus, from a private generator."""
    import torch

    from core.minigpt.data import CharDataset

    data = CharDataset(text, context, val_fraction=0.1)
    x, y = data.batch("train", count, torch.Generator().manual_seed(seed))
    return data.tokenizer.vocab_size, x, y


def _gradients(model):
    """Every parameter's gradient as one flat vector."""
    import torch

    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def prove_equivalence(micro_batch: int = 4, accumulation: int = 4, context: int = 64, text: str | None = None,
                      seed: int = 0, divide: bool = True) -> dict:
    """One MiniGPT's gradient two ways on the same k x B windows: one big batch, and k micro-batches whose
    losses are divided by k and accumulated. Returns both losses, the largest gradient difference and the
    ratio of the two gradients' norms. `divide=False` forgets the division (the common bug): the accumulated
    gradient is then k times the big batch's (norm_ratio = k)."""
    from core.minigpt.config import GPTConfig
    from core.minigpt.data import builtin_corpus
    from core.minigpt.model import MiniGPT

    _check(micro_batch=micro_batch, accumulation=accumulation, context=context)
    if micro_batch * accumulation * context > MAX_PROOF_TOKENS:
        raise ValueError(f"The proof runs {micro_batch} x {accumulation} x {context} = "
                         f"{micro_batch * accumulation * context:,} tokens; keep it at most {MAX_PROOF_TOKENS:,} "
                         "(a smaller micro-batch, fewer steps or a shorter context).")
    vocab, x, y = _windows(text or builtin_corpus(), micro_batch * accumulation, context, seed)
    model = MiniGPT(GPTConfig(vocab_size=vocab, block_size=context, dropout=0.0, **PROOF_SHAPE), seed=seed)
    model.zero_grad(set_to_none=True)
    _, big_loss = model(x, y)
    big_loss.backward()
    big = _gradients(model).clone()

    model.zero_grad(set_to_none=True)
    accumulated_loss = 0.0
    for xs, ys in zip(x.split(micro_batch), y.split(micro_batch)):
        _, loss = model(xs, ys)
        (loss / accumulation if divide else loss).backward()  # .grad adds up: after k passes, the mean over all windows
        accumulated_loss += loss.item() / accumulation
    summed = _gradients(model)
    return {"max_abs_diff": (big - summed).abs().max().item(), "max_abs_grad": big.abs().max().item(),
            "norm_ratio": (summed.norm() / big.norm()).item(),
            "big_batch_loss": big_loss.item(), "accumulated_loss": accumulated_loss,
            "num_params": model.num_params(), "windows": micro_batch * accumulation,
            **tokens_per_step(micro_batch, context, accumulation)}

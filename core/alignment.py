"""Direct Preference Optimization (DPO): the loss, its implicit rewards and its gradient weight.

DPO (Rafailov et al., 2023) trains a policy π on pairs (prompt x, chosen y_c, rejected y_r) against a
frozen reference model (the SFT model it starts from). With the log-probabilities of both answers under
both models, the *implicit rewards* are

    r_c = β·(log π(y_c|x) − log ref(y_c|x)),   r_r = β·(log π(y_r|x) − log ref(y_r|x))

and the loss is  L = −log σ(r_c − r_r) = −log σ(β·h),  h = (log π_c − log ref_c) − (log π_r − log ref_r).

Its gradient with respect to h is −β·σ(−β·h): a pair the policy already ranks right by a wide margin
weighs almost nothing, a pair it ranks wrong weighs up to β. That is the "gradient weight" below.

Numerically: −log σ(z) = softplus(−z) is computed as log1p(exp(−|z|)) + max(−z, 0), so it stays finite
for margins of ±1e4, where log(sigmoid(z)) would give log(0) = −inf. Pure Python floats or torch tensors
(the same formula, through torch.nn.functional.softplus) are accepted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from core import text_input

MAX_BETA = 10.0  # β beyond this makes the loss a step function: nothing to learn from in the lab


@dataclass(frozen=True)
class DPOTerms:
    """Everything the DPO loss is made of, for one pair (floats) or a batch (tensors)."""

    loss: object  # −log σ(β·h)
    chosen_reward: object  # β·(log π_c − log ref_c)
    rejected_reward: object  # β·(log π_r − log ref_r)
    margin: object  # chosen_reward − rejected_reward = β·h (trl logs it as rewards/margins)
    logratio_delta: object  # h, the margin before scaling by β
    grad_weight: object  # β·σ(−β·h) = −dL/dh
    beta: float

    @property
    def prefers_chosen(self):
        return self.margin > 0


def softplus(x: float) -> float:
    """log(1 + e^x) without overflow for large |x|."""
    return math.log1p(math.exp(-abs(x))) + max(x, 0.0)


def sigmoid(x: float) -> float:
    """σ(x) without overflow: e^x / (1 + e^x) written for the sign of x."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def check_beta(beta: float) -> float:
    beta = float(beta)
    if not (math.isfinite(beta) and 0 < beta <= MAX_BETA):
        raise ValueError(f"β must be a number above 0 and at most {MAX_BETA:g}; got {beta:g}.")
    return beta


def _is_tensor(*values) -> bool:
    return any(type(v).__module__.startswith("torch") for v in values)


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta: float) -> DPOTerms:
    """The DPO loss of one pair (floats) or a batch (tensors of equal shape), with its parts.

    The arguments are summed log-probabilities of whole answers (≤ 0), as DPOTrainer computes them.
    """
    beta = check_beta(beta)
    if _is_tensor(policy_chosen, policy_rejected, ref_chosen, ref_rejected):
        return _dpo_loss_tensor(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta)
    values = [float(v) for v in (policy_chosen, policy_rejected, ref_chosen, ref_rejected)]
    if not all(math.isfinite(v) for v in values):
        raise ValueError("Log-probabilities must be finite numbers.")
    pc, pr, rc, rr = values
    chosen, rejected = beta * (pc - rc), beta * (pr - rr)
    margin = chosen - rejected
    return DPOTerms(loss=softplus(-margin), chosen_reward=chosen, rejected_reward=rejected, margin=margin,
                    logratio_delta=(pc - rc) - (pr - rr), grad_weight=beta * sigmoid(-margin), beta=beta)


def _dpo_loss_tensor(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta: float) -> DPOTerms:
    import torch
    import torch.nn.functional as F

    chosen_logratio = policy_chosen - ref_chosen
    rejected_logratio = policy_rejected - ref_rejected
    delta = chosen_logratio - rejected_logratio
    margin = beta * delta
    return DPOTerms(loss=F.softplus(-margin), chosen_reward=beta * chosen_logratio,
                    rejected_reward=beta * rejected_logratio, margin=margin, logratio_delta=delta,
                    grad_weight=beta * torch.sigmoid(-margin), beta=beta)


def loss_curve(beta: float, deltas) -> list[float]:
    """The loss −log σ(β·h) at each log-ratio difference h (for the loss-versus-margin plot)."""
    beta = check_beta(beta)
    return [softplus(-beta * float(h)) for h in deltas]


# ---------- preference data: (prompt, chosen, rejected) ----------

PREFERENCES_PATH = Path(__file__).resolve().parent / "data" / "preferences.jsonl"
MAX_PAIRS = 2000  # far more than a CPU DPO run of a minute can use
MAX_FIELD_CHARS = 2000  # one prompt or answer; the pocket model's context is 256 tokens anyway
FIELDS = ("prompt", "chosen", "rejected")


@dataclass
class PreferenceSet:
    pairs: list[dict]  # {"prompt", "chosen", "rejected"}: strings
    source: str
    problems: list[str] = field(default_factory=list)  # "line 7: ..." for each line skipped

    def problems_text(self, limit: int = 10) -> str:
        return text_input.problems_text(self.problems, limit)

    def messages(self, index: int, which: str) -> list[dict]:
        """One side of a pair as a chat (user prompt, assistant answer), the form the chat template reads."""
        pair = self.pairs[index]
        return [{"role": "user", "content": pair["prompt"]}, {"role": "assistant", "content": pair[which]}]


def check_pair(row: object) -> dict:
    """One JSONL record as a preference pair, or ValueError saying what is wrong with it."""
    if not isinstance(row, dict):
        raise ValueError('expected a JSON object with "prompt", "chosen" and "rejected"')
    missing = [f for f in FIELDS if f not in row]
    if missing:
        raise ValueError(f"missing {', '.join(repr(f) for f in missing)}")
    for name in FIELDS:
        value = row[name]
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f'"{name}" must be a non-empty string')
        if len(value) > MAX_FIELD_CHARS:
            raise ValueError(f'"{name}" has {len(value):,} characters; at most {MAX_FIELD_CHARS:,} are allowed')
    if row["chosen"].strip() == row["rejected"].strip():
        raise ValueError('"chosen" and "rejected" are the same answer: there is nothing to prefer')
    return {name: row[name] for name in FIELDS}


def parse_preferences(text: str, source: str = "upload") -> PreferenceSet:
    """JSON Lines of {"prompt", "chosen", "rejected"}; malformed lines are skipped and listed by number."""
    text_input.check_length(text, f"The preference data ({source})")
    pairs, problems = text_input.jsonl_records(text, check_pair, max_records=MAX_PAIRS, source=source)
    if not pairs:
        detail = f" Problems: {text_input.problems_text(problems)}" if problems else ""
        raise ValueError(f'No usable preference pairs in {source}. Each line must be a JSON object with string fields '
                         f'"prompt", "chosen" and "rejected".{detail}')
    return PreferenceSet(pairs, source, problems)


def read_preferences(path: str | Path) -> PreferenceSet:
    path = Path(path)
    return parse_preferences(text_input.read_file(path), source=path.name)


def builtin_preferences() -> PreferenceSet:
    """The project's own pairs: a correct, concise "Answer: … [done]" versus a wrong or rambling one."""
    return read_preferences(PREFERENCES_PATH)


# ---------- what each phase trains on, token by token ----------

@dataclass(frozen=True)
class NextTokenView:
    """Pre-training: every position's input token and the token it must predict (the next one)."""

    pieces: list[str]
    ids: list[int]
    targets: list[str]  # targets[i] = pieces[i + 1]; the last position has no target inside the text


def next_token_view(tokenizer, text: str, max_tokens: int = 48) -> NextTokenView:
    """The text as pre-training sees it: tokens, each with the next token as its label."""
    text = text_input.check_length(text, "The text", max_chars=MAX_FIELD_CHARS)
    if not text.strip():
        raise ValueError("Type some text to see it as pre-training sees it.")
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])[:max_tokens + 1]
    pieces = [tokenizer.decode([i]) for i in ids]
    return NextTokenView(pieces[:max_tokens], ids[:max_tokens], pieces[1:max_tokens + 1])


def lesson_count(tokenizer, text: str) -> int:
    """How many next-token lessons pre-training gets from a text: every token but the first is a target."""
    text = text_input.check_length(text, "The text", max_chars=MAX_FIELD_CHARS)
    return max(0, len(tokenizer(text, add_special_tokens=False)["input_ids"]) - 1)


def adapter_size(folder) -> int:
    """The numbers a LoRA/DPO adapter folder holds (its trained A and B matrices), read from the shapes in
    adapter_model.safetensors' header: nothing is loaded."""
    from safetensors import safe_open

    path = Path(folder) / "adapter_model.safetensors"
    if not path.is_file():
        raise ValueError(f"{Path(folder).name} holds no adapter_model.safetensors: not a finished LoRA run.")
    total = 0
    with safe_open(str(path), framework="numpy") as f:
        for name in f.keys():
            count = 1
            for size in f.get_slice(name).get_shape():
                count *= size
            total += count
    return total


def pair_views(tokenizer, prompt: str, chosen: str, rejected: str):
    """The chosen and the rejected answer through the chat template, answer tokens marked (core.finetune.data's
    preview: the same tokens DPOTrainer scores, since both share the prompt and differ in the completion)."""
    from core.finetune import data

    pair = check_pair({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    user = [{"role": "user", "content": pair["prompt"]}]
    return (data.preview(tokenizer, user + [{"role": "assistant", "content": pair["chosen"]}]),
            data.preview(tokenizer, user + [{"role": "assistant", "content": pair["rejected"]}]))

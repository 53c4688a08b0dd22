"""Instruction data for fine-tuning: the built-in set, JSONL files, Hub datasets, and the preview.

Every example becomes a chat: a list of {"role", "content"} messages ending with the assistant's
answer. For training it is split into trl's conversational *prompt-completion* form (everything
before the last answer, then the answer), so the loss is computed on the answer tokens only:
the model learns to answer, not to predict the questions. That works with any chat template,
with no special markers in it.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from core import text_input
from core.seeds import check_seed

BUILTIN_PATH = Path(__file__).resolve().parent.parent / "data" / "instructions.jsonl"
ROLES = ("system", "user", "assistant")
MAX_PROBLEMS_LISTED = 10


@dataclass
class Dataset:
    examples: list[list[dict]]
    source: str
    problems: list[str] = field(default_factory=list)  # "line 7: ..." for each malformed line skipped

    def problems_text(self) -> str:
        return text_input.problems_text(self.problems, MAX_PROBLEMS_LISTED)


def row_to_messages(row: object) -> list[dict]:
    """One record as chat messages. Accepts `messages` or `instruction`/`input`/`output` (Alpaca)."""
    if not isinstance(row, dict):
        raise ValueError("expected a JSON object")
    if "messages" in row:
        messages = row["messages"]
        if not isinstance(messages, list) or not messages:
            raise ValueError('"messages" must be a non-empty list')
        out = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise ValueError(f'message {i + 1} needs "role" (system, user or assistant) and a string "content"')
            out.append({"role": m["role"], "content": m["content"]})
        if out[-1]["role"] != "assistant" or len(out) < 2:
            raise ValueError("the last message must be the assistant's answer, after at least one user message")
        return out
    if "instruction" in row and "output" in row:
        parts = [row["instruction"], row.get("input") or ""]
        if not all(isinstance(p, str) for p in parts + [row["output"]]):
            raise ValueError('"instruction", "input" and "output" must be strings')
        question = "\n\n".join(p for p in parts if p.strip())
        if not question.strip() or not row["output"].strip():
            raise ValueError("empty instruction or output")
        return [{"role": "user", "content": question}, {"role": "assistant", "content": row["output"]}]
    raise ValueError('expected "messages", or "instruction" and "output"')


def parse_jsonl(text: str, source: str = "upload") -> Dataset:
    """Parse JSON Lines, skipping (and reporting by line number) every malformed line."""
    text_input.check_length(text, f"The data ({source})")  # a paste is bounded like a file
    examples, problems = text_input.jsonl_records(text, row_to_messages, source=source)
    if not examples:
        detail = f" Problems: {text_input.problems_text(problems, MAX_PROBLEMS_LISTED)}" if problems else ""
        raise ValueError(f"No usable examples in {source}. Each line must be a JSON object with "
                         f'"messages" (a chat ending with the assistant) or "instruction"/"output".{detail}')
    return Dataset(examples, source, problems)


def read_jsonl(path: str | Path) -> Dataset:
    """A JSONL file of examples; malformed lines are skipped and listed in `problems`."""
    path = Path(path)
    # the same UTF-8 check, BOM and CRLF cleanup and size limits as every learner's text
    return parse_jsonl(text_input.read_file(path), source=path.name)


def builtin() -> Dataset:
    """The project's own instruction set: short Q&A about the guide, answers as 'Answer: ... [done]'."""
    return read_jsonl(BUILTIN_PATH)


def from_hub(dataset_id: str, split: str = "train[:200]", online: bool = True) -> Dataset:
    """A Hub dataset with `messages` or instruction/output columns, e.g. split='train[:200]'."""
    if not online:
        raise ValueError("The Hugging Face Hub is not reachable (offline): use the built-in data or upload a JSONL file.")
    from datasets import load_dataset

    try:
        rows = load_dataset(dataset_id, split=split)
    except Exception as err:  # datasets raises many types (network, missing split, bad slice)
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"Could not load the dataset {dataset_id!r} split {split!r}: {first}") from err
    examples, problems = [], []
    for i, row in enumerate(rows):
        try:
            examples.append(row_to_messages(dict(row)))
        except ValueError as err:
            problems.append(f"row {i}: {err}")
    if not examples:
        raise ValueError(f"{dataset_id} has no rows with \"messages\" or \"instruction\"/\"output\" columns.")
    return Dataset(examples, f"{dataset_id} [{split}]", problems)


def split_holdout(examples: list, eval_fraction: float, seed: int = 0) -> tuple[list, list]:
    """Shuffle with `seed` and hold out a fraction for evaluation (none when the fraction is 0)."""
    order = list(range(len(examples)))
    random.Random(check_seed(seed)).shuffle(order)
    n_eval = int(round(len(examples) * eval_fraction))
    if eval_fraction > 0 and len(examples) >= 4:
        n_eval = max(1, n_eval)
    else:
        n_eval = 0
    held = [examples[i] for i in order[:n_eval]]
    train = [examples[i] for i in order[n_eval:]]
    return train, held


def to_prompt_completion(messages: list[dict]) -> dict:
    """trl's conversational prompt-completion record: the loss falls on `completion` only."""
    return {"prompt": messages[:-1], "completion": messages[-1:]}


@dataclass
class Preview:
    ids: list[int]
    pieces: list[str]  # readable text of each token
    trained: list[bool]  # True where the token is part of the answer the loss is computed on
    text: str

    @property
    def n_trained(self) -> int:
        return sum(self.trained)


def _ids(tokenizer, messages, add_generation_prompt: bool) -> list[int]:
    out = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=add_generation_prompt)
    return list(out["input_ids"] if hasattr(out, "keys") else out)


def preview(tokenizer, messages: list[dict], max_length: int | None = None) -> Preview:
    """The example exactly as the model sees it, with the answer tokens (the trained ones) marked.

    Same rule as trl's SFTTrainer: the answer starts where the tokenized prompt (with the
    generation prompt) and the tokenized prompt + answer stop agreeing.
    """
    record = to_prompt_completion(messages)
    prompt_ids = _ids(tokenizer, record["prompt"], add_generation_prompt=True)
    full_ids = _ids(tokenizer, record["prompt"] + record["completion"], add_generation_prompt=False)
    common = 0
    while common < min(len(prompt_ids), len(full_ids)) and prompt_ids[common] == full_ids[common]:
        common += 1
    if max_length:
        full_ids = full_ids[:max_length]
    pieces = [tokenizer.decode([i]) for i in full_ids]
    trained = [i >= common for i in range(len(full_ids))]
    return Preview(full_ids, pieces, trained, tokenizer.decode(full_ids))


# The built-in answers' taught form: "Answer: … [done]" (tab 7's chat shows whether a model learned it)
TAUGHT_START, TAUGHT_END = "Answer:", "[done]"


def follows_taught_form(text: str) -> bool:
    """An answer in the built-in data's form: it starts with "Answer:" and ends its sentence with "[done]"."""
    text = (text or "").strip()
    return text.startswith(TAUGHT_START) and TAUGHT_END in text


def answer_share(tokenizer, examples: list[list[dict]], max_length: int | None = None) -> tuple[int, int]:
    """(answer tokens, all tokens) over the examples after the chat template and the cut at max_length:
    how much of what the model reads the loss is computed on (the rest is context only)."""
    views = [preview(tokenizer, messages, max_length) for messages in examples]
    return sum(v.n_trained for v in views), sum(len(v.ids) for v in views)

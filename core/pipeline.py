"""The whole workflow on a learner's own text (Part 11): data -> tokenizer -> pre-train -> evaluate -> export.

Pure functions, usable from a notebook or the terminal (`python -m core pipeline FILE --out DIR`):

    data = pipeline.prepare_data(text_input.builtin_corpus())      # clean, split, statistics
    settings = pipeline.Settings(tokenizer="bpe", vocab_size=512)
    for report in pipeline.run(data, settings, out_dir="runs/bpe"):  # tokenizer, training, evaluation, zip
        print(report.stage, report.progress.status_line() if report.progress else "")
    report.evaluation.bits_per_character

Why bits per character: a character model's loss is nats per *character*, a BPE model's is nats per
*token* (a token covers ~2-4 characters), so their losses cannot be compared directly. Both models give
the validation text a probability; -log2 of it, divided by the number of characters, is the same unit for
both: loss per token x tokens per character / ln 2.
"""
from __future__ import annotations

import json
import math
import re
import zipfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

from core import files, text_input

TOKENIZERS = ("char", "bpe")
VOCAB_LIMITS = (260, 4096)  # BPE: at least a few merges beyond the 256 bytes; at most what a small model can use
VAL_FRACTION = 0.1
SAMPLE_PROMPT_CHARS = 24  # the samples continue the first words of the validation text
SAMPLE_TOKENS = 200
N_SAMPLES = 2
EVALUATION_JSON = "evaluation.json"
SETTINGS_JSON = "pipeline.json"
TOKENIZER_JSON = "tokenizer.json"
DATA_JSON = "data.json"
CORPUS_TXT = "corpus.txt"
README = "README.md"


# ---- 1. data ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Data:
    """A cleaned corpus split into a training text and a held-out validation text (its end)."""

    train_text: str
    val_text: str
    stats: dict  # characters, distinct characters, lines, train/validation characters, what cleaning removed

    @property
    def text(self) -> str:
        return self.train_text + self.val_text


def clean_text(text: str) -> str:
    """The shared reader's cleaning (BOM, Windows line ends), then spaces at line ends removed and runs
    of blank lines shortened to one: neither carries content a small model should spend capacity on."""
    text = text_input.clean(text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def statistics(text: str) -> dict:
    return {"characters": len(text), "distinct_characters": len(set(text)), "lines": text.count("\n") + (not text.endswith("\n"))}


def split_point(text: str, val_fraction: float = VAL_FRACTION) -> int:
    """Where the validation text starts: the last `val_fraction` of the characters, moved to the next line
    start when one is near, so the model is judged on whole lines it never saw."""
    cut = len(text) - max(1, int(len(text) * val_fraction))
    newline = text.find("\n", cut, cut + 200)
    return newline + 1 if 0 <= newline < len(text) - 1 else cut


def prepare_data(raw: str, val_fraction: float = VAL_FRACTION) -> Data:
    """Step 1. ValueError, worded for the learner, for an empty text or one with a single distinct character."""
    if not raw or not raw.strip():
        raise ValueError("The text is empty: paste or upload some text, or use the built-in corpus.")
    text_input.check_length(raw, "The text")
    text = clean_text(raw)
    if len(set(text) - set(" \t\n")) < 2:  # "aaaa aaaa": only where the spaces go would be left to learn
        raise ValueError("The text uses only one distinct character (besides spaces and line breaks), so there is "
                         "nothing to predict. Use a more varied text.")
    if not 0.01 <= val_fraction <= 0.5:
        raise ValueError(f"The validation share must be between 1% and 50%; got {val_fraction:.0%}.")
    cut = split_point(text, val_fraction)
    stats = statistics(text) | {"train_characters": cut, "validation_characters": len(text) - cut,
                                "removed_by_cleaning": len(raw) - len(text)}
    return Data(text[:cut], text[cut:], stats)


def data_from_source(source: str, pasted: str | None = None, upload=None) -> Data:
    """Step 1 from a tab's choice (built-in corpus, paste, upload), through the one reader core.text_input."""
    return prepare_data(text_input.learner_text(source, pasted=pasted, upload=upload))


# ---- settings ------------------------------------------------------------------------------------------
# "small" is the default (bench/pipeline.py times it); "tiny" trains in seconds, for a first look and the tests.
MODEL_SIZES = {"small": dict(block_size=64, n_layer=2, n_head=4, n_embd=64),
               "tiny": dict(block_size=32, n_layer=1, n_head=2, n_embd=32)}

@dataclass(frozen=True)
class Settings:
    """Everything that defines a run. The model and recipe: see bench/pipeline.py for the timing."""

    tokenizer: str = "char"
    vocab_size: int = 512  # BPE only: 256 bytes + (vocab_size - 256) merges
    steps: int = 300
    block_size: int = 64  # tokens of context
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    batch_size: int = 16
    seed: int = 1337

    @classmethod
    def of_size(cls, model: str, **settings) -> "Settings":
        """Settings with one of MODEL_SIZES' shapes."""
        if model not in MODEL_SIZES:
            raise ValueError(f"Unknown model size {model!r}; choose one of {', '.join(MODEL_SIZES)}.")
        return cls(**MODEL_SIZES[model], **settings)

    @property
    def model_size(self) -> str | None:
        """The MODEL_SIZES name of this shape, None for a shape of one's own."""
        shape = {k: getattr(self, k) for k in ("block_size", "n_layer", "n_head", "n_embd")}
        return next((name for name, s in MODEL_SIZES.items() if s == shape), None)

    def check(self) -> None:
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"Unknown tokenizer {self.tokenizer!r}; choose 'char' or 'bpe'.")
        low, high = VOCAB_LIMITS
        if self.tokenizer == "bpe" and not low <= self.vocab_size <= high:
            raise ValueError(f"The BPE vocabulary size must be between {low} and {high}; got {self.vocab_size}.")

    def model_config(self):
        from core.minigpt.config import GPTConfig

        return GPTConfig(block_size=self.block_size, n_layer=self.n_layer, n_head=self.n_head, n_embd=self.n_embd, dropout=0.0)

    def train_config(self):
        """The default preset's recipe (Muon for the blocks' matrices), sized to the run, with weight decay:
        here the model is judged on text it never saw, so memorising the training text is not the goal."""
        from core.minigpt import train

        _, cfg = train.preset("default")
        cfg = replace(cfg, short_window=0, weight_decay=0.1, batch_size=self.batch_size, seed=self.seed,
                      sample_prompt="", sample_tokens=100, threads=None).with_steps(self.steps)
        return cfg


# ---- 2. tokenizer --------------------------------------------------------------------------------------
def make_tokenizer(data: Data, settings: Settings):
    """Step 2: the characters of the whole text, or BPE trained on the training text only (so the
    validation text stays unseen). ValueError when the text cannot give the BPE vocabulary asked for."""
    from core.minigpt.tokenizer import BPETokenizer, CharTokenizer

    settings.check()
    if settings.tokenizer == "char":
        return CharTokenizer.from_text(data.text)
    tokenizer = BPETokenizer.train(data.train_text, settings.vocab_size)
    if tokenizer.vocab_size < settings.vocab_size:
        raise ValueError(f"This text supports a BPE vocabulary of at most {tokenizer.vocab_size} (after "
                         f"{tokenizer.vocab_size - 256} merges every word is a single token); you asked for "
                         f"{settings.vocab_size}. Choose {tokenizer.vocab_size} or less, or use a longer text.")
    return tokenizer


def tokenizer_summary(tokenizer, data: Data) -> dict:
    """How many tokens each split becomes, and the compression: characters per token."""
    train_tokens, val_tokens = len(tokenizer.encode(data.train_text)), len(tokenizer.encode(data.val_text))
    return {"kind": tokenizer.kind, "vocab_size": tokenizer.vocab_size, "train_tokens": train_tokens,
            "validation_tokens": val_tokens, "characters_per_token": len(data.train_text) / train_tokens}


def check_length_for_context(summary: dict, block_size: int) -> None:
    """Step 3's check: each split must hold one window of block_size + 1 tokens."""
    for name, key in (("training", "train_tokens"), ("validation", "validation_tokens")):
        if summary[key] < block_size + 1:
            raise ValueError(f"The {name} text is {summary[key]:,} tokens long; a context of {block_size} tokens needs "
                             f"at least {block_size + 1}. Use a longer text or a smaller context.")


# ---- 4. evaluation ----------------------------------------------------------------------------------------
@dataclass
class Evaluation:
    loss_per_token: float  # mean cross-entropy over the validation tokens, in nats
    tokens_per_character: float
    bits_per_character: float  # loss_per_token x tokens_per_character / ln 2
    validation_tokens: int
    validation_characters: int
    samples: list = field(default_factory=list)  # generated texts

    def to_dict(self) -> dict:
        return asdict(self)


def context_ids(tokenizer, train_text: str, block_size: int) -> list[int]:
    """The end of the training text as tokens: what the first validation tokens are predicted from."""
    return tokenizer.encode(train_text[-16 * block_size:])[-block_size:]


def validation_nats(model, context: list[int], val_ids: list[int], batch: int = 32) -> float:
    """Sum of -ln p(token) over every validation token, in float64. The text (context + validation) is cut
    into back-to-back windows of block_size; each token is predicted from the tokens before it in its window."""
    import torch

    block = model.config.block_size
    ids = torch.tensor(context + val_ids, dtype=torch.long)
    first, n_targets = len(context), len(ids) - 1  # targets at positions >= first are validation tokens
    starts = torch.arange(0, n_targets, block)
    total = 0.0
    model.eval()
    with torch.inference_mode():
        full = starts[starts + block <= n_targets]
        for i in range(0, len(full), batch):
            total += _window_nats(model, ids, full[i:i + batch], block, first)
        if len(full) < len(starts):  # the shorter last window
            total += _window_nats(model, ids, starts[-1:], n_targets - int(starts[-1]), first)
    return total


def _window_nats(model, ids, starts, length: int, first: int) -> float:
    import torch
    import torch.nn.functional as F

    positions = starts[:, None] + torch.arange(length)  # (B, T) input positions
    logits, _ = model(ids[positions])
    nats = F.cross_entropy(logits.double().flatten(0, 1), ids[positions + 1].flatten(), reduction="none")
    return float(nats[(positions + 1).flatten() >= first].sum())


def evaluate(model, tokenizer, data: Data, seed: int = 0) -> Evaluation:
    """Step 4: bits per character on the validation text, and a few samples continuing its first words."""
    from core.minigpt import sample

    val_ids = tokenizer.encode(data.val_text)
    nats = validation_nats(model, context_ids(tokenizer, data.train_text, model.config.block_size), val_ids)
    loss, per_char = nats / len(val_ids), len(val_ids) / len(data.val_text)
    prompt = tokenizer.encode(data.val_text[:SAMPLE_PROMPT_CHARS])
    samples = [tokenizer.decode(prompt + list(sample.generate_ids(model, prompt, SAMPLE_TOKENS, temperature=0.8, seed=seed + k)))
               for k in range(N_SAMPLES)]
    return Evaluation(loss_per_token=loss, tokens_per_character=per_char, bits_per_character=loss * per_char / math.log(2),
                      validation_tokens=len(val_ids), validation_characters=len(data.val_text), samples=samples)


# ---- 3. the run: tokenizer, pre-training, evaluation, export (a job's generator) ------------------------
@dataclass
class Report:
    """What the run says as it goes. stage: "tokenizer", "pretrain", "evaluate" or "done"."""

    stage: str
    tokenizer: dict | None = None
    progress: object | None = None  # core.minigpt.train.Progress
    evaluation: Evaluation | None = None
    zip_path: Path | None = None
    run_dir: Path | None = None


def _write_inputs(out_dir: Path, data: Data, settings: Settings, tokenizer, summary: dict) -> None:
    files.atomic_write_text(out_dir / CORPUS_TXT, data.text)
    files.atomic_write_json(out_dir / DATA_JSON, data.stats)
    files.atomic_write_json(out_dir / SETTINGS_JSON, asdict(settings))
    files.atomic_write_json(out_dir / TOKENIZER_JSON, tokenizer.to_dict() | {"summary": summary})


def run(data: Data, settings: Settings, out_dir, should_stop: Callable[[], bool] | None = None) -> Iterator[Report]:
    """Steps 2-4 and the export for one tokenizer, writing everything into `out_dir` (then a zip beside it).
    A stopped training is still evaluated and exported: the model as of its last save."""
    from core.minigpt import checkpoint, train

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    yield Report("tokenizer", run_dir=out_dir)
    tokenizer = make_tokenizer(data, settings)
    summary = tokenizer_summary(tokenizer, data)
    check_length_for_context(summary, settings.block_size)
    _write_inputs(out_dir, data, settings, tokenizer, summary)
    yield Report("pretrain", summary, run_dir=out_dir)
    progress = None
    for progress in train.train(data.train_text, settings.model_config(), settings.train_config(), out_dir=out_dir,
                                should_stop=should_stop, run_info={"pipeline": settings.tokenizer},
                                tokenizer=tokenizer, val_text=data.val_text):
        yield Report("pretrain", summary, progress, run_dir=out_dir)
    yield Report("evaluate", summary, progress, run_dir=out_dir)
    evaluation = evaluate(checkpoint.load(out_dir).model, tokenizer, data, seed=settings.seed)
    files.atomic_write_json(out_dir / EVALUATION_JSON, evaluation.to_dict())
    zip_path = export(out_dir)
    yield Report("done", summary, progress, evaluation, zip_path, out_dir)


# ---- 6. export --------------------------------------------------------------------------------------------
def reproduce_commands(settings: Settings, prompt: str = "The") -> list[str]:
    """The terminal commands that redo this run from the zip's own folder."""
    flags = f"--tokenizer {settings.tokenizer}" + (f" --vocab-size {settings.vocab_size}" if settings.tokenizer == "bpe" else "")
    flags += f" --model {settings.model_size}" if settings.model_size else (
        f" --block-size {settings.block_size} --n-layer {settings.n_layer} --n-head {settings.n_head} --n-embd {settings.n_embd}")
    flags += f" --batch-size {settings.batch_size} --seed {settings.seed}"
    return [f"python -m core pipeline {CORPUS_TXT} --out rerun {flags} --steps {settings.steps}",
            f"python -m core generate {json.dumps(prompt)} 200 --checkpoint .",
            "python -m core train --corpus corpus.txt   # tab 4's character model on the same text, for comparison"]


def readme_text(folder: Path) -> str:
    settings = Settings(**json.loads((folder / SETTINGS_JSON).read_text(encoding="utf-8")))
    result = json.loads((folder / EVALUATION_JSON).read_text(encoding="utf-8"))
    lines = ["# MiniGPT pipeline run (LLM Training Playground, tab 11)", "",
             f"Tokenizer: {settings.tokenizer}" + (f" (BPE, vocabulary {settings.vocab_size})" if settings.tokenizer == "bpe" else ""),
             f"Validation: {result['bits_per_character']:.4f} bits per character "
             f"({result['loss_per_token']:.4f} nats per token x {result['tokens_per_character']:.4f} tokens per character / ln 2)",
             "", "## Files", "",
             f"- `{SETTINGS_JSON}`: the run's settings; `{DATA_JSON}`: the text's statistics; `{CORPUS_TXT}`: the cleaned text",
             f"- `{TOKENIZER_JSON}`: the tokenizer (BPE merges in order, or the characters)",
             "- `config.json` + `model.safetensors`: the MiniGPT checkpoint (no pickle)",
             "- `loss_history.csv`: training and validation loss per step; `samples.txt`: samples during training",
             f"- `{EVALUATION_JSON}`: bits per character and the samples of the evaluation step",
             "", "## Reproduce from a terminal (in the playground's folder, with this folder's files)", "", "```"]
    return "\n".join(lines + reproduce_commands(settings) + ["```", ""])


ZIPPED = (SETTINGS_JSON, DATA_JSON, CORPUS_TXT, TOKENIZER_JSON, "config.json", "model.safetensors",
          "loss_history.csv", "samples.txt", EVALUATION_JSON)


def export(folder) -> Path:
    """Step 6: the run as one zip beside its folder, written atomically (a half-written zip is never offered)."""
    folder = Path(folder)
    files.atomic_write_text(folder / README, readme_text(folder))
    missing = [name for name in ZIPPED if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"This run is incomplete ({', '.join(missing)} missing): run the pipeline again.")

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in (README, *ZIPPED):
                zf.write(folder / name, f"{folder.name}/{name}")

    return files.atomic_write(folder.with_name(folder.name + ".zip"), write)


# ---- reading a finished run back (a reloaded page, the comparison table) ---------------------------------
def read_run(folder) -> dict | None:
    """A finished run's settings, tokenizer summary, evaluation and loss curves; None if it never finished."""
    from core.minigpt import train

    folder = Path(folder)
    if not (folder / EVALUATION_JSON).is_file():
        return None
    load = lambda name: json.loads((folder / name).read_text(encoding="utf-8"))  # noqa: E731
    progress = train.read_run(folder)
    zip_path = folder.with_name(folder.name + ".zip")
    return {"settings": load(SETTINGS_JSON), "tokenizer": load(TOKENIZER_JSON)["summary"], "data": load(DATA_JSON),
            "evaluation": load(EVALUATION_JSON), "progress": progress, "folder": folder,
            "zip": zip_path if zip_path.is_file() else None}


COMPARISON_HEADERS = ["tokenizer", "vocabulary", "characters per token", "steps", "val loss per token (nats)",
                      "tokens per character", "bits per character"]


def comparison_row(run_info: dict) -> list:
    s, t, e = run_info["settings"], run_info["tokenizer"], run_info["evaluation"]
    return [s["tokenizer"], t["vocab_size"], round(t["characters_per_token"], 3), run_info["progress"].step,
            round(e["loss_per_token"], 4), round(e["tokens_per_character"], 4), round(e["bits_per_character"], 4)]


# ---- a learner's pipeline folder (tab 11): the data, then one run per tokenizer ---------------------------
def learner_folder(user_id: str) -> Path:
    from core import sessions

    return sessions.user_dir(user_id) / "pipeline"


def save_data(folder, data: Data) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files.atomic_write_text(folder / CORPUS_TXT, data.text)
    files.atomic_write_json(folder / DATA_JSON, data.stats)  # last: the marker that step 1 is done


def load_data(folder) -> Data | None:
    """Step 1's output as saved by save_data; None when step 1 was never done here."""
    folder = Path(folder)
    if not (folder / DATA_JSON).is_file() or not (folder / CORPUS_TXT).is_file():
        return None
    stats = json.loads((folder / DATA_JSON).read_text(encoding="utf-8"))
    text = (folder / CORPUS_TXT).read_text(encoding="utf-8")
    cut = stats["train_characters"]
    return Data(text[:cut], text[cut:], stats)


def step_status(run_dir) -> dict:
    """Which of steps 2-6 a run folder has finished, from the files each step leaves: {step: True/False}."""
    run_dir = Path(run_dir) if run_dir else None
    done = lambda name: bool(run_dir) and (run_dir / name).is_file()  # noqa: E731
    finished = done(EVALUATION_JSON)
    return {"tokenizer": done(TOKENIZER_JSON), "pretrain": done("config.json") and done("loss_history.csv"),
            "evaluate": finished,
            "export": bool(run_dir) and run_dir.with_name(run_dir.name + ".zip").is_file()}

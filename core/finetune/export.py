"""Export a run as a standalone script, so a learner can leave the playground for real hardware.

The script holds the training data (inline, as JSON lines) and every setting, and depends only on
transformers, peft, trl, datasets and accelerate. Where the base model comes from decides what a
learner downloads (`export_run`):

- a Hub model: the script alone; it names the Hub id and downloads the model on its first run;
- the pocket model or another local model: a zip with the script and the base model's files in
  `base-model/` next to it (the script finds them relative to itself, so the zip runs anywhere);
  a local model too big to bundle gets the script alone, whose header says what to copy where.

No path of the machine that exported the script appears in it, except through `write_script`
(the command line's `--export`), which writes for the machine it runs on.

A DPO adapter (tab 2, `python -m core dpo`) is trained on preference pairs, not chat examples: its
export is `dpo-<run>.zip` with its `preferences.jsonl`, its SFT adapter when it was a learner's own, and
`reproduce.sh`, the `python -m core dpo ...` command line with the run's settings (`export_dpo_run`).

    accelerate launch finetune_lora.py            # one or many GPUs (after `accelerate config`)
    python finetune_lora.py --max-steps 1         # a quick check on any machine
"""
from __future__ import annotations

import json
import pprint
import textwrap
import zipfile
from pathlib import Path

from core.files import atomic_write, atomic_write_text
from core.finetune.models import POCKET, ModelSource, resolve
from core.finetune.train import TrainSettings

SCRIPT_NAME = "finetune_lora.py"
BASE_FOLDER = "base-model"  # in a bundle: the base model's files, next to the script
MAX_BUNDLE_BYTES = 200 * 2**20  # the pocket model is ~4 MB; a 135M model in float32 is ~540 MB

TEMPLATE = '''\
"""LoRA fine-tuning exported from the LLM Training Playground.

    accelerate launch {filename}          # one or many GPUs (run `accelerate config` once first)
    python {filename} --max-steps 1       # a quick check that everything loads

Needs: pip install torch transformers peft trl datasets accelerate (and bitsandbytes for 4-bit).
The same model, data and settings as the run in the playground; change them below or by flag.

Base model: {base_note}
"""
import argparse
import json
import os

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
from trl import SFTConfig, SFTTrainer

MODEL = {model!r}  # {model_comment}
NEXT_TO_SCRIPT = {next_to_script!r}  # True: MODEL is a folder beside this file (see the header)
GGUF_FILE = {gguf_file!r}  # a .gguf file inside MODEL's folder, or None
SETTINGS = {settings}
# {n_examples} chat examples from {source}: one JSON object per line
DATA = r"""
{data}
"""


def examples():
    rows = [json.loads(line) for line in DATA.strip().splitlines()]
    # prompt-completion form: the loss is computed on the assistant's answer only
    return [{{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]}} for r in rows]


def default_model():
    if NEXT_TO_SCRIPT:  # found beside the script, wherever it was unpacked and run from
        return os.path.join(os.path.dirname(os.path.abspath(__file__)), MODEL)
    return MODEL


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=default_model(), help="a Hub id or a model folder")
    parser.add_argument("--max-steps", type=int, default=None, help="override the number of steps (e.g. 1 to check)")
    parser.add_argument("--output-dir", default="lora-adapter")
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    load = dict(gguf_file=GGUF_FILE) if GGUF_FILE else {{}}
    tokenizer = AutoTokenizer.from_pretrained(args.model, **load)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model_kwargs = dict(load, dtype=torch.bfloat16 if bf16 else (torch.float16 if cuda else torch.float32))
    if SETTINGS["four_bit"] and cuda:
        from accelerate import PartialState

        model_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16)
        model_kwargs["device_map"] = {{"": PartialState().process_index}}  # one copy per GPU
    model = AutoModelForCausalLM.from_pretrained(args.model, **model_kwargs)

    steps = args.max_steps or (-1 if SETTINGS["epochs"] > 0 else SETTINGS["max_steps"])
    lora = SETTINGS["lora"]
    peft_config = LoraConfig(r=lora["rank"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                             target_modules=lora["target_modules"], bias="none", task_type="CAUSAL_LM")
    config = SFTConfig(
        output_dir=args.output_dir,
        max_steps=steps,  # -1: train for num_train_epochs instead
        num_train_epochs=SETTINGS["epochs"] if SETTINGS["epochs"] > 0 else 1,
        per_device_train_batch_size=SETTINGS["batch_size"],
        gradient_accumulation_steps=SETTINGS["grad_accum"],
        learning_rate=SETTINGS["learning_rate"],
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=min(5, max(0, steps // 10)),
        max_length=SETTINGS["max_length"],
        completion_only_loss=True,
        activation_checkpointing=SETTINGS["gradient_checkpointing"],
        activation_checkpointing_kwargs={{"use_reentrant": False}},
        bf16=bf16,
        fp16=cuda and not bf16,
        use_cpu=not cuda,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=SETTINGS["seed"],
    )
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(examples()),
                         processing_class=tokenizer, peft_config=peft_config)
    trainer.train()
    trainer.save_model(args.output_dir)  # the adapter: adapter_config.json + adapter_model.safetensors
    print(f"adapter saved to {{args.output_dir}}")


if __name__ == "__main__":
    main()
'''


def _base_note(model: ModelSource, bundled: bool) -> str:
    """The header's sentence on where the base model is: never a path of the exporting machine."""
    what = "the playground's pocket model (pocket-llama, ~1M parameters)" if model.kind == POCKET else \
        f"the local model {Path(model.gguf_file or model.path).name!r}"
    if model.kind == "hub":
        return f"{model.path} from the Hugging Face Hub (downloaded on the first run)."
    if bundled:
        return (f"{what}, bundled in the folder {BASE_FOLDER}/ beside this script. "
                f"Keep them together (unzip the bundle as it is), or pass --model PATH to another copy.")
    return (f"{what}, too big to bundle: copy its files into a folder {BASE_FOLDER}/ beside this script, "
            "or pass --model PATH (a folder or a Hub id such as HuggingFaceTB/SmolLM2-135M-Instruct).")


def script_text(model_name: str, examples: list[list[dict]], settings: TrainSettings, source: str = "the playground",
                filename: str = SCRIPT_NAME, portable: bool = True, bundled: bool = True) -> str:
    """The script's source. portable: a local base model is looked for in base-model/ beside the
    script (bundled says whether the files travel with it); not portable: this machine's path."""
    model = resolve(model_name)
    if model.kind == "hub":
        path, comment, next_to_script = model.path, "a Hub id", False
        note = _base_note(model, bundled)
    elif portable:
        path, comment, next_to_script = BASE_FOLDER, "a folder beside this script", True
        note = _base_note(model, bundled)
    else:
        path, comment, next_to_script = model.path, "a folder on the machine that wrote this script", False
        note = "a local folder on the machine that wrote this script; elsewhere pass --model PATH or a Hub id."
    data = "\n".join(json.dumps({"messages": m}, ensure_ascii=False) for m in examples)
    settings_text = pprint.pformat(settings.to_dict(), sort_dicts=False)
    note = textwrap.fill(note, width=100, subsequent_indent="    ")
    return TEMPLATE.format(filename=filename, base_note=note, model=path, model_comment=comment,
                           next_to_script=next_to_script, gguf_file=model.gguf_file, settings=settings_text,
                           n_examples=len(examples), source=source, data=data)


def write_script(path: str | Path, model_name: str, examples: list[list[dict]], settings: TrainSettings,
                 source: str = "the playground") -> Path:
    """The script for this machine (the command line's --export): a local base keeps its path here."""
    path = Path(path)
    text = script_text(model_name, examples, settings, source, filename=path.name, portable=False)
    return atomic_write_text(path, text)


def _run_record(run_dir: Path):
    from core.finetune import data
    from core.finetune.chat import base_model_of, run_info

    info = run_info(run_dir)
    if not info.get("settings") or not (run_dir / "data.jsonl").is_file():
        raise ValueError(f"{run_dir.name} has no record of its data and settings, so it cannot be exported.")
    dataset = data.read_jsonl(run_dir / "data.jsonl")
    return base_model_of(run_dir), dataset.examples, TrainSettings.from_dict(info["settings"]), info.get("data", run_dir.name)


def write_from_run(run_dir: str | Path, path: str | Path) -> Path:
    """The script for a finished run (its base model, data.jsonl and settings), for this machine."""
    model_name, examples, settings, source = _run_record(Path(run_dir))
    return write_script(path, model_name, examples, settings, source)


def base_files(model: ModelSource) -> list[Path]:
    """The files that make up a local base model: a transformers folder's files, or one .gguf file."""
    folder = Path(model.path)
    if model.gguf_file:
        return [folder / model.gguf_file]
    return sorted(p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in
                                                                             p.relative_to(folder).parts))


def export_run(run_dir: str | Path, out_dir: str | Path) -> Path:
    """What a learner downloads to train this run elsewhere (see the module's docstring):
    `finetune_lora-<run>.py` for a Hub base, else `finetune_lora-<run>.zip` with the base bundled,
    or the .py alone when the local base is over MAX_BUNDLE_BYTES; a DPO run: `export_dpo_run`."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if is_dpo_run(run_dir):
        return export_dpo_run(run_dir, out_dir)
    model_name, examples, settings, source = _run_record(run_dir)
    model = resolve(model_name)
    files = [] if model.kind == "hub" else base_files(model)
    bundled = bool(files) and sum(p.stat().st_size for p in files) <= MAX_BUNDLE_BYTES
    text = script_text(model_name, examples, settings, source, portable=True, bundled=bundled)
    stem = f"finetune_lora-{run_dir.name}"
    if not bundled:
        return atomic_write_text(out_dir / f"{stem}.py", text)
    root = Path(model.path)

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"{stem}/{SCRIPT_NAME}", text)
            for p in files:
                zf.write(p, arcname=f"{stem}/{BASE_FOLDER}/{p.relative_to(root).as_posix()}")

    return atomic_write(out_dir / f"{stem}.zip", write)


# ---------- a DPO run: its preference pairs and the command line that trained it ----------

DPO_SCRIPT = "reproduce.sh"
DPO_DATA = "preferences.jsonl"
SFT_FOLDER = "sft-adapter"  # a learner's own SFT adapter, bundled beside the script
SHIPPED_SFT = "pocket-answer-format"  # `python -m core dpo`'s default --adapter for --base pocket

DPO_TEMPLATE = """\
#!/bin/sh
# DPO run {name} exported from the LLM Training Playground: the same preference pairs and settings.
# {n_pairs} preference pairs from {source}, in {data} beside this script; SFT adapter: {sft_note}.
# Run it from the playground's folder (where `python -m core` works), e.g.  sh {folder}/{script}
# Flags given to this script override the run's (sh reproduce.sh --steps 1: a quick check).
# The new adapter lands in {folder}/{name}/.
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
{command}
"""


def is_dpo_run(run_dir: str | Path) -> bool:
    from core.finetune.chat import run_info

    return run_info(run_dir).get("method") == "dpo"


def _sft_of(run_dir: Path, name: str | None) -> Path | None:
    """The SFT adapter a DPO run started from: None for the shipped one (the command's default), else the
    learner's tab-7 run of that name (a learner's runs live in <learner>/<kind>/<run>)."""
    if name in (None, SHIPPED_SFT):
        return None
    folder = run_dir.parent.parent / "lora" / name
    if not (folder / "adapter_config.json").is_file():
        raise ValueError(f"{run_dir.name} started from the SFT adapter {name}, which is no longer here, "
                         "so its command line cannot be reproduced.")
    return folder


def dpo_command(run_dir: str | Path, sft_bundled: bool) -> list[str]:
    """`python -m core dpo ...` with the run's settings, paths relative to $HERE (the script's folder)."""
    from core.finetune.chat import run_info

    run_dir = Path(run_dir)
    info = run_info(run_dir)
    s = info["settings"]
    command = ["python", "-m", "core", "dpo", "--base", info.get("base_model", POCKET)]
    if sft_bundled:
        command += ["--adapter", f"$HERE/{SFT_FOLDER}"]
    return command + ["--data", f"$HERE/{DPO_DATA}", "--steps", str(s["max_steps"]), "--beta", repr(s["beta"]),
                      "--lr", repr(s["learning_rate"]), "--batch-size", str(s["batch_size"]), "--seed", str(s["seed"]),
                      "--out", f"$HERE/{run_dir.name}"]


def export_dpo_run(run_dir: str | Path, out_dir: str | Path) -> Path:
    """`dpo-<run>.zip`: reproduce.sh, the run's preferences.jsonl and (a learner's own) SFT adapter."""
    from core.finetune.chat import run_info

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    info = run_info(run_dir)
    if not info.get("settings") or not (run_dir / DPO_DATA).is_file():
        raise ValueError(f"{run_dir.name} has no record of its preference pairs and settings, so it cannot be exported.")
    if info.get("base_model", POCKET) != POCKET:
        raise ValueError(f"{run_dir.name} is a DPO run of {info['base_model']}: only DPO runs of the pocket model "
                         "can be exported (the command line's default model).")
    sft = _sft_of(run_dir, info.get("sft_adapter"))
    folder = f"dpo-{run_dir.name}"
    command = " ".join(f'"{a}"' if "$" in a else a for a in dpo_command(run_dir, sft is not None)) + ' "$@"'
    text = DPO_TEMPLATE.format(name=run_dir.name, n_pairs=info.get("examples", "?"), source=info.get("data", "?"),
                               data=DPO_DATA, folder=folder, script=DPO_SCRIPT, command=command,
                               sft_note=f"your run {sft.name}, in {SFT_FOLDER}/" if sft else f"the shipped {SHIPPED_SFT}")

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"{folder}/{DPO_SCRIPT}", text)
            zf.write(run_dir / DPO_DATA, arcname=f"{folder}/{DPO_DATA}")
            for p in sorted(sft.iterdir()) if sft else []:
                if p.is_file() and p.suffix in (".json", ".safetensors"):
                    zf.write(p, arcname=f"{folder}/{SFT_FOLDER}/{p.name}")

    return atomic_write(out_dir / f"{folder}.zip", write)

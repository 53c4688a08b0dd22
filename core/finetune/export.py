"""Export a run as a standalone script, so a learner can leave the playground for real hardware.

The script holds the model name, the training data (inline, as JSON lines) and every setting, and
depends only on transformers, peft, trl, datasets and accelerate. Run it with

    accelerate launch finetune_lora.py            # one or many GPUs (after `accelerate config`)
    python finetune_lora.py --max-steps 1         # a quick check on any machine
"""
from __future__ import annotations

import json
import pprint
from pathlib import Path

from core.files import atomic_write_text
from core.finetune.models import POCKET, resolve
from core.finetune.train import TrainSettings

TEMPLATE = '''\
"""LoRA fine-tuning exported from the LLM Training Playground.

    accelerate launch {filename}          # one or many GPUs (run `accelerate config` once first)
    python {filename} --max-steps 1       # a quick check that everything loads

Needs: pip install torch transformers peft trl datasets accelerate (and bitsandbytes for 4-bit).
The same model, data and settings as the run in the playground; change them below or by flag.
"""
import argparse
import json

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
from trl import SFTConfig, SFTTrainer

MODEL = {model!r}{model_note}
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=MODEL)
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


def script_text(model_name: str, examples: list[list[dict]], settings: TrainSettings, source: str = "the playground",
                filename: str = "finetune_lora.py") -> str:
    """The script's source. The pocket model and local folders are written as absolute paths."""
    model = resolve(model_name)
    note = ""
    if model.kind == POCKET or model.local:
        note = "  # a local folder; on a GPU machine try e.g. \"TinyLlama/TinyLlama-1.1B-Chat-v1.0\""
    data = "\n".join(json.dumps({"messages": m}, ensure_ascii=False) for m in examples)
    settings_text = pprint.pformat(settings.to_dict(), sort_dicts=False)
    return TEMPLATE.format(filename=filename, model=model.path, model_note=note, gguf_file=model.gguf_file,
                           settings=settings_text, n_examples=len(examples), source=source, data=data)


def write_script(path: str | Path, model_name: str, examples: list[list[dict]], settings: TrainSettings,
                 source: str = "the playground") -> Path:
    path = Path(path)
    return atomic_write_text(path, script_text(model_name, examples, settings, source, filename=path.name))


def write_from_run(run_dir: str | Path, path: str | Path) -> Path:
    """The script for a finished run: its base model, its data.jsonl and its settings."""
    from core.finetune import data
    from core.finetune.chat import base_model_of, run_info

    run_dir = Path(run_dir)
    info = run_info(run_dir)
    if not info.get("settings") or not (run_dir / "data.jsonl").is_file():
        raise ValueError(f"{run_dir.name} has no record of its data and settings, so it cannot be exported.")
    dataset = data.read_jsonl(run_dir / "data.jsonl")
    settings = TrainSettings.from_dict(info["settings"])
    return write_script(path, base_model_of(run_dir), dataset.examples, settings, info.get("data", run_dir.name))

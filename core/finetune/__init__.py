"""Part 7: LoRA fine-tuning of real chat models with transformers, peft and trl.

models  which model (TinyLlama on a GPU, SmolLM2 on a CPU online, the pocket model offline), loading
data    the built-in Q&A set, JSONL, Hub datasets, and the preview with the trained-on tokens
lora    trainable parameters, the W + (α/r)·B·A shapes, memory estimates
train   SFTTrainer driven from a generator (live loss, ETA, Stop), one run folder per run
chat    base versus base + adapter, merge_and_unload, adapter zip
export  the run as a standalone `accelerate launch` script
pocket  builds and pretrains the bundled ~1M-parameter Llama

Heavy libraries are imported inside functions, so importing this package stays cheap.
"""

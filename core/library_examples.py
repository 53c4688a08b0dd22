"""Each library's smallest real example: the code a learner reads is exactly the code that runs.

One source of truth: every example is a constant source string below. Tab 9 shows the string and
`run(key)` executes that same string (compiled once, in a fresh namespace), so what a learner copies into
a notebook is what produced the output under it. Only these fixed strings are ever executed: `run` takes
a key of `EXAMPLES`, never code, and nothing a learner types reaches it.

`print` inside an example writes to that run's own output (the namespace's `print`), not to the server's
stdout: thirty learners running examples at once each get their own lines back.

The examples that need a model reuse the app's loading code (core.finetune.models): the pocket model is
loaded once per process and shared read-only, so a class pressing "Run" loads it once. peft's example
wraps the pocket model's *architecture* (weights on the "meta" device): counting parameters needs only
shapes, and LoRA's random initialisation then draws nothing from torch's global generator (which the
server's other learners share; tests/core/test_no_global_rng.py reads these strings too).

A learner runs one example at a time (`one_at_a_time`): a second click while one runs is refused.
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Iterator

MAX_OUTPUT_CHARS = 6000


@dataclass(frozen=True)
class Example:
    key: str  # the library's import name
    library: str
    title: str
    code: str
    why: str  # what to notice in the output (Markdown)


TORCH = '''\
import torch

w = torch.tensor([0.5, -1.0], requires_grad=True)  # two weights, tracked by autograd
x = torch.tensor([2.0, 3.0])                        # one input
y = torch.tensor(1.0)                               # its target

loss = ((w * x).sum() - y) ** 2    # a one-neuron linear model, squared error
loss.backward()                    # autograd: d loss / d w by the chain rule
print("loss:", loss.item())
print("gradient:", w.grad.tolist())  # = 2 (w·x − y) · x

with torch.no_grad():              # the update itself is not part of the graph
    w -= 0.01 * w.grad             # one gradient-descent step, learning rate 0.01
new_loss = ((w * x).sum() - y) ** 2
print("new weights:", [round(v, 4) for v in w.tolist()])
print("new loss:", round(new_loss.item(), 4))
'''

TIKTOKEN = '''\
# In a notebook with internet: import tiktoken; enc = tiktoken.get_encoding("cl100k_base")
from core.tiktoken_offline import get_encoding  # the same call, with the file bundled for offline use

enc = get_encoding("cl100k_base")  # GPT-4's tokenizer
text = "Tokenization turns text into integers."
ids = enc.encode(text)
print(len(ids), "tokens:", ids)
print([enc.decode([i]) for i in ids])   # the text of each token
print("round trip exact:", enc.decode(ids) == text)
print("characters per token:", round(len(text) / len(ids), 2))
'''

TOKENIZERS = '''\
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from core.text_input import builtin_corpus  # the playground's ~30 kB corpus

text = builtin_corpus()
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # bytes, as in GPT-2
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=500, show_progress=False,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
tok.train_from_iterator([text], trainer)   # 256 byte tokens + learned merges

sentence = "The attention layer mixes tokens."
enc = tok.encode(sentence)
print("vocabulary:", tok.get_vocab_size(), "tokens")
print(enc.tokens)                           # 'Ġ' marks a space before the token
print("decodes exactly:", tok.decode(enc.ids) == sentence)
n = len(tok.encode(text).ids)
print(f"corpus: {len(text):,} characters -> {n:,} tokens ({len(text) / n:.2f} characters per token)")
'''

DATASETS = '''\
from datasets import load_dataset

from core.finetune.data import BUILTIN_PATH  # the playground's instruction set (JSON Lines)

data = load_dataset("json", data_files=str(BUILTIN_PATH), split="train")
print(data)                        # columns and number of rows
row = data[0]
for message in row["messages"]:    # one chat: the user's question, the assistant's answer
    print(f"{message['role']:>9}: {message['content']}")
split = data.train_test_split(test_size=0.1, seed=0)   # a held-out set for evaluation
print("train / test rows:", split["train"].num_rows, "/", split["test"].num_rows)
'''

TRANSFORMERS = '''\
# In a notebook: AutoTokenizer / AutoModelForCausalLM.from_pretrained(folder or Hub id)
from core.finetune.models import load_model  # does exactly that, once per process (cached)

pocket = load_model("pocket")                # a ~0.9M-parameter Llama, bundled, offline
tok, model = pocket.tokenizer, pocket.model
print(type(model).__name__, f"{model.num_parameters():,} parameters")

messages = [{"role": "user", "content": "What is a token?"}]
inputs = tok.apply_chat_template(messages, add_generation_prompt=True,
                                 return_tensors="pt", return_dict=True)
print("prompt:", repr(tok.decode(inputs["input_ids"][0])))
out = model.generate(**inputs, max_new_tokens=30, do_sample=False)  # greedy: likeliest token each step
reply = out[0, inputs["input_ids"].shape[1]:]                        # only the new tokens
print("reply:", tok.decode(reply, skip_special_tokens=True))
'''

PEFT = '''\
import torch
from peft import LoraConfig, get_peft_model

from core.finetune.models import architecture  # the pocket model's modules, shapes only

model = architecture("pocket")     # in a notebook: the model you loaded with from_pretrained
config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05,
                    target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
with torch.device("meta"):         # shapes only: counting needs no weights
    model = get_peft_model(model, config)

trainable, total = model.get_nb_trainable_parameters()
print(f"trainable: {trainable:,} of {total:,} ({100 * trainable / total:.2f}%)")
for name, p in model.named_parameters():
    if p.requires_grad and ".layers.0." in name:   # what LoRA added to the first block
        print(f"  {name.split('layers.0.')[1]}: {tuple(p.shape)}")
'''

TRL = '''\
from trl import SFTConfig
from trl.chat_template_utils import has_generation_markers

from core.finetune.models import load_model

config = SFTConfig(output_dir="sft-out", assistant_only_loss=True,  # default False: every token
                   max_length=256, learning_rate=2e-3, num_train_epochs=2,
                   bf16=False, use_cpu=True, activation_checkpointing=False, report_to="none")
print("assistant_only_loss:", config.assistant_only_loss)

tok = load_model("pocket").tokenizer
print("{% generation %} markers in the chat template:", has_generation_markers(tok.chat_template))
chat = [{"role": "user", "content": "What is a token?"},
        {"role": "assistant", "content": "Answer: a piece of text. [done]"}]
# what SFTTrainer does with each `messages` row when assistant_only_loss=True
row = tok.apply_chat_template(chat, return_dict=True, return_assistant_tokens_mask=True)
ids, mask = row["input_ids"], row["assistant_masks"]
print(f"{len(ids)} tokens, {sum(mask)} of them in the loss")
print("not trained on:", repr(tok.decode([i for i, m in zip(ids, mask) if not m])))
print("trained on:    ", repr(tok.decode([i for i, m in zip(ids, mask) if m])))
# SFTTrainer(model=model, args=config, train_dataset=data, processing_class=tok).train()
'''

ACCELERATE = '''\
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils import prepare_simple_launcher_cmd_env

# what `accelerate launch train.py` decides on this machine, by accelerate's own code
args = launch_command_parser().parse_args(["train.py"])
args, config, _ = _validate_launch_command(args)  # fills what you did not say: config file, else this machine
print("config file (accelerate config):", "found" if config else "none, defaults used")
# processes: accelerate counts the GPUs (0 = none: the script runs once, on the CPU)
print("processes:", args.num_processes, "| machines:", args.num_machines,
      "| multi-GPU:", args.multi_gpu, "| mixed precision:", args.mixed_precision)
if args.multi_gpu:
    print("it would start one process per GPU through torchrun")
else:
    cmd, env = prepare_simple_launcher_cmd_env(args)
    print("it would run:", " ".join(cmd))
    print("with:", {k: v for k, v in env.items() if k.startswith("ACCELERATE_USE") or k == "ACCELERATE_MIXED_PRECISION"})
'''

EXAMPLES: dict[str, Example] = {e.key: e for e in [
    Example("torch", "PyTorch", "one autograd step on a tiny tensor", TORCH,
            "`loss.backward()` fills `w.grad` with ∂loss/∂w = 2(w·x − y)·x = 2·(−3)·(2, 3) = (−12, −18); "
            "one step against the gradient lowers the loss from 9 to about 4.93."),
    Example("tiktoken", "tiktoken", "count tokens", TIKTOKEN,
            "Common English words are one token each, often with their leading space; the ids are GPT-4's."),
    Example("tokenizers", "tokenizers", "train a small BPE on the built-in corpus", TOKENIZERS,
            "Training learns merges until the vocabulary has 500 tokens; frequent words of the corpus become "
            "single tokens, rare ones split into pieces."),
    Example("datasets", "datasets", "load the built-in instruction JSONL and show a row", DATASETS,
            "Each row holds `messages`, a chat in the format trl's SFTTrainer reads directly."),
    Example("transformers", "transformers", "load the pocket model and generate", TRANSFORMERS,
            "The pocket model was only pretrained on the corpus, so it babbles corpus-like text whatever you "
            "ask: tab 7 fine-tunes it to answer."),
    Example("peft", "peft", "wrap the model with LoRA and count the trainable parameters", PEFT,
            "Each adapted layer trains r·(in + out) numbers: A is r × in, B is out × r. On a model this small "
            "that is a larger share than on a big one, because r·(in + out) / (in·out) shrinks as layers widen."),
    Example("trl", "trl", "an SFTConfig that trains on the assistant's tokens only", TRL,
            "`assistant_only_loss=True` needs `{% generation %}` markers in the chat template: they tell "
            "`apply_chat_template` which tokens the assistant wrote. Without them the mask is empty "
            "and trl stops with an error (or swaps in its own template for a few known model families)."),
    Example("accelerate", "accelerate", "what `accelerate launch` would do here", ACCELERATE,
            "With no config file and one CPU or GPU, `accelerate launch` simply runs the script once; with "
            "several GPUs it starts one process per GPU (data parallelism)."),
]}


def example(key: str) -> Example:
    if key not in EXAMPLES:
        raise ValueError(f"Unknown example {key!r}; choose one of {', '.join(EXAMPLES)}.")
    return EXAMPLES[key]


@dataclass
class Ran:
    key: str
    output: str  # what the example printed
    seconds: float
    namespace: dict  # the example's variables after it ran (tests check them)


class _Output:
    """The `print` an example sees: the same signature, writing into this run's buffer."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def __call__(self, *values, sep: str = " ", end: str = "\n", **_ignored) -> None:
        self.parts.append(sep.join(str(v) for v in values) + end)

    def text(self) -> str:
        text = "".join(self.parts)
        return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + "\n… (output cut)"


def run(key: str) -> Ran:
    """Execute the example's code (the string shown in the tab) and return what it printed."""
    ex = example(key)
    out = _Output()
    namespace = {"__name__": f"example_{key}", "print": out}
    start = time.perf_counter()
    try:
        exec(compile(ex.code, f"<example {key}>", "exec"), namespace)  # only this module's constant strings
    except ImportError as err:  # a library missing on this machine: say which, and where the check is
        missing = err.name or "a library"
        raise ValueError(f"The {ex.library} example needs {missing}, which does not import here ({err}). "
                         "The environment check below says what to install.") from None
    return Ran(key, out.text(), time.perf_counter() - start, namespace)


# The learners running an example now. Process-wide on purpose, like core.jobs' table: it is what lets one
# learner (in any browser tab) run one example at a time. Guarded by a lock: Gradio runs handlers in threads.
_RUNNING: set[str] = set()
_LOCK = threading.Lock()


@contextlib.contextmanager
def one_at_a_time(owner: str) -> Iterator[None]:
    with _LOCK:
        if owner in _RUNNING:
            raise ValueError("Your previous example is still running (perhaps in another browser tab): "
                             "wait for its output, then run the next one.")
        _RUNNING.add(owner)
    try:
        yield
    finally:
        with _LOCK:
            _RUNNING.discard(owner)


def run_for(owner: str, key: str) -> Ran:
    """`run`, for one learner at a time."""
    with one_at_a_time(owner):
        return run(key)

"""core.seeds: one readable refusal for a seed out of 0..2**63-1, in every function and command that takes one."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import attention, probability
from core.finetune import data
from core.seeds import MAX_SEED, check_seed

ROOT = Path(__file__).resolve().parents[2]
RULE = "must be a whole number from 0 to 9,223,372,036,854,775,807"


def test_accepts_whole_numbers_in_range():
    assert [check_seed(s) for s in (0, 7, "12", " 3 ", 4.0, np.int64(5), MAX_SEED)] == [0, 7, 12, 3, 4, 5, 2**63 - 1]


@pytest.mark.parametrize("seed, shown", [
    (2**63, "9,223,372,036,854,775,808 is out of range"), (-1, "-1 is out of range"),
    (10**5000, "about 10**5000 is out of range"),  # str() of this int is itself refused by Python
    (1e300, "out of range"), (1.5, "not 1.5"), (float("nan"), "not nan"), (True, "not True"),
    ("abc", "not 'abc'"), ("9" * 100, "not '9999"), ([1], "not list"),
], ids=lambda v: repr(v)[:20] if not isinstance(v, int) or v.bit_length() < 100 else "huge")
def test_refuses_anything_else_in_words(seed, shown):
    with pytest.raises(ValueError, match="The seed") as err:
        check_seed(seed)
    assert shown in str(err.value) and ("out of range" in shown or RULE in str(err.value))


@pytest.mark.parametrize("empty", [None, "", "  "])
def test_an_empty_box_says_so(empty):
    with pytest.raises(ValueError, match="The seed is empty"):
        check_seed(empty)


HUGE = 2**64  # "Overflow when unpacking long long" in torch, accepted silently by NumPy before
CALLS = {
    "attention.random_inputs": lambda seed: attention.random_inputs(["the", "cat"], 4, seed),
    "attention.softmax_saturation": lambda seed: attention.softmax_saturation((1, 2), seed=seed),
    "attention.saturation_example": lambda seed: attention.saturation_example(4, seed=seed),
    "probability.sample_counts": lambda seed: probability.sample_counts([0.5, 0.5], 10, seed),
    "probability.sample_frequencies": lambda seed: probability.sample_frequencies([0.5, 0.5], 10, seed),
    "finetune.data.split_holdout": lambda seed: data.split_holdout(list(range(10)), 0.2, seed),
}


@pytest.mark.parametrize("name", CALLS)
def test_every_function_that_takes_a_seed_checks_it(name):
    CALLS[name](MAX_SEED)  # the largest seed works
    for bad in (HUGE, -1, None):
        with pytest.raises(ValueError, match="The seed"):
            CALLS[name](bad)


@pytest.mark.parametrize("argv", [
    ["attention", "the cat", "--seed"], ["softmax", "--seed"], ["train", "--steps", "1", "--seed"],
    ["generate", "hi", "5", "--seed"], ["finetune", "--seed"], ["inference", "hi", "--adapter", "x", "--seed"],
    ["pocket", "--seed"],
])
def test_every_command_refuses_a_huge_seed_before_any_work(argv, capsys):
    from core.__main__ import main

    with pytest.raises(SystemExit) as exit_code:  # argparse's usage error: exit code 2, no traceback
        main([*argv, str(HUGE)])
    assert exit_code.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m core ") and "Traceback" not in err
    last = err.splitlines()[-1]  # the usage, then one line that says what is wrong
    assert last.endswith(f"argument --seed: --seed {RULE} (2**63 - 1); 18,446,744,073,709,551,616 is out of range.")


def test_a_huge_seed_from_the_shell_is_a_message(tmp_path):
    """Before: `python -m core train --seed 18446744073709551616` died in torch with 'Overflow when unpacking long long'."""
    out = subprocess.run([sys.executable, "-m", "core", "train", "--steps", "1", "--out", str(tmp_path / "x"), "--seed", str(HUGE)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "out of range" in out.stderr
    assert not (tmp_path / "x").exists()

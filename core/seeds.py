"""One check for a random seed typed by a learner, shared by every lab and command that takes one.

torch.Generator.manual_seed and NumPy's generators take seeds up to 2**63 - 1 (torch unpacks the
seed as a C `long long`): beyond that torch fails with "Overflow when unpacking long long", and a
negative seed is refused with another raw message. Checking here gives one readable sentence.

    seed = check_seed(seed)              # 0 <= seed <= MAX_SEED, as an int
"""
from __future__ import annotations

import argparse
import numbers

MAX_SEED = 2**63 - 1


def check_seed(seed, what: str = "The seed") -> int:
    """`seed` as an int in 0..MAX_SEED; a ValueError in plain words for anything else (empty, 1.5, -3, 10**30)."""
    rule = f"a whole number from 0 to {MAX_SEED:,} (2**63 - 1)"
    if seed is None or (isinstance(seed, str) and not seed.strip()):
        raise ValueError(f"{what} is empty: type {rule}, e.g. 0.")
    if isinstance(seed, bool):
        raise ValueError(f"{what} must be {rule}, not {seed}.")
    if isinstance(seed, str):
        text = seed.strip()
        if len(text) > 40 or not text.lstrip("+-").isdigit():  # 40 digits: far past the limit, and cheap to parse
            raise ValueError(f"{what} must be {rule}, not {text[:40]!r}.")
        seed = int(text)
    elif isinstance(seed, numbers.Real) and not isinstance(seed, numbers.Integral):
        if not float(seed).is_integer():  # nan and inf are not integers either
            raise ValueError(f"{what} must be {rule}, not {seed}.")
        seed = int(seed)
    elif not isinstance(seed, numbers.Integral):
        raise ValueError(f"{what} must be {rule}, not {type(seed).__name__}.")
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        # str() of a huge int is itself refused by Python (over 4,300 digits): give its size instead
        shown = f"{seed:,}" if abs(seed) < 10**40 else f"{'-' if seed < 0 else ''}about 10**{int(abs(seed).bit_length() * 0.30103)}"
        raise ValueError(f"{what} must be {rule}; {shown} is out of range.")
    return seed


def seed_argument(text: str) -> int:
    """argparse `type=` for a --seed option: the same check, reported as argparse's usage error (exit 2)."""
    try:
        return check_seed(text, "--seed")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None

"""The train/validation split: a seeded hash of each example, so a split stays put as its dataset grows."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any


def held_out_share(seed: int, instruction: str, task_input: str) -> float:
    """Where an example falls in [0, 1) for the split: a seeded hash of its instruction and input."""
    digest = hashlib.blake2b(f"{seed}\0{instruction}\0{task_input}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def held_out(examples: Sequence[Mapping[str, Any]], fraction: float, seed: int) -> list[int]:
    """The examples to hold out for validation, in order: those whose seeded hash falls below `fraction`.

    Each example's side depends only on itself and the seed, so a longer version of the same data keeps every
    earlier example on its side (a model evaluated on the old validation split never trained on it). The count is
    about fraction x size (2% of 52K: ~1,040 +- 32); a non-zero fraction always holds out at least one example.

    >>> pair = [{"instruction": "Add 2 and 3.", "input": ""}, {"instruction": "Name a river.", "input": ""}]
    >>> held_out(pair, 0.02, seed=0)  # 2% of two examples: none falls below, so the lowest hash goes
    [0]
    """
    if fraction <= 0 or not examples:
        return []
    shares = [held_out_share(seed, example["instruction"], example["input"]) for example in examples]
    picked = [index for index, share in enumerate(shares) if share < fraction]
    return picked or [min(range(len(shares)), key=shares.__getitem__)]

"""SFT data: the published Alpaca prompt template, and a dataset folder or Alpaca file -> prompt/completion splits."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import InputDataError
from pipeline.core.runfiles import DATASET_CARD, DATASET_DIR, HF_DIR
from pipeline.core.split import held_out
from pipeline.generation.seeds import load_alpaca_records

# Byte-for-byte tatsu-lab/stanford_alpaca train.py PROMPT_DICT, so models trained here take the same prompts as
# every other Alpaca-format model. The response follows "### Response:" directly, as in Alpaca's `source + target`.
PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)
COLUMNS = ("instruction", "input", "output")


def format_prompt(instruction: str, task_input: str) -> str:
    """The Alpaca prompt for one record; Alpaca picks the no-input variant only for an input of exactly "".

    >>> format_prompt("Add 2 and 3.", "").endswith("### Instruction:\\nAdd 2 and 3.\\n\\n### Response:")
    True
    """
    if task_input != "":
        return PROMPT_INPUT.format_map({"instruction": instruction, "input": task_input})
    return PROMPT_NO_INPUT.format_map({"instruction": instruction})


def to_prompt_completion(record: Mapping[str, str]) -> dict[str, str]:
    """An Alpaca record -> TRL's prompt/completion pair. No EOS here: SFTTrainer appends it exactly once."""
    return {"prompt": format_prompt(record["instruction"], record["input"]), "completion": record["output"]}


@dataclass(frozen=True, slots=True)
class SftData:
    """Validated Alpaca records of both splits, and where they came from."""

    train: tuple[dict[str, str], ...]
    validation: tuple[dict[str, str], ...]
    source: Path  # the dataset the user named, resolved
    card: Path | None  # the dataset card, when one lies beside the data
    validation_carved: bool  # True when we split it off ourselves (the source had no validation split)

    def fingerprint(self) -> str:
        """SHA-256 of both splits' records: tells a re-generated dataset at the same path from the old one."""
        digest = hashlib.sha256()
        for split in (self.train, self.validation):
            digest.update(json.dumps([[record[column] for column in COLUMNS] for record in split]).encode())
        return digest.hexdigest()


def load_sft_data(path: str | Path, validation_fraction: float = 0.02, seed: int = 42) -> SftData:
    """Read a run folder, its dataset folder (holding `hf/`), a `save_to_disk` folder, or an Alpaca JSON/JSONL file.

    Without a validation split, one is carved off: about `validation_fraction` of the records, at least one,
    chosen by a seeded hash of each record, so a longer version of the same data keeps each record on its side.

    Raises:
        InputDataError: the path is missing or not a dataset, a column is missing, or a value is not a string.
    """
    source = Path(path).expanduser().resolve()
    if not source.exists():
        raise InputDataError(
            f"{source}: no such dataset; give a run folder, its dataset/ folder, a `save_to_disk` folder, "
            "or an Alpaca .json/.jsonl file"
        )
    card = None
    if source.is_dir() and (source / DATASET_DIR / HF_DIR).is_dir():  # a run folder: take its dataset
        source = source / DATASET_DIR
    if source.is_dir() and (source / HF_DIR).is_dir():
        card = source / DATASET_CARD if (source / DATASET_CARD).is_file() else None
        source = source / HF_DIR
    elif source.is_dir() and (source.parent / DATASET_CARD).is_file() and source.name == HF_DIR:
        card = source.parent / DATASET_CARD
    splits = _read_disk(source) if source.is_dir() else {"train": _read_alpaca_file(source)}
    for name, records in splits.items():
        _check_records(records, f"{source} [{name}]")
    carved = "validation" not in splits
    if carved:
        splits = _carve_validation(splits["train"], validation_fraction, seed, source)
    return SftData(
        train=tuple(splits["train"]),
        validation=tuple(splits["validation"]),
        source=source,
        card=card,
        validation_carved=carved,
    )


def _read_disk(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """A `save_to_disk` folder (DatasetDict or Dataset) -> records per split, kept in memory.

    In memory on purpose: `datasets.map` on a disk-backed dataset writes cache files into the dataset folder.
    """
    from datasets import Dataset, DatasetDict, load_from_disk

    if not any((folder / marker).is_file() for marker in ("dataset_dict.json", "state.json")):
        raise InputDataError(
            f"{folder}: not a dataset folder (no dataset_dict.json or state.json from "
            "`save_to_disk`); give a run folder, its dataset/ folder, or an Alpaca .json/.jsonl file"
        )
    try:
        loaded = load_from_disk(str(folder))
    except (FileNotFoundError, ValueError) as error:
        raise InputDataError(f"{folder}: cannot load the dataset ({error})") from None
    if isinstance(loaded, Dataset):
        loaded = DatasetDict({"train": loaded})
    if "train" not in loaded:
        raise InputDataError(f"{folder}: the dataset has splits {sorted(loaded)} but no 'train' split")
    splits = {}
    for name in ("train", "validation"):
        if name in loaded:
            missing = [column for column in COLUMNS if column not in loaded[name].column_names]
            if missing:
                raise InputDataError(
                    f"{folder} [{name}]: missing column(s) {missing}; the SFT stage needs "
                    f"{list(COLUMNS)} (Alpaca's field names)"
                )
            splits[name] = loaded[name].select_columns(list(COLUMNS)).to_list()
    return splits


def _read_alpaca_file(path: Path) -> list[dict[str, Any]]:
    """An Alpaca JSON list or JSONL file -> records, read by the project's one loader (errors name file:line)."""
    if path.suffix not in (".json", ".jsonl"):
        raise InputDataError(f"{path}: not a dataset; expected a dataset folder or an Alpaca .json/.jsonl file")
    return [record for _, record in load_alpaca_records(path)]


def _check_records(records: Sequence[Any], where: str) -> None:
    """Every record is an object with string instruction/input/output; the first bad one is named."""
    if not records:
        raise InputDataError(f"{where}: no records")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise InputDataError(f"{where}: record {index} is not an object")
        missing = [column for column in COLUMNS if column not in record]
        if missing:
            raise InputDataError(
                f"{where}: record {index} is missing {missing}; the SFT stage needs "
                f'{list(COLUMNS)} (Alpaca\'s field names; an empty input is "")'
            )
        for column in COLUMNS:
            if not isinstance(record[column], str):
                raise InputDataError(
                    f"{where}: record {index} field '{column}' is {type(record[column]).__name__}, not a string"
                )


def _carve_validation(
    records: Sequence[dict[str, Any]], fraction: float, seed: int, source: Path
) -> dict[str, list[dict[str, Any]]]:
    """Split off about `fraction` (at least one record) for validation by a seeded hash of each record
    (`pipeline.core.split.held_out`, as the dataset stage splits), the rest in original order for training."""
    picked = set(held_out(records, fraction, seed))
    if len(records) < 2 or len(picked) == len(records):
        raise InputDataError(f"{source}: {len(records)} record(s) cannot make both a train and a validation split")
    return {
        "train": [record for index, record in enumerate(records) if index not in picked],
        "validation": [record for index, record in enumerate(records) if index in picked],
    }

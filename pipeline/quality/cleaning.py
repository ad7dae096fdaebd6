"""Deduplicate an existing Alpaca-format dataset with the same exact ROUGE-L rule the generation loop applies."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from pipeline.core.errors import InputDataError
from pipeline.core.jsonio import write_json_atomic
from pipeline.generation.dedup import DEFAULT_THRESHOLD, RougeIndex, Tokenizer
from pipeline.generation.seeds import load_alpaca_records, load_seed_tasks


@dataclass(frozen=True, slots=True)
class DedupSummary:
    input: str
    seed_tasks: str | None
    threshold: float
    tokenizer: str
    records: int
    kept: int
    rejected: int
    kept_path: str
    rejected_path: str


def sidecar_paths(output: Path) -> tuple[Path, Path]:
    """Where the rejects and the summary of `output` go: `<stem>.rejected.jsonl`, `<stem>.summary.json`."""
    return output.with_name(f"{output.stem}.rejected.jsonl"), output.with_name(f"{output.stem}.summary.json")


def dedup_file(
    input_path: str | Path,
    output: str | Path,
    seed_path: str | Path | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    tokenizer: Tokenizer = "rouge",
    top_k: int = 10,
    progress: bool = True,
) -> DedupSummary:
    """Keep each record whose instruction is novel against the seeds and all records kept before it.

    Records are read in file order; kept ones are written in that order with `max_rouge_l` and
    `most_similar_instructions` added. `output` ending in `.json` gets an indented JSON list (the
    alpaca_data.json layout), anything else JSONL.
    """
    input_path, output = Path(input_path), Path(output)
    if output.resolve() == input_path.resolve():
        raise InputDataError(f"{output}: the output would overwrite the input; choose another --output")
    records = load_alpaca_records(input_path)
    index = RougeIndex(threshold, tokenizer)
    if seed_path is not None:
        index.extend(task.instruction for task in load_seed_tasks(seed_path))
    kept: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for number, (line, record) in enumerate(tqdm(records, desc="dedup", unit="record", disable=not progress)):
        novelty = index.add_if_novel(record["instruction"], top_k)
        similar = [{"instruction": text, "score": score} for text, score in novelty.most_similar]
        annotated = {**record, "max_rouge_l": novelty.max_score, "most_similar_instructions": similar}
        if novelty.is_novel:
            kept.append(annotated)
        else:
            rejected.append({"reason": "near_duplicate", "record": number, "line": line, **annotated})
    rejected_path, summary_path = sidecar_paths(output)
    _write_records(output, kept)
    _write_records(rejected_path, rejected)
    summary = DedupSummary(
        input=str(input_path), seed_tasks=str(seed_path) if seed_path else None, threshold=threshold,
        tokenizer=tokenizer, records=len(records), kept=len(kept), rejected=len(rejected),
        kept_path=str(output), rejected_path=str(rejected_path),
    )  # fmt: skip
    write_json_atomic(summary_path, asdict(summary))
    return summary


def _write_records(path: Path, records: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        if path.suffix == ".json":  # the layout of stanford_alpaca's jdump, like dataset/alpaca_data.json
            json.dump(list(records), handle, indent=4, default=str)
        else:
            handle.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    tmp.replace(path)

"""Clean an existing Alpaca-format dataset: repair what can be repaired, reject the rest with named reasons, then
drop near-duplicates with the exact ROUGE-L rule of the generation loop, in file order.

A record is data, never a reason to stop: a missing, empty or wrongly typed field rejects that record with a
reason and its record number. Only a file that cannot be read as records stops the run (`InputDataError`). The
outputs are written into a temporary folder that replaces the output folder in one rename, so a kill leaves the
old outputs or the new ones, never a mix.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tqdm.auto import tqdm

from pipeline.core.datafile import RawRecord
from pipeline.core.errors import InputDataError
from pipeline.core.jsonio import swap_folder, write_json_atomic
from pipeline.core.records import Example
from pipeline.generation.config import DEFAULT_THRESHOLD, Tokenizer
from pipeline.generation.dedup import RougeIndex
from pipeline.generation.defects import SUBSUMED_BY
from pipeline.generation.filters import RULES, FilterConfig
from pipeline.generation.seeds import ALPACA_FIELDS, load_seed_tasks
from pipeline.quality.repair import read_dataset, read_fields, repair

Rule = Callable[[Example, FilterConfig], str | None]
RULE_NAMES = tuple(rule.__name__ for rule in RULES)  # what --rules takes
# Cleaned output folder: kept records (annotated), rejects, the clean data in alpaca_data.json's layout, summary.
KEPT_FILE, REJECTED_FILE, SUMMARY_FILE, ALPACA_FILE, REPORT_FOLDER = (
    "kept.jsonl", "rejected.jsonl", "summary.json", "alpaca_data.json", "report",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CleanConfig:
    """What `clean` does to each record; the defaults repair, apply every rule and Alpaca's ROUGE-L rule."""

    threshold: float = DEFAULT_THRESHOLD  # drop iff ROUGE-L F to an earlier kept instruction is > this, as Alpaca
    tokenizer: Tokenizer = "rouge"  # rouge_score's: Alpaca's exact decisions
    dedup: bool = True
    rules: tuple[str, ...] = RULE_NAMES  # names of the quality rules to apply, from pipeline/generation/filters.py
    repair: bool = True  # "No input" markers, control and zero-width characters, surrounding whitespace
    top_k: int = 10  # most similar instructions recorded with each record
    filters: FilterConfig = field(default_factory=FilterConfig)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.rules) - set(RULE_NAMES))
        if unknown:
            raise ValueError(f"unknown rule(s) {', '.join(unknown)}; choose from {', '.join(RULE_NAMES)}")


@dataclass(frozen=True, slots=True)
class CleanSummary:
    """What a clean run did: counts per reason and per repair, and where the files are (absolute paths)."""

    input: str
    seed_tasks: str | None
    records: int
    kept: int
    rejected: int
    reasons: dict[str, int]  # rejected records per reason; a record with two reasons counts in both
    repairs: dict[str, int]  # records per repair, kept or not
    rules: list[str]
    dedup: bool
    threshold: float
    tokenizer: str
    elapsed_s: float
    files: dict[str, str]


@dataclass(frozen=True, slots=True)
class Verdict:
    """One record's fate: `reasons` empty means kept."""

    record: RawRecord
    example: Example | None  # after repairs; None when the fields could not be read
    repairs: tuple[str, ...]
    reasons: tuple[str, ...]
    detail: str = ""  # what exactly is wrong with a field, for the rejects file
    max_rouge_l: float | None = None
    most_similar: tuple[tuple[str, float], ...] = ()


def every_reason(example: Example, rules: Iterable[Rule], config: FilterConfig) -> tuple[str, ...]:
    """The reasons of every rule the example breaks, each once; a broad rule's reason gives way to the narrow
    rule that named the same defect (`defects.SUBSUMED_BY`)."""
    found = dict.fromkeys(reason for rule in rules if (reason := rule(example, config)) is not None)
    return tuple(reason for reason in found if not any(other in found for other in SUBSUMED_BY.get(reason, ())))


def judge(records: Iterable[RawRecord], config: CleanConfig, index: RougeIndex | None) -> Iterator[Verdict]:
    """Each record's verdict, in file order; kept instructions join `index` (no ROUGE-L rule when it is None)."""
    rules = [rule for rule in RULES if rule.__name__ in config.rules]
    for record in records:
        example, reason, detail = read_fields(record)
        if example is None:
            yield Verdict(record, None, (), (reason,), detail)
            continue
        repairs: tuple[str, ...] = ()
        if config.repair:
            example, repairs = repair(example)
        empty = next((name for name in ("instruction", "output") if not getattr(example, name).strip()), None)
        if empty is not None:  # a field without content, whichever rules are on
            yield Verdict(record, example, repairs, (f"empty_{empty}",), f"field {empty!r} is empty")
            continue
        reasons = every_reason(example, rules, config.filters)
        if reasons or index is None:
            yield Verdict(record, example, repairs, reasons)
            continue
        novelty = index.add_if_novel(example.instruction, config.top_k)
        yield Verdict(record, example, repairs, () if novelty.is_novel else ("near_duplicate",), "",
                      novelty.max_score, novelty.most_similar)  # fmt: skip


def clean_file(
    input_path: str | Path,
    output_dir: str | Path,
    seed_path: str | Path | None = None,
    config: CleanConfig = CleanConfig(),
    progress: bool = True,
    finish: Callable[[Path, CleanSummary, list[dict[str, Any]], list[dict[str, Any]]], None] | None = None,
) -> CleanSummary:
    """Clean `input_path` into the folder `output_dir` (replaced as a whole; see the module docstring).

    `finish(folder, summary, kept, rejected)` runs on the temporary folder before it takes the output's place:
    the CLI draws the report there with the dataset stage's report code.

    Raises:
        InputDataError: the input cannot be read as records, or the output folder holds something else.
    """
    started = time.perf_counter()
    input_path, final = Path(input_path), Path(output_dir).resolve()
    if final.exists() and not (final.is_dir() and (not any(final.iterdir()) or (final / SUMMARY_FILE).is_file())):
        raise InputDataError(f"{final}: exists and is not the output of an earlier clean; choose another --output")
    index = RougeIndex(config.threshold, config.tokenizer) if config.dedup else None
    if index is not None and seed_path is not None:
        index.extend(task.instruction for task in load_seed_tasks(seed_path))
    partial = final.with_name(f".{final.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        summary = _clean_into(partial, final, input_path, seed_path, config, index, progress, finish)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # nothing half-made stays behind; the old outputs are untouched
        raise
    summary = _with_elapsed(summary, time.perf_counter() - started)
    write_json_atomic(partial / SUMMARY_FILE, asdict(summary))
    swap_folder(partial, final)
    return summary


def _clean_into(
    partial: Path, final: Path, input_path: Path, seed_path: str | Path | None, config: CleanConfig,
    index: RougeIndex | None, progress: bool, finish: Callable[..., None] | None,
) -> CleanSummary:  # fmt: skip
    """Write the kept, rejected and alpaca_data.json files (and the report) into `partial`."""
    reasons: Counter[str] = Counter()
    repairs: Counter[str] = Counter()
    kept_rows: list[dict[str, Any]] = []
    rejected_rows: list[dict[str, Any]] = []  # (record, reasons, max_rouge_l): what the report needs
    records = tqdm(read_dataset(input_path), desc="clean", unit="record", disable=not progress)
    with (
        open(partial / KEPT_FILE, "w", encoding="utf-8") as kept_file,
        open(partial / REJECTED_FILE, "w", encoding="utf-8") as rejected_file,
        open(partial / ALPACA_FILE, "w", encoding="utf-8") as alpaca_file,
    ):
        alpaca = _AlpacaWriter(alpaca_file)
        for verdict in judge(records, config, index):
            repairs.update(verdict.repairs)
            if verdict.reasons:
                reasons.update(verdict.reasons)
                rejected_file.write(json.dumps(_rejected(verdict), ensure_ascii=False) + "\n")
                rejected_rows.append({"record": verdict.record.index, "reason": verdict.reasons[0]})
                if verdict.max_rouge_l is not None:
                    rejected_rows[-1]["max_rouge_l"] = verdict.max_rouge_l
                continue
            row = _kept(verdict)
            kept_file.write(json.dumps(row, ensure_ascii=False) + "\n")
            alpaca.write(verdict.example)
            kept_rows.append({name: row[name] for name in ("record", *ALPACA_FIELDS, "max_rouge_l")})
        alpaca.close()
        for handle in (kept_file, rejected_file, alpaca_file):
            handle.flush()
            os.fsync(handle.fileno())
    total = len(kept_rows) + len(rejected_rows)
    files = {"kept": KEPT_FILE, "rejected": REJECTED_FILE, "alpaca_json": ALPACA_FILE, "summary": SUMMARY_FILE}
    summary = CleanSummary(
        input=str(input_path.resolve()), seed_tasks=str(Path(seed_path).resolve()) if seed_path else None,
        records=total, kept=len(kept_rows), rejected=len(rejected_rows),
        reasons=dict(sorted(reasons.items(), key=lambda item: (-item[1], item[0]))),
        repairs=dict(sorted(repairs.items(), key=lambda item: (-item[1], item[0]))), rules=list(config.rules),
        dedup=config.dedup, threshold=config.threshold, tokenizer=config.tokenizer,
        elapsed_s=0.0, files={name: str(final / path) for name, path in files.items()},
    )  # fmt: skip
    if finish is not None:
        finish(partial, summary, kept_rows, rejected_rows)
        if (partial / REPORT_FOLDER).is_dir():
            summary.files["report"] = str(final / REPORT_FOLDER / "report.md")
    return summary


class _AlpacaWriter:
    """alpaca_data.json's layout (stanford_alpaca's jdump: `json.dump(records, f, indent=4)`), one record at a time.

    Written field by field with the C encoder: `json.dumps(..., indent=4)` runs the pure-Python one (3 s at 52K).
    """

    def __init__(self, handle: TextIO) -> None:
        self.handle, self.count = handle, 0

    def write(self, example: Example) -> None:
        fields = ",\n".join(f"        {json.dumps(name)}: {json.dumps(value)}" for name, value in
                            example.to_dict().items())  # fmt: skip
        self.handle.write(f"{',' if self.count else '['}\n    {{\n{fields}\n    }}")
        self.count += 1

    def close(self) -> None:
        self.handle.write("\n]" if self.count else "[]")


def _kept(verdict: Verdict) -> dict[str, Any]:
    assert verdict.example is not None
    extra = {name: value for name, value in verdict.record.value.items() if name not in ALPACA_FIELDS}
    row: dict[str, Any] = {"record": verdict.record.index, **verdict.example.to_dict(), **extra,
                           "repairs": list(verdict.repairs)}  # fmt: skip
    row["max_rouge_l"] = verdict.max_rouge_l  # None when the ROUGE-L rule was off
    if verdict.max_rouge_l is not None:
        row["most_similar_instructions"] = _similar(verdict)
    return row


def _rejected(verdict: Verdict) -> dict[str, Any]:
    record = verdict.record
    row: dict[str, Any] = {"record": record.index, "line": record.line, "reasons": list(verdict.reasons)}
    if verdict.detail:
        row["detail"] = verdict.detail
    if verdict.repairs:
        row["repairs"] = list(verdict.repairs)
    if isinstance(record.value, dict):
        row.update({name: value for name, value in record.value.items() if name not in row})  # the original fields
    elif record.error is None:
        row["value"] = record.value
    if verdict.max_rouge_l is not None:
        row["max_rouge_l"], row["most_similar_instructions"] = verdict.max_rouge_l, _similar(verdict)
    return row


def _similar(verdict: Verdict) -> list[dict[str, Any]]:
    return [{"instruction": text, "score": score} for text, score in verdict.most_similar]


def _with_elapsed(summary: CleanSummary, elapsed: float) -> CleanSummary:
    return CleanSummary(**{**asdict(summary), "elapsed_s": round(elapsed, 2)})


# ---- dedup: the ROUGE-L rule only, one output file with sidecars -----------------------------------------------


@dataclass(frozen=True, slots=True)
class DedupSummary:
    input: str
    seed_tasks: str | None
    threshold: float
    tokenizer: str
    records: int
    kept: int
    rejected: int
    reasons: dict[str, int]
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

    Records are read in file order and not repaired; one whose fields cannot be used is rejected with its reason.
    Kept ones are written in that order with `max_rouge_l` and `most_similar_instructions` added. `output` ending
    in `.json` gets an indented JSON list (the alpaca_data.json layout), anything else JSONL.
    """
    input_path, output = Path(input_path), Path(output)
    if output.resolve() == input_path.resolve():
        raise InputDataError(f"{output}: the output would overwrite the input; choose another --output")
    index = RougeIndex(threshold, tokenizer)
    if seed_path is not None:
        index.extend(task.instruction for task in load_seed_tasks(seed_path))
    config = CleanConfig(threshold=threshold, tokenizer=tokenizer, rules=(), repair=False, top_k=top_k)
    records = tqdm(read_dataset(input_path), desc="dedup", unit="record", disable=not progress)
    kept: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for verdict in judge(records, config, index):
        if not verdict.reasons:
            kept.append({**verdict.record.value, "max_rouge_l": verdict.max_rouge_l,
                         "most_similar_instructions": _similar(verdict)})  # fmt: skip
        else:
            row = _rejected(verdict)
            rejected.append({"reason": row.pop("reasons")[0], **row})
    rejected_path, summary_path = sidecar_paths(output)
    _write_records(output, kept)
    _write_records(rejected_path, rejected)
    summary = DedupSummary(
        input=str(input_path.resolve()), seed_tasks=str(Path(seed_path).resolve()) if seed_path else None,
        threshold=threshold,
        tokenizer=tokenizer, records=len(kept) + len(rejected), kept=len(kept), rejected=len(rejected),
        reasons=dict(Counter(row["reason"] for row in rejected).most_common()), kept_path=str(output.resolve()),
        rejected_path=str(rejected_path.resolve()),
    )  # fmt: skip
    write_json_atomic(summary_path, asdict(summary))
    return summary


def _write_records(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        if path.suffix == ".json":  # the layout of stanford_alpaca's jdump, like dataset/alpaca_data.json
            json.dump(records, handle, indent=4, default=str)
        else:
            handle.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    tmp.replace(path)

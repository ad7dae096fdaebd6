"""The report of `alpaca-pipeline clean`: the dataset stage's report code, fed the records of a cleaned file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.dataset.build import QUALITY_FLAGS, quality_flags
from pipeline.dataset.report import Report, write_report
from pipeline.dataset.run_reader import FinishedRun

BLOCK = 100  # records per point of the keep-rate figure


def write_clean_report(
    directory: Path,
    summary: Any,
    kept: Sequence[Mapping[str, Any]],
    rejected: Sequence[Mapping[str, Any]],
) -> Report | None:
    """Draw report.md and its figures for a clean run (a `CleanSummary` and its kept/rejected rows, which carry
    `record` and `max_rouge_l`, the rejected ones `reason`); None when no record was kept, as there is nothing to
    describe."""
    if not kept:
        return None
    rows = [{**row, "max_rouge_l": row["max_rouge_l"] or 0.0, "quality_flags": quality_flags(row)} for row in kept]
    notes = () if summary.dedup else ("The ROUGE-L rule was off (--no-dedup): the novelty figures hold no scores.",)
    run = FinishedRun(
        root=directory,
        manifest={"generate": {"rouge_threshold": summary.threshold, "tokenizer": summary.tokenizer}},
        stats={"rejected": summary.reasons, "candidates": summary.records},
        kept=tuple({"request_index": row["record"] // BLOCK} for row in kept),
        rejected=tuple({**row, "request_index": row["record"] // BLOCK} for row in rejected),
        notes=notes,
    )
    repairs = ", ".join(f"{name} {count:,}" for name, count in summary.repairs.items()) or "none"
    headline = [
        ("Input", summary.input),
        ("Records read", f"{summary.records:,}"),
        ("Kept", f"{summary.kept:,} ({summary.kept / max(summary.records, 1):.1%})"),
        ("Rejected", f"{summary.rejected:,} (a record may have several reasons; see the table below)"),
        ("Repairs (records)", repairs),
        ("Rules applied", ", ".join(summary.rules) or "none"),
        ("ROUGE-L rule", f"> {summary.threshold:g}, {summary.tokenizer} tokenizer" if summary.dedup else "off"),
        ("Seed tasks pre-loaded", summary.seed_tasks or "none"),
    ]
    return write_report(
        run, rows, {"kept": len(rows)}, directory, QUALITY_FLAGS, summary=headline, unit=f"{BLOCK}-record block"
    )

"""The data report of a run: statistics of the kept examples and the run, five figures, and `report.md`.

Pure functions compute the numbers; `write_report` draws the figures (pipeline/dataset/figures.py) and writes the
markdown next to them. The dataset card (pipeline/dataset/card.py) reuses the summary, the tables and the figures.
"""

from __future__ import annotations

import base64
import io
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.runfiles import REPORT_MD
from pipeline.dataset.run_reader import FinishedRun
from pipeline.dataset.selection import Selection
from pipeline.dataset.verbs import verb_object

INLINE_WIDTH = 720  # pixels of a figure embedded in a Prefect markdown artifact
_FIGURE_LINK = re.compile(r"!\[([^\]]*)\]\(([\w.-]+\.png)\)")  # a figure beside the report
FIELDS = ("instruction", "input", "output")
TOP_VERBS = 20  # the self-instruct paper's figure shows the top 20 verbs...
TOP_OBJECTS = 4  # ...and their top 4 direct nouns
PROMPT_WORD_LIMIT = 100  # the bootstrap prompt asks for inputs and outputs "in under 100 words"
FIGURES = (
    ("lengths.png", "Length of instructions, inputs and outputs"),
    ("rouge.png", "Max ROUGE-L of each new instruction to the pool"),
    ("verbs.png", "Leading verbs and their direct objects"),
    ("keep_rate.png", "Kept examples and keep rate over the run"),
    ("rejects.png", "Rejected candidates by reason"),
)
SCORE_FIGURES = (
    ("scores.png", "Judge scores, with the threshold"),
    ("score_length.png", "Judge score against output length"),
)


@dataclass(frozen=True, slots=True)
class LengthStats:
    """Word counts of one field over all examples; empty values count in `empty` and in every statistic."""

    field: str
    examples: int
    empty: int
    minimum: int
    median: float
    mean: float
    p90: float
    maximum: int


@dataclass(frozen=True, slots=True)
class Report:
    """What `write_report` made: where, and the numbers the dataset card reuses."""

    directory: Path
    figures: tuple[tuple[str, str], ...]  # (file name inside `directory`, caption)
    lengths: tuple[LengthStats, ...]
    verbs: tuple[tuple[str, int, tuple[tuple[str, int], ...]], ...]
    with_verb: int  # instructions where the heuristic found a leading verb
    flags: dict[str, int]  # examples per quality flag


def word_count(text: str) -> int:
    """Words as whitespace-separated tokens, e.g. `word_count("Name two fruits.") == 3`."""
    return len(text.split())


def length_stats(field: str, counts: Sequence[int]) -> LengthStats:
    values = np.array(counts, dtype=float)
    return LengthStats(
        field=field, examples=len(counts), empty=int((values == 0).sum()), minimum=int(values.min()),
        median=float(np.median(values)), mean=round(float(values.mean()), 1),
        p90=round(float(np.percentile(values, 90)), 1), maximum=int(values.max()),
    )  # fmt: skip


def top_verbs(
    instructions: Iterable[str], verbs: int = TOP_VERBS, objects: int = TOP_OBJECTS
) -> tuple[tuple[tuple[str, int, tuple[tuple[str, int], ...]], ...], int]:
    """The most common leading verbs with their most common objects, and how many instructions had a verb.

    Ties are broken alphabetically so the figure does not depend on the order of the examples.
    """
    verb_counts: Counter[str] = Counter()
    object_counts: dict[str, Counter[str]] = defaultdict(Counter)
    for instruction in instructions:
        verb, head = verb_object(instruction)
        if verb is None:
            continue
        verb_counts[verb] += 1
        if head is not None:
            object_counts[verb][head] += 1
    ranked = sorted(verb_counts.items(), key=lambda item: (-item[1], item[0]))[:verbs]
    result = tuple(
        (verb, count, tuple(sorted(object_counts[verb].items(), key=lambda item: (-item[1], item[0]))[:objects]))
        for verb, count in ranked
    )
    return result, sum(verb_counts.values())


def request_progress(
    kept: Iterable[Mapping[str, Any]], rejected: Iterable[Mapping[str, Any]]
) -> list[tuple[int, int, int]]:
    """(request index, kept, candidates) for every request that produced a candidate, in request order."""
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for record in kept:
        counts[record["request_index"]][0] += 1
        counts[record["request_index"]][1] += 1
    for record in rejected:
        counts[record["request_index"]][1] += 1
    return [(index, *counts[index]) for index in sorted(counts)]


def run_summary(run: FinishedRun, splits: Mapping[str, int]) -> list[tuple[str, str]]:
    """The headline numbers of a run, as (what, value) rows for the card and the report."""
    stats = run.stats
    rejected = sum(stats.get("rejected", {}).values())
    candidates = stats.get("candidates", 0)
    cost = stats.get("cost_usd")
    paid_prompt, paid_completion = stats.get("paid_prompt_tokens", 0), stats.get("paid_completion_tokens", 0)
    return [
        (
            "Teacher requests answered",
            f"{stats.get('received', 0):,} ({stats.get('paid_requests', 0):,} paid, the rest from the response cache)",
        ),
        ("Answers used, in request order", f"{stats.get('answers', 0):,}"),
        ("Candidate examples parsed", f"{candidates:,}"),
        ("Kept", f"{stats.get('kept', 0):,} ({stats.get('keep_rate', 0.0):.1%} of candidates)"),
        ("Rejected", f"{rejected:,} ({rejected / max(candidates, 1):.1%} of candidates)"),
        ("Examples in the dataset", " + ".join(f"{name} {count:,}" for name, count in splits.items())),
        (
            "Prompt / completion tokens paid for",
            f"{paid_prompt:,} / {paid_completion:,} (every answer paid, used or not)",
        ),
        (
            "Prompt / completion tokens of the answers used",
            f"{stats.get('prompt_tokens', 0):,} / {stats.get('completion_tokens', 0):,}",
        ),
        ("Cost", f"${cost:,.4f}" if cost is not None else _unpriced(run)),
        ("Run finished", "yes" if stats.get("finished") else f"no (stopped: {stats.get('stopped') or 'interrupted'})"),
    ]


def _unpriced(run: FinishedRun) -> str:
    model = run.manifest.get("teacher", {}).get("model", "the teacher model")
    return f"unpriced (no price is known for `{model}`; pass --prices FILE to count dollars)"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table; `|` in cells is escaped."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def rejects_table(stats: Mapping[str, Any]) -> str:
    reasons = sorted(stats.get("rejected", {}).items(), key=lambda item: (-item[1], item[0]))
    candidates = max(stats.get("candidates", 0), 1)
    rows = [(f"`{name}`", f"{count:,}", f"{count / candidates:.1%}") for name, count in reasons]
    return markdown_table(["reason", "candidates", "share of candidates"], rows)


def lengths_table(lengths: Iterable[LengthStats]) -> str:
    rows = [(s.field, f"{s.empty:,}", s.minimum, f"{s.median:g}", f"{s.mean:g}", f"{s.p90:g}", s.maximum)
            for s in lengths]  # fmt: skip
    return markdown_table(["field", "empty", "min", "median", "mean", "p90", "max"], rows)


def verbs_table(verbs: Iterable[tuple[str, int, Sequence[tuple[str, int]]]]) -> str:
    rows = [(verb, f"{count:,}", ", ".join(f"{name} ({share})" for name, share in objects) or "-")
            for verb, count, objects in verbs]  # fmt: skip
    return markdown_table(["verb", "instructions", "top objects"], rows)


def flags_table(meanings: Mapping[str, str], counts: Mapping[str, int]) -> str:
    rows = [(f"`{name}`", meaning, f"{counts.get(name, 0):,}") for name, meaning in meanings.items()]
    return markdown_table(["flag", "meaning", "examples"], rows)


def write_report(run: FinishedRun, rows: Sequence[Mapping[str, Any]], splits: Mapping[str, int], directory: Path,
                 flags: Mapping[str, str], selection: Selection | None = None) -> Report:  # fmt: skip
    """Compute the statistics of `rows` (the dataset, in run order), draw the figures, write report.md; with judge
    scores, two more figures: their distribution with the threshold, and score against output length."""
    from pipeline.dataset import figures  # matplotlib loads only when a report is drawn

    directory.mkdir(parents=True, exist_ok=True)
    words = {field: [word_count(row[field]) for row in rows] for field in FIELDS}
    lengths = tuple(length_stats(field, counts) for field, counts in words.items())
    verbs, with_verb = top_verbs(row["instruction"] for row in rows)
    threshold = run.manifest.get("generate", {}).get("rouge_threshold", 0.7)
    dropped = [r["max_rouge_l"] for r in run.rejected if r["reason"] == "near_duplicate" and "max_rouge_l" in r]
    subtitle = (
        f"{with_verb:,} of {len(rows):,} instructions ({with_verb / len(rows):.0%}) start with a verb found by the "
        f"heuristic of pipeline/dataset/verbs.py; top {TOP_VERBS} verbs, top {TOP_OBJECTS} objects each"
    )

    figures.draw_lengths(directory / "lengths.png", words, PROMPT_WORD_LIMIT)
    figures.draw_rouge(directory / "rouge.png", [row["max_rouge_l"] for row in rows], dropped, threshold)
    figures.draw_verbs(directory / "verbs.png", verbs, subtitle)
    figures.draw_keep_rate(directory / "keep_rate.png", request_progress(run.kept, run.rejected))
    figures.draw_rejects(directory / "rejects.png", run.stats.get("rejected", {}), run.stats.get("candidates", 0))

    flag_counts = Counter(flag for row in rows for flag in row["quality_flags"])
    tokenizer = run.manifest.get("generate", {}).get("tokenizer", "rouge")
    kept_scores = np.array([row["max_rouge_l"] for row in rows])
    sections = [
        "# Data report",
        markdown_table(["", ""], run_summary(run, splits)),
        *(["## Notes", *(f"- {note}" for note in run.notes)] if run.notes else []),
        "## Lengths (words)", lengths_table(lengths), "![Length distributions](lengths.png)",
        "## Novelty",
        f"Each kept instruction's max ROUGE-L F to every earlier instruction (seeds included): mean "
        f"{kept_scores.mean():.3f}, median {np.median(kept_scores):.3f}. {len(dropped):,} candidates scored above "
        f"the threshold of {threshold:g} ({tokenizer} tokenizer) and were dropped as near-duplicates.",
        "![Max ROUGE-L distribution](rouge.png)",
        "## Leading verbs and their objects", subtitle[0].upper() + subtitle[1:] + ".", verbs_table(verbs),
        "![Verb-object sunburst](verbs.png)",
        "## Keep rate over the run", "![Keep rate by request](keep_rate.png)",
        "## Rejected candidates", rejects_table(run.stats), "![Rejects per reason](rejects.png)",
        "## Quality flags", "Flags annotate examples; none is dropped for them.",
        flags_table(flags, flag_counts),
    ]  # fmt: skip
    shown = FIGURES
    if selection is not None and selection.scores:
        figures.draw_scores(directory / "scores.png", selection.scores, selection.min_score, selection.rubric)
        figures.draw_score_lengths(directory / "score_length.png", selection.score_lengths, selection.min_score)
        sections += ["## Judge scores", review_text(selection), "![Judge scores](scores.png)",
                     "![Score against output length](score_length.png)"]  # fmt: skip
        shown = FIGURES + SCORE_FIGURES
    (directory / REPORT_MD).write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return Report(directory, shown, lengths, verbs, with_verb, {name: flag_counts[name] for name in flags})


def review_text(selection: Selection) -> str:
    """What the judge and the re-answers did to the dataset, in one paragraph (report and card)."""
    scores = np.array(selection.scores) if selection.scores else np.array([0.0])
    models = ", ".join(f"`{model}`" for model in selection.judge_models) or "no judge"
    parts = [f"{selection.judged:,} of {selection.candidates:,} examples judged for {selection.rubric} by {models} "
             f"(mean score {scores.mean():.2f}, median {np.median(scores):g}; {selection.unreadable:,} judgements "
             "held no readable score)."]  # fmt: skip
    if selection.min_score is not None:
        parts.append(f"Threshold {selection.min_score:g}: {selection.below:,} scored below it and "
                     f"{selection.dropped_unreadable:,} without a readable score were dropped; unjudged examples: "
                     f"{selection.unjudged:,} ({selection.unjudged_policy}, {selection.dropped_unjudged:,} "
                     "dropped).")  # fmt: skip
    if selection.outputs == "reanswered":
        output_models = ", ".join(f"`{model}`" for model in selection.output_models)
        parts.append(f"Outputs re-answered by {output_models}; {selection.no_reanswer:,} examples without a usable "
                     "re-answer were dropped.")  # fmt: skip
    return " ".join(parts)


def inline_figures(markdown: str, directory: Path) -> str:
    """The report with each figure it links embedded as a small PNG data URI.

    For viewers that cannot open files beside the report: the Prefect UI renders a markdown artifact's
    `data:image/png;base64,` images. Each figure is scaled to `INLINE_WIDTH` pixels and quantized to 256 colours,
    ~20-60 KB where the full-size files take ~50-300 KB.
    """
    from PIL import Image

    def embed(match: re.Match[str]) -> str:
        path = directory / match.group(2)
        if not path.is_file():
            return match.group(0)
        with Image.open(path) as image:
            small = image.convert("RGB")
        small.thumbnail((INLINE_WIDTH, 10 * INLINE_WIDTH), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        small.quantize(colors=256).save(buffer, format="PNG", optimize=True)
        return f"![{match.group(1)}](data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode('ascii')})"

    return _FIGURE_LINK.sub(embed, markdown)

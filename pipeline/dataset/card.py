"""The dataset card: README.md beside the data, with Hub metadata (YAML) and how the data was made (markdown).

The body is `templates/dataset-card-v1.txt` filled from the run's manifest and stats; every date and number in
it comes from the run folder, never from the clock, so rebuilding gives the same card.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from string import Template
from typing import Any

import yaml
from datasets import DatasetDict, Features, List, Value

from pipeline.dataset.report import Report, flags_table, markdown_table, rejects_table, review_text, run_summary
from pipeline.dataset.run_reader import FinishedRun
from pipeline.dataset.selection import Selection
from pipeline.generation.prompts import load_template

CARD_TEMPLATE = "dataset-card-v1.txt"
BUILD_PACKAGES = ("datasets", "pyarrow", "matplotlib", "numpy")
# The Hub's size buckets (https://huggingface.co/docs/hub/datasets-cards), upper bounds exclusive.
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))  # fmt: skip
UNKNOWN_LICENSE_NOTE = (
    "No license was chosen when this dataset was built (`alpaca-pipeline dataset --license`). The examples were "
    "written by {teacher}: its provider's terms of use may restrict what its outputs can be used for, for example "
    "training models that compete with it; Stanford Alpaca released its data under CC BY-NC 4.0 for that reason. "
    "Check those terms, and the seed tasks' license, before you use or share the data."
)
CHOSEN_LICENSE_NOTE = (
    "Chosen by whoever built the dataset. The examples were written by {teacher}, whose provider's terms of use may "
    "add conditions of their own."
)


def size_category(count: int) -> str:
    """The Hub's size bucket, e.g. `size_category(300) == "n<1K"`."""
    return next((name for bound, name in SIZE_CATEGORIES if count < bound), "1B<n<10B")


def features_yaml(features: Features) -> list[dict[str, Any]]:
    """`Features` in the card's `dataset_info.features` form (what the Hub and `datasets` read back)."""

    def describe(name: str, feature: Any) -> dict[str, Any]:
        if isinstance(feature, Value):
            return {"name": name, "dtype": feature.dtype}
        if isinstance(feature, List) and isinstance(feature.feature, Value):
            return {"name": name, "list": feature.feature.dtype}
        if isinstance(feature, List) and isinstance(feature.feature, dict):
            return {"name": name, "list": [describe(key, value) for key, value in feature.feature.items()]}
        raise TypeError(f"no card form for the feature {name}: {feature!r}")

    return [describe(name, feature) for name, feature in features.items()]


def card_metadata(splits: DatasetDict, data_dir: Path, license_id: str, pretty_name: str) -> dict[str, Any]:
    """The YAML header: license, task, language, size, and the parquet files and features of each split."""
    total = sum(len(split) for split in splits.values())
    return {
        "license": license_id,
        "task_categories": ["text-generation"],
        "language": ["en"],  # the bootstrap prompt asks for English
        "tags": ["alpaca", "self-instruct", "synthetic", "instruction-tuning"],
        "size_categories": [size_category(total)],
        "pretty_name": pretty_name,
        "configs": [{
            "config_name": "default",
            "data_files": [{"split": name, "path": f"data/{name}.parquet"} for name in splits],
        }],
        "dataset_info": {
            "features": features_yaml(next(iter(splits.values())).features),
            "splits": [{"name": name, "num_bytes": split.data.nbytes, "num_examples": len(split)}
                       for name, split in splits.items()],
            "download_size": sum((data_dir / f"{name}.parquet").stat().st_size for name in splits),
            "dataset_size": sum(split.data.nbytes for split in splits.values()),
        },
    }  # fmt: skip


def write_card(path: Path, run: FinishedRun, splits: DatasetDict, report: Report, license_id: str,
               validation_size: float, seed: int, flags: Mapping[str, str],
               selection: Selection | None = None) -> None:  # fmt: skip
    """Write README.md for the dataset folder `path.parent`, whose data/*.parquet files are already written."""
    manifest, stats = run.manifest, run.stats
    generate, teacher = manifest.get("generate", {}), manifest.get("teacher", {})
    filters, seeds = generate.get("filters", {}), manifest.get("seed_tasks", {})
    reported = stats.get("teacher_models", {})
    teacher_reported = ", ".join(f"`{name}`" for name in reported) or f"`{teacher.get('model')}`"
    pretty_name = f"Alpaca-format instruction data from {teacher.get('model', 'a teacher model')}"
    counts = {name: len(split) for name, split in splits.items()}
    values = {
        "pretty_name": pretty_name,
        "kept": f"{sum(counts.values()):,}",
        "teacher_reported": teacher_reported,
        "teacher_reported_counts": ", ".join(f"`{name}` for {count:,} answers" for name, count in reported.items())
        or "no model name",
        "seed_count": seeds.get("count", "?"),
        "pipeline_version": manifest.get("pipeline_version", "?"),
        "run_date": str(manifest.get("created_at", "?"))[:10],
        "run_started": manifest.get("created_at", "?"),
        "sessions": manifest.get("sessions", 1),
        "notes": "".join(f"\n> **Note:** {note}\n" for note in run.notes),
        "splits_table": markdown_table(
            ["split", "examples", "file"], [(name, f"{n:,}", f"`data/{name}.parquet`") for name, n in counts.items()]
        ),
        "prompt_version": manifest.get("prompt_version", "?"),
        "top_k": generate.get("top_k_similar", "?"),
        "validation_rule": (f"about {validation_size:.1%} of the examples: those whose seeded hash (seed {seed}) of "
                            "instruction and input falls below that share, so a longer run keeps each example on "
                            "its side" if "validation" in counts
                            else "nothing: the dataset was built with --validation-size 0"),
        "parquet_files": json.dumps({name: f"data/{name}.parquet" for name in counts}),
        "jsonl_files": json.dumps({name: f"data/{name}.jsonl" for name in counts}),
        "num_demonstrations": generate.get("num_demonstrations", "?"),
        "tasks_per_request": generate.get("tasks_per_request", "?"),
        "teacher_requested": teacher.get("model", "?"),
        "teacher_api": teacher.get("api", "?"),
        "temperature": teacher.get("temperature", "?"),
        "top_p": teacher.get("top_p", "?"),
        "max_tokens": teacher.get("max_tokens", "?"),
        "run_seed": generate.get("run_seed", "?"),
        "seed_path": seeds.get("path", "?"),
        "seed_sha256": seeds.get("sha256", "?"),
        "min_words": filters.get("min_instruction_words", "?"),
        "max_words": filters.get("max_instruction_words", "?"),
        "blocklist": ", ".join(f'"{word}"' for word in filters.get("blocklist", [])) or "none",
        "rouge_threshold": generate.get("rouge_threshold", "?"),
        "tokenizer": generate.get("tokenizer", "?"),
        "split_rule": (f"`--validation-size {validation_size:g} --seed {seed}`: an example is held out when "
                       f"blake2b(seed, instruction, input) / 2^64 < {validation_size:g}, so extending the run never "
                       "moves an example between splits; both splits keep the run's order." if "validation" in counts
                       else "train only (`--validation-size 0`)."),
        "summary_table": markdown_table(["", ""], run_summary(run, counts)),
        "rejects_table": rejects_table(stats),
        "flags_table": flags_table(flags, report.flags),
        "review": _review_section(selection),
        "figures": "\n\n".join(f"![{caption}](report/{name})" for name, caption in report.figures),
        "generate_packages": _versions(manifest.get("packages", {})),
        "build_packages": _versions({name: metadata.version(name) for name in BUILD_PACKAGES}),
        "license": license_id,
        "license_note": (UNKNOWN_LICENSE_NOTE if license_id == "unknown" else CHOSEN_LICENSE_NOTE).format(
            teacher=teacher_reported),
    }  # fmt: skip
    header = yaml.safe_dump(card_metadata(splits, path.parent / "data", license_id, pretty_name), sort_keys=False,
                            allow_unicode=True, width=1000)  # fmt: skip
    body = Template(load_template(CARD_TEMPLATE)).substitute(values)
    path.write_text(f"---\n{header}---\n\n{body}", encoding="utf-8")


def _review_section(selection: Selection | None) -> str:
    """The card's "Review" section: the judge's scores and threshold, and re-answered outputs; "" when unreviewed."""
    if selection is None or not selection.reviewed:
        return ""
    lines = ["## Review", "", review_text(selection), ""]
    if selection.scores:
        bins = Counter(min(int(score * 2) / 2, 5.0) for score in selection.scores)
        rows = [(f"{score:g}", f"{bins.get(score, 0):,}") for score in [step / 2 for step in range(11)]]
        lines += [markdown_table(["score", "examples judged"], rows), ""]
    return "\n".join(lines) + "\n"


def _versions(packages: Mapping[str, str]) -> str:
    return ", ".join(f"{name} {version}" for name, version in sorted(packages.items())) or "not recorded"

"""The published form of a run: a 🤗 DatasetDict, alpaca_data.json, parquet, JSONL, the card and the report.

`build_dataset` turns a run folder into `RUN_DIR/dataset/`, byte-identical for the same run folder and
options: rows keep the run's order, the split comes from a seeded hash of each example, dates come from the run's
manifest, and figures are saved without timestamps. The folder is built beside the old one and swapped in,
so an interrupted build never leaves half a dataset. `load` reads it back; `push_to_hub` publishes it.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
from datasets import Dataset, DatasetDict, DatasetInfo, Features, List, Value

from pipeline.core.errors import HubError, InputDataError, RunDirError
from pipeline.core.jsonio import swap_folder
from pipeline.core.lock import FolderLock
from pipeline.core.runfiles import (
    ALPACA_JSON,
    DATA_DIR,
    DATASET_CARD,
    DATASET_DIR,
    HF_DIR,
    LOCK,
    REPORT_DIR,
    REPORT_MD,
)
from pipeline.core.split import held_out
from pipeline.dataset.card import write_card
from pipeline.dataset.config import DatasetConfig
from pipeline.dataset.report import PROMPT_WORD_LIMIT, write_report
from pipeline.dataset.run_reader import read_run
from pipeline.dataset.selection import Selection, select

DESCRIPTION = "Alpaca-format instruction data made with the self-instruct method by alpaca-pipeline; see README.md"
DEFAULTS = DatasetConfig()

FEATURES = Features({
    "instruction": Value("string"),
    "input": Value("string"),
    "output": Value("string"),
    "teacher_model": Value("string"),  # as reported by the server in each answer, not as requested
    "prompt_version": Value("string"),
    "request_index": Value("int64"),
    "position": Value("int32"),  # of the example within its answer
    "max_rouge_l": Value("float64"),
    "most_similar_instructions": List({"instruction": Value("string"), "score": Value("float64")}),
    "quality_flags": List(Value("string")),
    "score": Value("float64"),  # the LLM judge's 0-5 score (`alpaca-pipeline judge`); None when not judged
    "judge_rationale": Value("string"),
    "judge_model": Value("string"),
    "output_model": Value("string"),  # who wrote `output`: the teacher, or the re-answering model
})  # fmt: skip

_REFUSAL = re.compile(
    r"^\W*(as an ai\b|as a language model|i'?m sorry|i am sorry|i cannot\b|i can'?t\b|i am unable|i'?m unable)", re.I
)
QUALITY_FLAGS = {
    "long_input": f"the input has more than {PROMPT_WORD_LIMIT} words, which the prompt asks the teacher not to write",
    "long_output": f"the output has more than {PROMPT_WORD_LIMIT} words, which the prompt asks the teacher not to "
    "write",
    "refusal": 'the output opens with a refusal or an AI disclaimer ("As an AI...", "I\'m sorry...", "I cannot...")',
    "output_copies_input": "the output contains the whole (non-empty) input verbatim",
}


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    """Where `build_dataset` wrote what, and anything it had to recover."""

    dataset_dir: Path
    hf_dir: Path
    alpaca_json: Path
    card: Path
    report: Path
    splits: dict[str, int]
    notes: tuple[str, ...]
    selection: Selection = Selection()


def quality_flags(example: Mapping[str, str]) -> list[str]:
    """Cheap checks that annotate an example (never drop it), in the order of QUALITY_FLAGS.

    >>> quality_flags({"instruction": "Say hi.", "input": "", "output": "I'm sorry, I cannot do that."})
    ['refusal']
    """
    task_input, output = example["input"].strip(), example["output"]
    checks = {
        "long_input": len(task_input.split()) > PROMPT_WORD_LIMIT,
        "long_output": len(output.split()) > PROMPT_WORD_LIMIT,
        "refusal": _REFUSAL.match(output) is not None,
        "output_copies_input": bool(task_input) and task_input in output,
    }
    return [name for name in QUALITY_FLAGS if checks[name]]


def to_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A kept record of the run (with the review's fields, pipeline.dataset.selection) as a dataset row, columns in
    FEATURES order."""
    reviewed = ("quality_flags", "score", "judge_rationale", "judge_model", "output_model")
    row = {name: record[name] for name in FEATURES if name not in reviewed}
    row["max_rouge_l"] = float(row["max_rouge_l"])
    row["most_similar_instructions"] = [
        {"instruction": s["instruction"], "score": float(s["score"])} for s in record["most_similar_instructions"]
    ]
    row["quality_flags"] = quality_flags(record)
    row["score"] = None if record.get("score") is None else float(record["score"])
    row["judge_rationale"] = record.get("judge_rationale")
    row["judge_model"] = record.get("judge_model")
    row["output_model"] = record.get("output_model", record["teacher_model"])
    return row


def validation_indices(examples: Sequence[Mapping[str, Any]], validation_size: float, seed: int) -> list[int]:
    """Which examples go to validation (`pipeline.core.split.held_out`), refusing a split that leaves none to train."""
    if not 0.0 <= validation_size < 1.0:
        raise InputDataError(f"validation size must be a fraction within [0, 1), got {validation_size}")
    picked = held_out(examples, validation_size, seed)
    if picked and len(picked) >= len(examples):
        raise InputDataError(
            f"{len(examples)} examples are too few to hold out {validation_size:.0%} for validation and keep any "
            "for training; pass --validation-size 0 to make a train split only"
        )
    return picked


def build_dataset(
    run_dir: str | Path,
    validation_size: float = DEFAULTS.validation_size,
    seed: int = DEFAULTS.seed,
    license_id: str = DEFAULTS.license,
    min_score: float | None = DEFAULTS.min_score,
    unjudged: str = DEFAULTS.unjudged,
    outputs: str = DEFAULTS.outputs,
    rubric: str = DEFAULTS.rubric,
) -> DatasetSummary:
    """Build `RUN_DIR/dataset/` from a run folder (see docs/dataset.md for the layout), replacing an old one.

    With judge scores (`alpaca-pipeline judge`), `min_score` keeps the examples scored at least that; `outputs`
    "reanswered" publishes the outputs of `alpaca-pipeline reanswer` (pipeline/dataset/selection.py).

    The run folder's lock is held throughout: a `generate` still writing it, or a second build, is refused.
    """
    if not Path(run_dir).is_dir():  # read_run says what is wrong; nothing to lock
        return _build(run_dir, validation_size, seed, license_id, min_score, unjudged, outputs, rubric)
    with FolderLock(Path(run_dir) / LOCK, "run folder"):
        try:
            return _build(run_dir, validation_size, seed, license_id, min_score, unjudged, outputs, rubric)
        except BaseException:  # a full disk or an interrupt: the old dataset stays, no half-built copy beside it
            shutil.rmtree(Path(run_dir) / f".{DATASET_DIR}.partial", ignore_errors=True)
            raise


def _build(
    run_dir: str | Path, validation_size: float, seed: int, license_id: str, min_score: float | None, unjudged: str,
    outputs: str, rubric: str,
) -> DatasetSummary:  # fmt: skip
    run = read_run(run_dir)
    records, selection = select(run.root, run.kept, outputs, rubric, min_score, unjudged)
    if not records:
        raise InputDataError(f"no example is left to publish: {selection.dropped:,} of {len(run.kept):,} kept "
                             "examples were dropped by the review settings (see --min-score, --outputs)")  # fmt: skip
    rows = [to_row(record) for record in records]
    held_out = set(validation_indices(rows, validation_size, seed))
    split_rows = {"train": [row for i, row in enumerate(rows) if i not in held_out]}
    if held_out:
        split_rows["validation"] = [row for i, row in enumerate(rows) if i in held_out]
    final = run.root.resolve() / DATASET_DIR  # absolute: summaries and artifacts are read from anywhere
    partial = run.root / f".{DATASET_DIR}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    # Nothing in the files names the run folder, so a copied or re-made run gives the same bytes.
    info = DatasetInfo(description=DESCRIPTION, license=license_id, features=FEATURES)
    splits = DatasetDict({
        name: Dataset.from_list(split, features=FEATURES, info=info.copy(), split=name)
        for name, split in split_rows.items()
    })  # fmt: skip
    with _quiet_progress_bars():
        splits.save_to_disk(str(partial / HF_DIR))
        (partial / DATA_DIR).mkdir()
        for name, split in splits.items():
            split.to_parquet(str(partial / DATA_DIR / f"{name}.parquet"))
    for name, split in split_rows.items():
        with open(partial / DATA_DIR / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in split)
    _write_alpaca_json(partial / ALPACA_JSON, rows)
    counts = {name: len(split) for name, split in split_rows.items()}
    report = write_report(run, rows, counts, partial / REPORT_DIR, QUALITY_FLAGS, selection)
    write_card(partial / DATASET_CARD, run, splits, report, license_id, validation_size, seed, QUALITY_FLAGS,
               selection)  # fmt: skip
    swap_folder(partial, final)
    card, report_md = final / DATASET_CARD, final / REPORT_DIR / REPORT_MD
    return DatasetSummary(final, final / HF_DIR, final / ALPACA_JSON, card, report_md, counts, run.notes, selection)


def _write_alpaca_json(path: Path, rows: list[dict[str, Any]]) -> None:
    """Every example, in run order, exactly as stanford_alpaca's `utils.jdump` writes alpaca_data.json.

    jdump is `json.dump(obj, f, indent=4, default=str)`: ASCII-only (non-ASCII as \\uXXXX), no final newline.
    """
    records = [{"instruction": row["instruction"], "input": row["input"], "output": row["output"]} for row in rows]
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(records, handle, indent=4, default=str)


@contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """Hide datasets' per-split progress bars while building; the CLI prints the result instead."""
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def locate(path: str | Path) -> Path:
    """The `hf/` folder of a dataset, given the run folder, its `dataset/` folder or the `hf/` folder itself."""
    path = Path(path)
    for candidate in (path, path / HF_DIR, path / DATASET_DIR / HF_DIR):
        if (candidate / "dataset_dict.json").is_file():
            return candidate
    raise RunDirError(f"{path} holds no built dataset; build one with `alpaca-pipeline dataset RUN_DIR`")


def load(path: str | Path) -> DatasetDict:
    """The dataset built by `build_dataset`, from the run folder, its `dataset/` folder or `dataset/hf/`.

    >>> splits = load("outputs/run-1")  # doctest: +SKIP
    >>> splits["train"][0]["instruction"]  # doctest: +SKIP
    """
    return datasets.load_from_disk(str(locate(path)))


def push_to_hub(dataset_dir: str | Path, repo_id: str, private: bool = False) -> str:
    """Upload the dataset folder (card, parquet, JSON, report; not the Arrow copy) to a Hub dataset repo.

    The card's `configs` point the Hub's loader and viewer at `data/*.parquet`, so `load_dataset(repo_id)`
    works. Returns the repo's URL.

    Raises:
        HubError: no token (set HF_TOKEN or run `hf auth login`), or the Hub refused or could not be reached.
    """
    from huggingface_hub import HfApi, get_token
    from huggingface_hub.errors import HTTPError, OfflineModeIsEnabled

    folder = Path(dataset_dir)
    if not (folder / DATASET_CARD).is_file():
        raise RunDirError(f"{folder} is not a built dataset folder; build it with `alpaca-pipeline dataset RUN_DIR`")
    token = get_token()
    if token is None:
        raise HubError(f"no Hugging Face token to push {repo_id}: set HF_TOKEN to a token with write access "
                       "(https://huggingface.co/settings/tokens) or run `hf auth login`")  # fmt: skip
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        # delete_patterns: files of an earlier push that this build no longer has (a dropped split) go away.
        api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=folder, ignore_patterns=[f"{HF_DIR}/*"],
                          delete_patterns=[f"{DATA_DIR}/*", f"{REPORT_DIR}/*"],
                          commit_message="Upload dataset built by alpaca-pipeline")  # fmt: skip
    except (HTTPError, OfflineModeIsEnabled) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise HubError(f"could not push to the Hub dataset {repo_id}: {first_line}. Check the network, the repo "
                       "name and the token's write access; the local dataset is complete") from None  # fmt: skip
    return str(url)

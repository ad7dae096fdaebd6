"""`alpaca-pipeline dataset`: a real run of the offline teacher becomes a DatasetDict, Alpaca JSON, parquet, JSONL
and a card; read back through every documented loader, rebuilt byte for byte, and refused clearly when broken."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from datasets import Features, load_dataset, load_from_disk

from flows.cli import main
from pipeline.core.errors import HubError, InputDataError, RunDirError
from pipeline.core.jsonio import read_jsonl
from pipeline.dataset.build import FEATURES, build_dataset, load, push_to_hub, quality_flags, validation_indices
from pipeline.generation.config import GenerateConfig
from pipeline.generation.generate import generate
from pipeline.generation.seeds import default_seed_path, load_seed_tasks
from pipeline.teacher.client import TeacherConfig

KEPT = 60


@pytest.fixture(scope="module")
def run_dir(teacher_server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of the offline teacher; tests copy it before changing anything."""
    out = tmp_path_factory.mktemp("run") / "run"
    seed_path = default_seed_path()
    teacher = TeacherConfig(model="simulated-teacher", base_url=teacher_server.base_url)
    generate(GenerateConfig(num_instructions=KEPT), teacher, "sk-test", seed_path, load_seed_tasks(seed_path), out,
             progress=False)  # fmt: skip
    return out


@pytest.fixture(scope="module")
def built(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder with its dataset built with the defaults; read-only."""
    copy = shutil.copytree(run_dir, tmp_path_factory.mktemp("built") / "run")
    build_dataset(copy)
    return copy


def copy_run(run_dir: Path, tmp_path: Path, name: str = "run") -> Path:
    return shutil.copytree(run_dir, tmp_path / name)


def kept_records(run: Path) -> list[dict[str, Any]]:
    return read_jsonl(run / "kept.jsonl")


def by_position(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: (row["request_index"], row["position"]))


REVIEW_COLUMNS = ("score", "judge_rationale", "judge_model", "output_model")  # empty but output_model, unreviewed


def expected_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    unreviewed = {"score": None, "judge_rationale": None, "judge_model": None}
    return [{**{name: record[name] for name in FEATURES if name not in ("quality_flags", *REVIEW_COLUMNS)},
             "quality_flags": quality_flags(record), **unreviewed,
             "output_model": record["teacher_model"]} for record in records]  # fmt: skip


def file_hashes(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}  # fmt: skip


def card_metadata(card: Path) -> tuple[dict[str, Any], str]:
    _, header, body = card.read_text(encoding="utf-8").split("---\n", 2)
    return yaml.safe_load(header), body


def test_round_trip_through_load_from_disk_json_and_parquet(built: Path, tmp_path: Path) -> None:
    folder = built / "dataset"
    records = kept_records(built)
    held_out = [records[index]["instruction"] for index in validation_indices(records, 0.02, seed=0)]
    splits = load(built)
    assert splits["validation"]["instruction"] == held_out and len(held_out) >= 1
    assert {name: len(split) for name, split in splits.items()} == {"train": KEPT - len(held_out),
                                                                     "validation": len(held_out)}  # fmt: skip
    assert all(split.features == FEATURES for split in splits.values())
    rows = splits["train"].to_list() + splits["validation"].to_list()
    assert by_position(rows) == expected_rows(records)
    assert splits["train"].to_list() == by_position(splits["train"].to_list())  # each split keeps the run's order

    for path in (folder, folder / "hf"):  # every documented way in gives the same data
        assert load(path)["validation"].to_list() == splits["validation"].to_list()
    assert load_from_disk(str(folder / "hf"))["train"].to_list() == splits["train"].to_list()
    parquet = load_dataset("parquet", data_files={name: str(folder / "data" / f"{name}.parquet") for name in splits},
                           cache_dir=str(tmp_path / "cache"))  # fmt: skip
    jsonl = load_dataset("json", data_files={name: str(folder / "data" / f"{name}.jsonl") for name in splits},
                         features=FEATURES, cache_dir=str(tmp_path / "cache"))  # fmt: skip
    for loaded in (parquet, jsonl):
        assert {name: split.features for name, split in loaded.items()} == {name: FEATURES for name in splits}
        assert {name: split.to_list() for name, split in loaded.items()} == {n: s.to_list() for n, s in splits.items()}


def test_alpaca_json_is_the_exact_alpaca_list_format(run_dir: Path, tmp_path: Path) -> None:
    run = copy_run(run_dir, tmp_path)
    lines = (run / "kept.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["output"] = "Café au lait ☕, naïve — “quoted”"
    lines[0] = json.dumps(first, ensure_ascii=False)
    (run / "kept.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = build_dataset(run)

    records = kept_records(run)
    alpaca = [{"instruction": r["instruction"], "input": r["input"], "output": r["output"]} for r in records]
    # stanford_alpaca's utils.jdump: json.dump(obj, f, indent=4, default=str): ASCII escapes, no final newline.
    assert summary.alpaca_json.read_bytes() == json.dumps(alpaca, indent=4, default=str).encode("ascii")
    text = summary.alpaca_json.read_text(encoding="utf-8")
    assert text.startswith('[\n    {\n        "instruction": ') and text.endswith("\n    }\n]")
    assert "Caf\\u00e9 au lait \\u2615" in text
    loaded = json.loads(text)
    assert all(list(item) == ["instruction", "input", "output"] for item in loaded)
    assert loaded == alpaca and len(loaded) == KEPT  # every example, train and validation, in run order
    jsonl = "".join(path.read_text(encoding="utf-8") for path in (summary.dataset_dir / "data").glob("*.jsonl"))
    assert "Café au lait ☕" in jsonl  # the JSONL files stay UTF-8


def test_rebuilding_gives_byte_identical_files(run_dir: Path, tmp_path: Path) -> None:
    first, second = copy_run(run_dir, tmp_path, "a"), copy_run(run_dir, tmp_path, "b")
    build_dataset(first)
    before = file_hashes(first / "dataset")
    build_dataset(first)  # over an existing build
    build_dataset(second)  # in another folder, from a copy
    assert file_hashes(first / "dataset") == before == file_hashes(second / "dataset")
    assert {"README.md", "alpaca_data.json", "hf/dataset_dict.json", "data/train.parquet", "data/validation.jsonl",
            "report/report.md", "report/verbs.png"} <= set(before)  # fmt: skip
    leftovers = [path.name for path in first.iterdir() if path.name.startswith(".") and path.name != ".lock"]
    assert leftovers == []  # no partial or retired build (the run folder's lock file stays, empty)


def test_split_follows_the_seed_and_can_be_turned_off(run_dir: Path, tmp_path: Path) -> None:
    run = copy_run(run_dir, tmp_path)
    build_dataset(run, validation_size=0.1, seed=1)
    seed_1 = load(run)["validation"]["instruction"]
    build_dataset(run, validation_size=0.1, seed=2)
    assert 1 <= len(seed_1) <= 20 and list(load(run)["validation"]["instruction"]) != list(seed_1)
    build_dataset(run, validation_size=0.0)
    assert list(load(run)) == ["train"] and len(load(run)["train"]) == KEPT
    assert sorted(path.name for path in (run / "dataset" / "data").iterdir()) == ["train.jsonl", "train.parquet"]
    metadata, _ = card_metadata(run / "dataset" / "README.md")
    assert metadata["configs"][0]["data_files"] == [{"split": "train", "path": "data/train.parquet"}]


def test_split_is_stable_as_the_data_grows_and_near_its_share() -> None:
    examples = [{"instruction": f"Task number {i}.", "input": "" if i % 3 else f"x{i}"} for i in range(20_000)]
    picked = validation_indices(examples, 0.02, seed=0)
    assert picked == sorted(set(picked)) == validation_indices(examples, 0.02, seed=0)
    assert abs(len(picked) - 400) < 4 * math.sqrt(20_000 * 0.02 * 0.98)  # a binomial count around 2%
    # The first 5,000 examples fall exactly as they do inside the 20,000: growth moves nobody.
    assert validation_indices(examples[:5000], 0.02, seed=0) == [index for index in picked if index < 5000]
    assert validation_indices(examples, 0.02, seed=1) != picked
    assert validation_indices(examples[:3], 0.02, seed=0) != [] and validation_indices(examples, 0.0, seed=0) == []


def test_extending_a_run_keeps_each_example_on_its_side(run_dir: Path, teacher_server, tmp_path: Path) -> None:
    run = copy_run(run_dir, tmp_path)
    build_dataset(run, validation_size=0.2)
    before = load(run)
    teacher = TeacherConfig(model="simulated-teacher", base_url=teacher_server.base_url)
    generate(GenerateConfig(num_instructions=KEPT + 40), teacher, "sk-test", default_seed_path(),
             load_seed_tasks(default_seed_path()), run, progress=False)  # fmt: skip
    build_dataset(run, validation_size=0.2)
    after = load(run)
    assert len(after["train"]) + len(after["validation"]) == KEPT + 40
    assert set(before["validation"]["instruction"]) <= set(after["validation"]["instruction"])
    assert set(before["train"]["instruction"]) <= set(after["train"]["instruction"])


def test_a_validation_split_that_leaves_no_training_data_is_refused() -> None:
    with pytest.raises(InputDataError, match="too few to hold out .* --validation-size 0"):
        validation_indices([{"instruction": "Add 2 and 3.", "input": ""}], 0.02, seed=0)


def test_card_metadata_parses_and_its_counts_equal_the_stats(built: Path) -> None:
    stats = json.loads((built / "stats.json").read_text())
    manifest = json.loads((built / "manifest.json").read_text())
    metadata, body = card_metadata(built / "dataset" / "README.md")
    assert metadata["license"] == "unknown" and metadata["task_categories"] == ["text-generation"]
    assert metadata["language"] == ["en"] and metadata["size_categories"] == ["n<1K"]
    assert Features._from_yaml_list(metadata["dataset_info"]["features"]) == FEATURES  # the Hub's reading
    splits = {split["name"]: split["num_examples"] for split in metadata["dataset_info"]["splits"]}
    assert sum(splits.values()) == stats["kept"] == KEPT
    for data_file in metadata["configs"][0]["data_files"]:
        assert (built / "dataset" / data_file["path"]).is_file()
    for reason, count in stats["rejected"].items():
        assert f"| `{reason}` | {count:,} |" in body
    assert f"| Candidate examples parsed | {stats['candidates']:,} |" in body
    assert f"| Kept | {stats['kept']:,} (" in body
    used = f"{stats['prompt_tokens']:,} / {stats['completion_tokens']:,}"
    assert f"| Prompt / completion tokens of the answers used | {used} |" in body
    paid = f"{stats['paid_prompt_tokens']:,} / {stats['paid_completion_tokens']:,}"
    assert f"| Prompt / completion tokens paid for | {paid} (every answer paid, used or not) |" in body
    answered = len((built / "responses.jsonl").read_text().splitlines())
    assert f"| Teacher requests answered | {answered:,} ({stats['paid_requests']:,} paid," in body
    assert manifest["seed_tasks"]["sha256"] in body and manifest["created_at"] in body
    assert "`simulated-teacher` for" in body and "temperature 1.0, top_p 1.0" in body and "above 0.7" in body
    for figure in ("lengths", "rouge", "verbs", "keep_rate", "rejects"):
        assert f"(report/{figure}.png)" in body and (built / "dataset" / "report" / f"{figure}.png").is_file()


@pytest.fixture
def no_hub_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))


def test_the_cli_prints_every_path_and_fails_clearly_without_a_hub_token(
    run_dir: Path, tmp_path: Path, no_hub_token: None
) -> None:
    run = copy_run(run_dir, tmp_path)
    args = ["dataset", str(run), "--license", "cc-by-nc-4.0", "--push-to-hub", "me/data"]
    result = CliRunner().invoke(main, args)
    folder = (run / "dataset").resolve()
    for label, path in [("Dataset", folder / "hf"), ("Alpaca JSON", folder / "alpaca_data.json"),
                        ("Card", folder / "README.md"), ("Report", folder / "report" / "report.md")]:  # fmt: skip
        assert f"{label}: {path}\n" in result.output and path.exists()
    metadata, body = card_metadata(folder / "README.md")
    assert metadata["license"] == "cc-by-nc-4.0" and "License: `cc-by-nc-4.0`" in body
    # The local build is complete; the push fails with one line that says what to do.
    assert result.exit_code == 1 and result.output.endswith(
        "Error: no Hugging Face token to push me/data: set HF_TOKEN to a token with write access "
        "(https://huggingface.co/settings/tokens) or run `hf auth login`\n"
    ), result.output


def test_a_truncated_last_line_is_recovered_and_reported(run_dir: Path, tmp_path: Path, caplog) -> None:
    run = copy_run(run_dir, tmp_path)
    journal = run / "kept.jsonl"
    journal.write_bytes(journal.read_bytes()[:-40])  # a crash in the middle of writing the last record
    with caplog.at_level(logging.WARNING):
        summary = build_dataset(run)
    assert sum(summary.splits.values()) == KEPT - 1
    assert f"line {KEPT} was cut short" in caplog.text and f"the {KEPT - 1} complete records before it" in caplog.text
    assert f"stats.json counts {KEPT} kept examples but kept.jsonl holds {KEPT - 1}" in caplog.text
    _, body = card_metadata(summary.card)
    assert f"> **Note:** kept.jsonl: line {KEPT} was cut short" in body  # the card says so too


def test_a_record_missing_a_field_names_file_line_and_field(run_dir: Path, tmp_path: Path) -> None:
    run = copy_run(run_dir, tmp_path)
    lines = (run / "kept.jsonl").read_text().splitlines()
    record = json.loads(lines[2])
    del record["output"]
    lines[2] = json.dumps(record)
    (run / "kept.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputDataError, match=r"kept\.jsonl:3: field 'output' is missing\. .*generate"):
        build_dataset(run)
    assert not (run / "dataset").exists()


def test_a_field_of_the_wrong_type_is_refused(run_dir: Path, tmp_path: Path) -> None:
    run = copy_run(run_dir, tmp_path)
    lines = (run / "kept.jsonl").read_text().splitlines()
    lines[0] = json.dumps({**json.loads(lines[0]), "max_rouge_l": "high"})
    (run / "kept.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputDataError, match="kept.jsonl:1: field 'max_rouge_l' must be a number, found 'high'"):
        build_dataset(run)


def test_a_damaged_line_before_the_last_is_an_error_not_a_recovery(run_dir: Path, tmp_path: Path) -> None:
    run = copy_run(run_dir, tmp_path)
    lines = (run / "kept.jsonl").read_text().splitlines()
    lines[4] = lines[4][:30]
    (run / "kept.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(RunDirError, match="kept.jsonl:5: invalid JSON"):
        build_dataset(run)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "is not a folder"),
        ("empty", "is empty; run `alpaca-pipeline generate"),
        ("no_kept", "has no kept.jsonl, so it is not a complete run folder"),
        ("no_rejected", "has no rejected.jsonl, so it is not a complete run folder"),
        ("empty_kept", "holds no examples"),
    ],
)
def test_bad_run_folders_get_one_line_errors(run_dir: Path, tmp_path: Path, setup: str, message: str) -> None:
    target = tmp_path / "target"
    if setup == "empty":
        target.mkdir()
    elif setup == "no_rejected":
        copy_run(run_dir, tmp_path, "target")
        (target / "rejected.jsonl").unlink()
    elif setup in ("no_kept", "empty_kept"):
        copy_run(run_dir, tmp_path, "target")
        (target / "kept.jsonl").unlink()
        if setup == "empty_kept":
            (target / "kept.jsonl").write_text("")
    result = CliRunner().invoke(main, ["dataset", str(target)])
    assert result.exit_code == 1 and message in result.output, result.output
    assert result.output.startswith("Error: ") and "Traceback" not in result.output


def test_load_says_how_to_build_a_missing_dataset(run_dir: Path) -> None:
    with pytest.raises(RunDirError, match="holds no built dataset; build one with `alpaca-pipeline dataset"):
        load(run_dir)


def test_push_without_a_token_is_a_clear_error(built: Path, no_hub_token: None) -> None:
    with pytest.raises(HubError, match="no Hugging Face token to push me/data: set HF_TOKEN"):
        push_to_hub(built / "dataset", "me/data")


@pytest.mark.parametrize(
    ("example", "flags"),
    [
        ({"input": "", "output": "Paris."}, []),
        ({"input": "", "output": "As an AI language model, I have no opinions."}, ["refusal"]),
        ({"input": "", "output": "I'm sorry, but I can't help with that."}, ["refusal"]),
        ({"input": "", "output": "I cannot stress this enough: rest."}, ["refusal"]),  # a known false positive
        ({"input": "", "output": "word " * 101}, ["long_output"]),
        ({"input": "word " * 101, "output": "Short."}, ["long_input"]),
        ({"input": "Dear Bob,", "output": "Dear Bob,\n\nSee you Thursday.\n\nBest, Ann"}, ["output_copies_input"]),
        ({"input": "word " * 120, "output": ("word " * 120) + "done"}, ["long_input", "long_output",
                                                                        "output_copies_input"]),
    ],
)  # fmt: skip
def test_quality_flags(example: dict[str, str], flags: list[str]) -> None:
    assert quality_flags({"instruction": "Do it.", **example}) == flags


def test_dataset_help_and_imports_stay_light() -> None:
    code = (
        "import json, sys\nfrom click.testing import CliRunner\nfrom flows.cli import main\n"
        "result = CliRunner().invoke(main, ['dataset', '--help'])\nassert result.exit_code == 0, result.output\n"
        "light = sorted(m for m in ('datasets', 'matplotlib', 'pandas', 'pyarrow') if m in sys.modules)\n"
        "import pipeline.dataset.build, pipeline.dataset.report, pipeline.dataset.card, pipeline.dataset.figures\n"
        "heavy = sorted(m for m in ('prefect', 'torch', 'transformers', 'matplotlib.pyplot') if m in sys.modules)\n"
        "print(json.dumps([light, heavy]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == [[], []]


@pytest.mark.parametrize(
    ("count", "bucket"), [(1, "n<1K"), (999, "n<1K"), (1_000, "1K<n<10K"), (52_002, "10K<n<100K")]
)
def test_size_category_uses_the_hubs_buckets(count: int, bucket: str) -> None:
    from pipeline.dataset.card import size_category

    assert size_category(count) == bucket

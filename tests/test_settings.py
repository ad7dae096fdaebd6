"""Each setting is declared once, on its config dataclass: the commands and the flow forms show its default and help.

A command or form that differs from the library on purpose is listed in OVERRIDES; an option or a field that is
in none of the tables below fails the completeness test, so a new one cannot skip the parity checks.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from flows.cli import main
from flows.params import FOLDER_NOTE, TRAINING_FIELDS, DatasetParams, FinetuneParams, GenerateParams
from flows.settings import BOUNDS, DEMO_TRAINING, setting
from pipeline.core.errors import PipelineError
from pipeline.dataset.config import DatasetConfig
from pipeline.generation.config import GenerateConfig
from pipeline.sft.config import TrainConfig, load_train_config
from pipeline.teacher.config import TeacherConfig

FORMS = {model.__name__: model for model in (GenerateParams, DatasetParams, FinetuneParams)}
COMMANDS = ("generate", "run", "train", "dataset", "dedup")

# Every setting a command or a form shows: its dataclass field, the options (command.parameter) and form fields.
SHARED = [
    (GenerateConfig, "num_instructions", "generate.num_instructions run.num_instructions", "GenerateParams"),
    (GenerateConfig, "run_seed", "generate.run_seed run.run_seed", "GenerateParams"),
    (GenerateConfig, "num_demonstrations", "generate.num_demonstrations run.num_demonstrations", "GenerateParams"),
    (GenerateConfig, "tasks_per_request", "generate.tasks_per_request run.tasks_per_request", "GenerateParams"),
    (
        GenerateConfig,
        "rouge_threshold",
        "generate.rouge_threshold run.rouge_threshold dedup.threshold",
        "GenerateParams",
    ),
    (GenerateConfig, "tokenizer", "generate.tokenizer run.tokenizer dedup.tokenizer", "GenerateParams"),
    (GenerateConfig, "top_k_similar", "dedup.top_k", ""),
    (GenerateConfig, "max_concurrency", "generate.concurrency run.concurrency", "GenerateParams.concurrency"),
    (GenerateConfig, "max_requests", "generate.max_requests run.max_requests", "GenerateParams"),
    (GenerateConfig, "max_cost_usd", "generate.max_cost run.max_cost", "GenerateParams.max_cost"),
    (TeacherConfig, "model", "generate.model run.model", "GenerateParams"),
    (TeacherConfig, "base_url", "generate.base_url run.base_url", "GenerateParams"),
    (TeacherConfig, "api", "generate.api run.api", "GenerateParams"),
    (TeacherConfig, "temperature", "generate.temperature run.temperature", "GenerateParams"),
    (TeacherConfig, "top_p", "generate.top_p run.top_p", "GenerateParams"),
    (TeacherConfig, "max_tokens", "generate.max_tokens run.max_tokens", "GenerateParams"),
    (TeacherConfig, "timeout_s", "generate.timeout_s run.timeout_s", "GenerateParams"),
    (TeacherConfig, "rpm", "generate.rpm run.rpm", "GenerateParams"),
    (TeacherConfig, "tpm", "generate.tpm run.tpm", "GenerateParams"),
    (DatasetConfig, "validation_size", "dataset.validation_size run.validation_size", "DatasetParams"),
    (DatasetConfig, "seed", "dataset.seed run.split_seed", "DatasetParams"),
    (DatasetConfig, "license", "dataset.license_id run.license_id", "DatasetParams"),
    (DatasetConfig, "min_score", "dataset.min_score", "DatasetParams"),
    (DatasetConfig, "unjudged", "dataset.unjudged", "DatasetParams"),
    (DatasetConfig, "outputs", "dataset.outputs", "DatasetParams"),
    (DatasetConfig, "rubric", "dataset.rubric", "DatasetParams"),
    (TrainConfig, "base_model", "train.base_model run.base_model", "FinetuneParams"),
    (TrainConfig, "method", "train.method run.method", "FinetuneParams"),
    (TrainConfig, "epochs", "train.epochs", ""),
    (TrainConfig, "max_steps", "train.max_steps run.max_steps", "FinetuneParams"),
    (TrainConfig, "learning_rate", "train.learning_rate run.learning_rate", "FinetuneParams"),
    (TrainConfig, "batch_size", "train.batch_size run.batch_size", "FinetuneParams"),
    (TrainConfig, "grad_accum", "train.grad_accum run.grad_accum", "FinetuneParams"),
    (TrainConfig, "max_length", "train.max_length run.max_length", "FinetuneParams"),
    (TrainConfig, "dtype", "train.dtype", ""),
    (TrainConfig, "lora_r", "train.lora_r", ""),
    (TrainConfig, "lora_alpha", "train.lora_alpha", ""),
    (TrainConfig, "lora_dropout", "train.lora_dropout", ""),
    (TrainConfig, "lora_target_modules", "train.lora_target_modules", ""),
    (TrainConfig, "merge", "train.merge", ""),
    (TrainConfig, "eval_samples", "train.eval_samples run.eval_samples", "FinetuneParams"),
    (TrainConfig, "eval_records", "train.eval_records", ""),
    (TrainConfig, "max_new_tokens", "train.max_new_tokens", ""),
    (TrainConfig, "seed", "train.seed", ""),
    (TrainConfig, "threads", "train.threads", ""),
    (TrainConfig, "save_steps", "train.save_steps run.save_steps", "FinetuneParams"),
    (TrainConfig, "save_total_limit", "train.save_total_limit run.save_total_limit", "FinetuneParams"),
]
# Where a command or form differs from the dataclass's default on purpose, and why.
OVERRIDES: dict[str, Any] = {
    "run.num_instructions": 250,  # the offline demo's size; generate's is Alpaca's 52,000
    # unset: the offline teacher names its own model, else TeacherConfig's; the URL is resolved at run time
    "generate.model": None, "run.model": None, "GenerateParams.model": None,
    "generate.base_url": None, "run.base_url": None, "GenerateParams.base_url": None,
    # the offline CPU demo's fine-tune (flows.settings.DEMO_TRAINING)
    "run.base_model": "smollm2-135m", "FinetuneParams.base_model": "smollm2-135m",
    "run.method": "lora", "FinetuneParams.method": "lora",
    "run.max_steps": 4, "FinetuneParams.max_steps": 4,
    "run.grad_accum": 1, "FinetuneParams.grad_accum": 1,
    "run.eval_samples": 3, "FinetuneParams.eval_samples": 3,
    # empty on the finetune form: the config file's value, else TrainConfig's
    "FinetuneParams.batch_size": None, "FinetuneParams.max_length": None,
    "FinetuneParams.save_steps": None, "FinetuneParams.save_total_limit": None,
}  # fmt: skip
# Settings of the flows alone that a command and a form share: the same help (flows.settings holds it).
FLOWS_SHARED = [
    ("generate.output_dir run.output_dir", "GenerateParams.output_dir"),
    ("generate.seed_tasks run.seed_tasks", "GenerateParams.seed_tasks"),
    ("generate.prices run.prices", "GenerateParams.prices"),
    ("dataset.repo_id run.repo_id", "DatasetParams.push_to_hub"),
    ("dataset.private run.private", "DatasetParams.private"),
    ("train.config_path run.config_file", "FinetuneParams.config_file"),
    ("train.overwrite run.overwrite", "FinetuneParams.overwrite"),
    ("generate.batch", "GenerateParams.batch"),
]
# Options and fields of one side only.
OWN = (
    "generate.no_cache generate.cache_path generate.no_progress run.no_cache run.skip_finetune "
    "run.dask_address train.output_dir dedup.output dedup.seed_tasks dedup.no_progress "
    "GenerateParams.batch_requests GenerateParams.parallel_batches GenerateParams.use_cache DatasetParams.run_dir "
    "FinetuneParams.dataset_path FinetuneParams.output_dir FinetuneParams.keep_models "
    "FinetuneParams.evaluate_examples"
).split()


def _option(where: str) -> click.Option:
    command, name = where.split(".")
    return next(param for param in main.commands[command].params if param.name == name)


def _form_field(where: str) -> Any:
    model, name = where.split(".")
    return FORMS[model].model_fields[name]


def _places(config: type, name: str, options: str, forms: str) -> tuple[list[str], list[str]]:
    fields = [form if "." in form else f"{form}.{name}" for form in forms.split()]
    return options.split(), fields


CASES = [pytest.param(*row, id=f"{row[0].__name__}.{row[1]}") for row in SHARED]


@pytest.mark.parametrize(("config", "name", "options", "forms"), CASES)
def test_commands_and_forms_show_the_dataclass_default_and_help(
    config: type, name: str, options: str, forms: str
) -> None:
    field = setting(config, name)
    library = None if field.default is dataclasses.MISSING else field.default  # None for a required setting
    help_text = field.metadata["help"]
    option_places, form_places = _places(config, name, options, forms)
    for where in option_places:
        option = _option(where)
        expected = OVERRIDES.get(where, library)
        assert option.default == (",".join(expected) if isinstance(expected, tuple) else expected), where
        assert option.help == help_text, where
        if isinstance(option.type, click.IntRange | click.FloatRange):
            assert _click_bounds(option.type) == _bounds(field.metadata), where
    for where in form_places:
        form_field = _form_field(where)
        assert form_field.default == OVERRIDES.get(where, library), where
        assert form_field.description == help_text or form_field.description.startswith(f"{help_text} Empty: "), where
        bounds = {
            bound: getattr(rule, bound) for rule in form_field.metadata for bound in BOUNDS if hasattr(rule, bound)
        }
        assert bounds == {bound: field.metadata[bound] for bound in BOUNDS if bound in field.metadata}, where


def _bounds(metadata: Any) -> tuple[Any, Any, bool, bool]:
    low, high = metadata.get("ge", metadata.get("gt")), metadata.get("le", metadata.get("lt"))
    return low, high, "gt" in metadata, "lt" in metadata


def _click_bounds(kind: click.IntRange | click.FloatRange) -> tuple[Any, Any, bool, bool]:
    return kind.min, kind.max, kind.min_open, kind.max_open


def test_every_override_is_a_real_difference_and_names_a_listed_place() -> None:
    places = {where for row in SHARED for where in sum(_places(*row), [])}
    assert set(OVERRIDES) <= places
    for where, value in OVERRIDES.items():
        config, name = next((row[0], row[1]) for row in SHARED if where in sum(_places(*row), []))
        assert value != setting(config, name).default, f"{where} is listed as an override but equals the dataclass"


def test_the_demo_overrides_are_one_train_config() -> None:
    """run and the finetune form train what DEMO_TRAINING declares, and only that, when nothing else is set."""
    form = FinetuneParams()
    assert load_train_config(None, {name: getattr(form, name) for name in TRAINING_FIELDS}) == DEMO_TRAINING


@pytest.mark.parametrize(("options", "form"), FLOWS_SHARED)
def test_settings_of_the_flows_have_one_help(options: str, form: str) -> None:
    description = _form_field(form).description
    for where in options.split():
        help_text = _option(where).help
        # a form's folders resolve under the outputs root (the CLI's, under the working directory): it says so
        assert description in (help_text, f"{help_text} {FOLDER_NOTE}") or description.startswith(
            f"{help_text} Empty: "
        ), where


def test_every_option_and_form_field_is_checked_by_a_table_above() -> None:
    listed = {where for row in SHARED for where in sum(_places(*row), [])}
    listed |= {where for options, form in FLOWS_SHARED for where in [*options.split(), form]} | set(OWN)
    options = [(command, param) for command in COMMANDS for param in main.commands[command].params]
    present = {f"{command}.{param.name}" for command, param in options if isinstance(param, click.Option)}
    present |= {f"{name}.{field}" for name, model in FORMS.items() for field in model.model_fields}
    present -= {f"{command}.help" for command in COMMANDS}
    assert sorted(present - listed) == [] and sorted(listed - present) == []


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, command in group.commands.items():
        found += _commands(command, (*path, name)) if isinstance(command, click.Group) else [(*path, name)]
    return found


@pytest.mark.parametrize("path", _commands(main), ids=lambda path: " ".join(path) or "main")
def test_every_command_has_help_without_hand_written_defaults(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    command: click.Command = main
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    for param in command.params:
        assert "[default" not in (getattr(param, "help", None) or ""), f"{path} {param.name}: use show_default"
        assert "[env" not in (getattr(param, "help", None) or ""), f"{path} {param.name}: use show_envvar"


PIPELINE_RESULT = {
    "generate": {"kept": 7, "run_dir": "RUN"},
    "dataset": {"dataset_dir": "D", "alpaca_json": "A", "card": "C", "report": "R", "hub_url": "https://hub/me/data"},
}


@pytest.fixture
def pipeline_calls(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """`run` hands its PipelineParams to this stand-in for the Prefect flow (no Prefect is loaded)."""
    calls: list[Any] = []
    flows_module = types.ModuleType("flows.alpaca")
    flows_module.alpaca_pipeline = lambda params: calls.append(params) or PIPELINE_RESULT  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "flows.alpaca", flows_module)
    return calls


def test_run_passes_its_options_into_the_pipeline_params(pipeline_calls: list[Any], tmp_path: Path) -> None:
    settings = tmp_path / "train.json"
    settings.write_text(json.dumps({"base_model": "my-model", "batch_size": 8}), encoding="utf-8")
    args = [
        "run", "-o", str(tmp_path / "run"), "--seed", "3", "--seed-tasks", "seeds.jsonl", "--api", "completions",
        "--rpm", "30", "--tpm", "9000", "--concurrency", "2", "--max-cost", "1.5", "--no-cache",
        "--license", "cc-by-nc-4.0", "--validation-size", "0.1", "--split-seed", "5", "--push-to-hub", "me/data",
        "--private", "--config", str(settings), "--learning-rate", "1e-4", "--overwrite",
    ]  # fmt: skip
    result = CliRunner().invoke(main, args, env={"OPENAI_BASE_URL": None})
    assert result.exit_code == 0, result.output
    assert "Pushed: https://hub/me/data" in result.output
    (params,) = pipeline_calls
    assert params.generate == GenerateParams(
        output_dir=str(tmp_path / "run"), num_instructions=250, seed_tasks="seeds.jsonl", api="completions",
        run_seed=3, rpm=30, tpm=9000, concurrency=2, max_cost=1.5, use_cache=False,
    )  # fmt: skip
    assert params.dataset == DatasetParams(
        validation_size=0.1, seed=5, license="cc-by-nc-4.0", push_to_hub="me/data", private=True
    )
    # With --config, the file sets what the command line leaves at its defaults: none of the demo's values.
    assert params.finetune.model_dump(exclude_none=True) == {
        "learning_rate": 1e-4, "config_file": str(settings), "overwrite": True, "keep_models": 3
    }  # fmt: skip
    overrides = {name: getattr(params.finetune, name) for name in TRAINING_FIELDS}
    config = load_train_config(params.finetune.config_file, overrides)
    assert (config.base_model, config.batch_size, config.learning_rate, config.method) == ("my-model", 8, 1e-4, "full")


def test_run_without_options_trains_the_demo(pipeline_calls: list[Any], tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", "-o", str(tmp_path / "run")], env={"OPENAI_BASE_URL": None})
    assert result.exit_code == 0, result.output
    (params,) = pipeline_calls
    assert params.generate.num_instructions == 250 and params.dataset == DatasetParams()
    overrides = {name: getattr(params.finetune, name) for name in TRAINING_FIELDS}
    assert load_train_config(None, overrides) == DEMO_TRAINING
    CliRunner().invoke(main, ["run", "-o", str(tmp_path / "run"), "--skip-finetune"], env={"OPENAI_BASE_URL": None})
    assert pipeline_calls[1].finetune is None


def test_train_leaves_the_settings_it_was_not_given_to_the_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pipeline.sft import finetune

    def capture(dataset: Path, output_dir: Path, config: TrainConfig, overwrite: bool) -> None:
        raise PipelineError(f"captured {json.dumps(config.to_dict())}")

    monkeypatch.setattr(finetune, "train", capture)
    settings = tmp_path / "train.json"
    settings.write_text(json.dumps({"base_model": "my-model", "method": "lora", "batch_size": 8}), encoding="utf-8")
    args = ["train", "data.json", "-o", str(tmp_path / "model"), "--config", str(settings), "--learning-rate", "1e-4"]
    result = CliRunner().invoke(main, [*args, "--lora-target-modules", "q_proj, v_proj", "--no-merge"])
    assert result.exit_code == 1 and "captured " in result.output, result.output
    config = json.loads(result.output.split("captured ", 1)[1])
    assert (config["base_model"], config["method"], config["batch_size"]) == ("my-model", "lora", 8)  # the file's
    assert config["learning_rate"] == 1e-4 and config["lora_target_modules"] == ["q_proj", "v_proj"]  # typed ones
    assert (config["epochs"], config["lora_r"]) == (3.0, 16)  # the rest: TrainConfig's defaults


def test_the_finetune_form_leaves_to_the_config_file_what_the_user_did_not_change() -> None:
    """configs/alpaca-7b.yaml through the finetune form: the form's demo defaults (SmolLM2, LoRA, 4 steps) must not
    override the file, whether the form was built in Python or arrives as the full dict the UI sends."""
    for form in (
        FinetuneParams(config_file="configs/alpaca-7b.yaml"),
        FinetuneParams.model_validate(FinetuneParams(config_file="configs/alpaca-7b.yaml").model_dump()),
    ):
        config = load_train_config(form.config_file, form.training_overrides())
        assert (config.base_model, config.method, config.epochs, config.max_steps) == (
            "meta-llama/Llama-2-7b-hf", "full", 3, None
        )  # fmt: skip
        assert (config.effective_batch_size, config.save_steps) == (128, 200)
    changed = FinetuneParams.model_validate({**form.model_dump(), "max_steps": 9, "learning_rate": 1e-4})
    config = load_train_config(changed.config_file, changed.training_overrides())
    assert (config.base_model, config.max_steps, config.learning_rate) == ("meta-llama/Llama-2-7b-hf", 9, 1e-4)

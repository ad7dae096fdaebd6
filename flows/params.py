"""Typed, validated parameters of each flow: the forms the Prefect UI shows for a deployment run.

Defaults, descriptions and bounds come from the library's config dataclasses (`flows.settings.form_field`); a form
default that differs from the library's on purpose is written next to its field.
"""

# No `from __future__ import annotations` here or in any flow module: flow.serve() needs real annotations.

from dataclasses import fields
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flows.settings import (
    BATCH_HELP,
    DEMO_TRAINING,
    ENDPOINT_FALLBACK,
    OVERWRITE_HELP,
    PRICES_HELP,
    PRIVATE_HELP,
    PROJECT_SEEDS,
    PUSH_TO_HUB_HELP,
    RUN_DIR_HELP,
    SEED_TASKS_HELP,
    TRAIN_CONFIG_HELP,
    default_of,
    form_field,
    shown,
)
from pipeline.dataset.config import DatasetConfig, Outputs, Rubric, Unjudged
from pipeline.generation.config import GenerateConfig, Tokenizer
from pipeline.sft.config import Method, TrainConfig
from pipeline.teacher.config import Api, TeacherConfig

ROLLING_RUN_DIR = (
    "rolling"  # the scheduled deployments' run folder under the outputs root, continued night after night
)
FOLDER_NOTE = "A relative folder is taken under the outputs root."


class GenerateParams(BaseModel):
    """Bootstrap new examples from seed tasks with a teacher LLM, into a run folder that later runs continue.

    The API key is never a parameter: it is only ever read from the worker's environment.
    """

    model_config = ConfigDict(extra="forbid")

    output_dir: str = Field(ROLLING_RUN_DIR, description=f"{RUN_DIR_HELP} {FOLDER_NOTE}")
    num_instructions: int = form_field(GenerateConfig, "num_instructions")
    seed_tasks: str | None = Field(None, description=f"{SEED_TASKS_HELP} Empty: {PROJECT_SEEDS}.")
    model: str | None = form_field(TeacherConfig, "model", default=None)  # empty: the offline teacher's own
    base_url: str | None = form_field(TeacherConfig, "base_url", default=None, unset=ENDPOINT_FALLBACK)
    api: Api = form_field(TeacherConfig, "api")
    run_seed: int = form_field(GenerateConfig, "run_seed")
    temperature: float = form_field(TeacherConfig, "temperature")
    top_p: float = form_field(TeacherConfig, "top_p")
    max_tokens: int = form_field(TeacherConfig, "max_tokens")
    timeout_s: float | None = form_field(TeacherConfig, "timeout_s")
    rouge_threshold: float = form_field(GenerateConfig, "rouge_threshold")
    tokenizer: Tokenizer = form_field(GenerateConfig, "tokenizer")
    concurrency: int = form_field(GenerateConfig, "max_concurrency")
    rpm: float | None = form_field(TeacherConfig, "rpm")
    tpm: float | None = form_field(TeacherConfig, "tpm")
    max_cost: float | None = form_field(GenerateConfig, "max_cost_usd")
    prices: str | None = Field(None, description=f"{PRICES_HELP} Empty: the built-in table.")
    num_demonstrations: int = form_field(GenerateConfig, "num_demonstrations")
    tasks_per_request: int = form_field(GenerateConfig, "tasks_per_request")
    max_requests: int | None = form_field(GenerateConfig, "max_requests")
    batch_requests: int = Field(64, ge=1, description="Requests per batch task.")
    parallel_batches: int = Field(
        4, ge=1, description="Batch tasks running at once, each with `concurrency` requests in flight and an equal "
        "share of the rpm and tpm budgets."
    )  # fmt: skip
    use_cache: bool = Field(True, description="Read and write the response cache.")
    batch: bool = Field(False, description=BATCH_HELP)


class DatasetParams(BaseModel):
    """Build the Hugging Face dataset, Alpaca JSON, card and report of a run folder."""

    model_config = ConfigDict(extra="forbid")

    run_dir: str = Field(
        ROLLING_RUN_DIR, description=f"The run folder written by generate-instructions. {FOLDER_NOTE}"
    )
    validation_size: float = form_field(DatasetConfig, "validation_size")
    seed: int = form_field(DatasetConfig, "seed")
    license: str = form_field(DatasetConfig, "license")
    min_score: float | None = form_field(DatasetConfig, "min_score")
    unjudged: Unjudged = form_field(DatasetConfig, "unjudged")
    outputs: Outputs = form_field(DatasetConfig, "outputs")
    rubric: Rubric = form_field(DatasetConfig, "rubric")
    push_to_hub: str | None = Field(None, description=f"{PUSH_TO_HUB_HELP} Empty: no upload.")
    private: bool = Field(False, description=PRIVATE_HELP)


class ReviewParams(BaseModel):
    """What judge and re-answer share: the run folder, the model that reviews it, and the budgets."""

    model_config = ConfigDict(extra="forbid")

    run_dir: str = Field(
        ROLLING_RUN_DIR, description=f"The run folder written by generate-instructions. {FOLDER_NOTE}"
    )
    model: str | None = form_field(TeacherConfig, "model", default=None)  # empty: the offline teacher's own
    base_url: str | None = form_field(TeacherConfig, "base_url", default=None, unset=ENDPOINT_FALLBACK)
    api: Api = form_field(TeacherConfig, "api")
    concurrency: int = form_field(GenerateConfig, "max_concurrency")
    rpm: float | None = form_field(TeacherConfig, "rpm")
    tpm: float | None = form_field(TeacherConfig, "tpm")
    max_cost: float | None = form_field(GenerateConfig, "max_cost_usd")
    batch_requests: int = Field(64, ge=1, description="Requests per batch task.")
    parallel_batches: int = Field(
        4, ge=1, description="Batch tasks running at once, each with an equal share of the rpm, tpm and cost budgets."
    )
    use_cache: bool = Field(True, description="Read and write the response cache.")
    batch: bool = Field(False, description=BATCH_HELP)


class JudgeParams(ReviewParams):
    """Score every kept example 0-5 with an LLM judge (AlpaGasus); then build the dataset with a min_score."""

    rubric: Rubric = form_field(DatasetConfig, "rubric")
    outputs: Outputs = Field("original", description="Judge the generated outputs, or the re-answered ones.")
    include_rejected: bool = Field(False, description="Also judge the examples the rules rejected (to measure them).")
    temperature: float = form_field(TeacherConfig, "temperature", default=0.0)  # a judge should not sample
    max_tokens: int = form_field(TeacherConfig, "max_tokens", default=256)  # a score and one sentence


class ReanswerParams(ReviewParams):
    """New outputs for the kept instructions from another teacher (Alpaca-GPT4); the originals are kept."""

    temperature: float = form_field(TeacherConfig, "temperature", default=0.7)
    max_tokens: int = form_field(TeacherConfig, "max_tokens", default=1024)


def _training(name: str, **attrs: Any) -> Any:
    """A TrainConfig setting that, left empty, takes the config file's value, else TrainConfig's default."""
    library = default_of(TrainConfig, name)
    unset = "the config file's" + (f", else {shown(library)}" if library is not None else "")
    return form_field(TrainConfig, name, default=attrs.pop("default", None), unset=unset, **attrs)


class FinetuneParams(BaseModel):
    """Supervised fine-tuning of a LLaMA-family model on a dataset (the latest published one by default).

    The defaults are the offline CPU demo's (flows.settings.DEMO_TRAINING); a config file sets a real run.
    """

    model_config = ConfigDict(extra="forbid")

    dataset_path: str | None = Field(
        None, description=f"Dataset folder; empty: the latest `alpaca-dataset` artifact. {FOLDER_NOTE}"
    )
    base_model: str | None = _training("base_model", default=DEMO_TRAINING.base_model)
    output_dir: str | None = Field(
        None, description="Model folder; empty: a new version in `models/` beside the dataset for each dataset and "
        f"settings (`models/latest.json` names the newest). {FOLDER_NOTE}",
    )  # fmt: skip
    keep_models: int = Field(3, ge=1, description="Versions kept in `models/`; older ones go once a new one is done.")
    evaluate_examples: int | None = Field(
        None, ge=1, description="Then measure the win rate against the base model on this many instructions of the "
        "project's evaluation set, judged by the teacher endpoint (the offline one when none is set). Empty: no.",
    )  # fmt: skip
    method: Method | None = _training("method", default=DEMO_TRAINING.method)
    max_steps: int | None = _training("max_steps", default=DEMO_TRAINING.max_steps)
    learning_rate: float | None = _training("learning_rate")
    batch_size: int | None = _training("batch_size")
    grad_accum: int | None = _training("grad_accum", default=DEMO_TRAINING.grad_accum)
    max_length: int | None = _training("max_length")
    eval_samples: int | None = _training("eval_samples", default=DEMO_TRAINING.eval_samples)
    save_steps: int | None = _training("save_steps")
    save_total_limit: int | None = _training("save_total_limit")
    config_file: str | None = Field(None, description=TRAIN_CONFIG_HELP)
    overwrite: bool = Field(False, description=OVERWRITE_HELP)

    def training_overrides(self) -> dict[str, Any]:
        """The training settings to lay over the config file: with a config file, only those the user changed from
        the form's defaults (a field left at its default takes the file's value); without one, all of them."""
        values = {name: getattr(self, name) for name in TRAINING_FIELDS}
        if self.config_file is None:
            return values
        defaults = {name: FinetuneParams.model_fields[name].default for name in TRAINING_FIELDS}
        return {name: value for name, value in values.items()
                if name in self.model_fields_set and value != defaults[name]}  # fmt: skip


# The form fields that are TrainConfig settings, passed on as overrides of the config file.
TRAINING_FIELDS = tuple(field.name for field in fields(TrainConfig) if field.name in FinetuneParams.model_fields)


class PipelineParams(BaseModel):
    """The whole run: generate, build the dataset, fine-tune (optional)."""

    model_config = ConfigDict(extra="forbid")

    generate: GenerateParams = Field(default_factory=GenerateParams)
    reanswer: ReanswerParams | None = Field(None, description="Empty: keep the generated outputs. run_dir: the run's.")
    judge: JudgeParams | None = Field(
        None, description="Empty: no judge. run_dir is the run's; set dataset.min_score."
    )
    dataset: DatasetParams = Field(default_factory=DatasetParams, description="run_dir is taken from generate.")
    finetune: FinetuneParams | None = Field(
        default_factory=FinetuneParams, description="Empty: stop after the dataset. dataset_path is the run's dataset."
    )

"""Typed, validated parameters of each flow: the forms the Prefect UI shows for a deployment run."""

# No `from __future__ import annotations` here or in any flow module: flow.serve() needs real annotations.

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class GenerateParams(BaseModel):
    """Bootstrap new examples from seed tasks with a teacher LLM, into a run folder that later runs continue."""

    model_config = ConfigDict(extra="forbid")

    output_dir: str = Field(
        "outputs/rolling", description="Run folder; an existing run with the same settings is continued."
    )
    num_instructions: int = Field(52_000, ge=1, description="Stop when this many new examples are kept.")
    seed_tasks: str | None = Field(None, description="Seed task file; empty: the project's 175 seed tasks.")
    model: str | None = Field(None, description="Teacher model; empty: gpt-4o-mini, or the offline teacher.")
    base_url: str | None = Field(
        None, description="OpenAI-compatible API URL; empty: OPENAI_BASE_URL, else OpenAI when OPENAI_API_KEY is set, "
        "else the built-in offline teacher. The key is only ever read from the worker's environment."
    )  # fmt: skip
    api: Literal["chat", "completions"] = Field("chat", description="Chat messages or a plain completion prompt.")
    run_seed: int = Field(0, description="Fixes each request's prompt; part of the run's identity.")
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(3072, ge=1, description="Token budget per answer.")
    rouge_threshold: float = Field(
        0.7, gt=0, le=1, description="Drop an instruction whose ROUGE-L F to any kept one exceeds this."
    )
    tokenizer: Literal["rouge", "unicode"] = Field(
        "rouge", description="ROUGE-L tokenizer (rouge: the exact Alpaca rule)."
    )
    concurrency: int = Field(16, ge=1, description="Requests in flight inside each batch task.")
    rpm: float | None = Field(
        None, gt=0, description="Requests/minute budget for the whole run (split over batch tasks)."
    )
    tpm: float | None = Field(
        None, gt=0, description="Tokens/minute budget for the whole run (split over batch tasks)."
    )
    max_cost: float | None = Field(None, ge=0, description="Stop (resumably) once this many US dollars are spent.")
    batch_requests: int = Field(64, ge=1, description="Requests per batch task.")
    parallel_batches: int = Field(4, ge=1, description="Batch tasks running at once.")
    use_cache: bool = Field(True, description="Read and write the response cache.")


class DatasetParams(BaseModel):
    """Build the Hugging Face dataset, Alpaca JSON, card and report of a run folder."""

    model_config = ConfigDict(extra="forbid")

    run_dir: str = Field("outputs/rolling", description="The run folder written by generate-instructions.")
    validation_size: float = Field(0.02, ge=0, lt=1, description="Share of examples held out for validation.")
    seed: int = Field(0, description="Seed of the train/validation split.")
    license: str = Field("unknown", description="License id for the dataset card; check the teacher's terms of use.")


class FinetuneParams(BaseModel):
    """Supervised fine-tuning of a LLaMA-family model on a dataset (the latest published one by default)."""

    model_config = ConfigDict(extra="forbid")

    dataset_path: str | None = Field(None, description="Dataset folder; empty: the latest `alpaca-dataset` artifact.")
    base_model: str = Field("smollm2-135m", description="Local model folder, hub id, `smollm2-135m` or `gguf:FILE`.")
    output_dir: str | None = Field(None, description="Model folder; empty: `model/` beside the dataset.")
    method: Literal["full", "lora", "qlora"] = Field("lora")
    max_steps: int | None = Field(4, ge=1, description="Optimizer steps; empty: Alpaca's 3 epochs.")
    learning_rate: float | None = Field(None, gt=0, description="Empty: 2e-5 (full) or 2e-4 (LoRA).")
    batch_size: int = Field(4, ge=1)
    grad_accum: int | None = Field(1, ge=1, description="Batches per step; empty: Alpaca's effective batch of 128.")
    max_length: int = Field(512, ge=16)
    eval_samples: int = Field(3, ge=0, description="Held-out instructions answered before and after training.")
    save_steps: int | None = Field(
        None, ge=0, description="Optimizer steps between checkpoints, which a re-run resumes from; 0: none; "
        "empty: the config file's, else 200."
    )  # fmt: skip
    save_total_limit: int | None = Field(None, ge=1, description="Checkpoints kept; empty: the config file's, else 1.")
    config_file: str | None = Field(
        None, description="A training config file (configs/*.yaml); fields above override it."
    )
    overwrite: bool = Field(
        False, description="Replace a model, or an unfinished run, this stage wrote before in output_dir."
    )


class PipelineParams(BaseModel):
    """The whole run: generate, build the dataset, fine-tune (optional)."""

    model_config = ConfigDict(extra="forbid")

    generate: GenerateParams = Field(default_factory=GenerateParams)
    dataset: DatasetParams = Field(default_factory=DatasetParams, description="run_dir is taken from generate.")
    finetune: FinetuneParams | None = Field(
        default_factory=FinetuneParams, description="Empty: stop after the dataset. dataset_path is the run's dataset."
    )

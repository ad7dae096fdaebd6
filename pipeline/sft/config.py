"""The SFT settings: Alpaca's recipe as defaults, read from a YAML/JSON file with command-line overrides on top."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from pipeline.core.errors import PipelineError

METHODS = ("full", "lora", "qlora")
DTYPES = ("float32", "bfloat16", "float16")
LLAMA_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")  # every LLaMA linear


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """How to fine-tune. Defaults are Alpaca's published recipe (tatsu-lab/stanford_alpaca README, 4×A100 run)."""

    base_model: str  # a local model folder, a hub id, `smollm2-135m` (offline) or `gguf:FILE`
    method: str = "full"  # full | lora | qlora; Alpaca fine-tuned every weight
    epochs: float = 3.0  # Alpaca: 3
    max_steps: int | None = None  # stop after this many optimizer steps (demos, smoke tests); overrides epochs
    learning_rate: float | None = None  # None: 2e-5 for full (Alpaca), 2e-4 for LoRA (adapters want ~10× more)
    lr_scheduler: str = "cosine"  # Alpaca: cosine
    warmup_ratio: float = 0.03  # Alpaca: 3 % of the steps
    weight_decay: float = 0.0  # Alpaca: 0
    max_length: int = 512  # Alpaca: model_max_length 512; longer examples are truncated
    batch_size: int = 4  # per device; Alpaca: 4 per GPU
    grad_accum: int | None = None  # None: effective_batch_size / (batch_size × devices)
    effective_batch_size: int = 128  # Alpaca: 4 per GPU × 8 accumulation × 4 GPUs
    dtype: str = "float32"  # weights as loaded; fp32 master weights like Alpaca, bfloat16 to fit LoRA on small GPUs
    bf16: bool | None = None  # bf16 autocast; None: on wherever CUDA supports it (Alpaca: --bf16 True)
    gradient_checkpointing: bool = False  # Alpaca ran without it; turn on to fit bigger batches in less memory
    seed: int = 42
    validation_fraction: float = 0.02  # share carved off for validation when the dataset has no such split
    lora_r: int = 16
    lora_alpha: int = 32  # scaling alpha / r = 2
    lora_dropout: float = 0.05
    lora_target_modules: tuple[str, ...] = LLAMA_LINEAR
    merge: bool = False  # also save the adapter folded into the base, as a standalone model in merged/
    eval_samples: int = 5  # held-out instructions (first validation records) answered before and after training
    max_new_tokens: int = 64  # per sample; greedy
    save_steps: int = 200  # optimizer steps between checkpoints (OUTPUT/checkpoints/) to resume from; 0: none
    save_total_limit: int = 1  # checkpoints kept, the newest; a 7B full fine-tune's is ~81 GB (fp32 weights + Adam)
    threads: int | None = None  # torch CPU threads; None: 1 (2 threads can be 10× slower on a busy 2-core box)

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

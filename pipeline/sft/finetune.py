"""Supervised fine-tuning on an Alpaca dataset with TRL's SFTTrainer: full, LoRA or QLoRA, evaluated before/after.

torch, transformers, trl and peft are imported inside functions only, so importing this module stays cheap.
Under `accelerate launch` every process runs `train`; only the main one writes the report, card and merge.
A run saves Trainer checkpoints every `save_steps` steps; running the same request again on an unfinished folder
resumes from the newest complete one, and they are deleted once the run has finished.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline.core.jsonio import write_json_atomic
from pipeline.core.lock import FolderLock
from pipeline.sft.config import TrainConfig, load_train_config
from pipeline.sft.data import SftData, load_sft_data, to_prompt_completion
from pipeline.sft.eval import EVAL_JSON, EVAL_MD, MODEL_CARD, generate_samples, write_eval, write_model_card
from pipeline.sft.folder import (
    CHECKPOINTS,
    REQUEST,
    claim_output_dir,
    is_main_process,
    last_checkpoint,
    load_final_checkpoint,
    prune_versions,
    record_latest,
    remove_checkpoints,
    version_name,
)
from pipeline.sft.model import (
    check_qlora_available,
    load_model,
    load_tokenizer,
    lora_config,
    merge_adapter,
    resolve_base_model,
)
from pipeline.sft.template import use_alpaca_template, write_generation_config

__all__ = ["TrainConfig", "TrainResult", "build_trainer", "load_train_config", "train", "train_version"]

log = logging.getLogger(__name__)

MERGED = "merged"
BASELINE = "baseline.json"  # the base model's validation loss and answers, measured once for a resumed run to reuse
NOT_IN_REQUEST = ("threads", "save_steps", "save_total_limit")  # settings that change neither model nor report


@dataclass(frozen=True, slots=True)
class TrainResult:
    """Where a training run put its outputs, and its report (the content of eval.json)."""

    output_dir: Path
    merged_dir: Path | None
    card: Path
    eval_json: Path
    eval_md: Path
    report: dict[str, Any]
    reused: bool  # True when the folder already held this exact run and nothing was trained
    version: str | None = None  # the version folder's name, when trained by train_version


def train(dataset: str | Path, output_dir: str | Path, config: TrainConfig, overwrite: bool = False) -> TrainResult:
    """Fine-tune `config.base_model` on an Alpaca dataset into `output_dir`, evaluating before and after.

    Raises:
        InputDataError: the dataset is missing, not a dataset, or lacks instruction/input/output.
        RunDirError: `output_dir` holds another model (pass overwrite=True to replace one written by train).
        PipelineError: the base model cannot be found or loaded, or QLoRA is asked for without CUDA.
    """
    data = load_sft_data(dataset, config.validation_fraction, config.seed)
    return _train(data, Path(output_dir), config, overwrite)


def train_version(dataset: str | Path, models_dir: str | Path, config: TrainConfig, keep: int = 3) -> TrainResult:
    """Fine-tune into a version folder of `models_dir` named for the dataset and the settings
    (`<records>-examples-<key>`): a grown dataset gets a new version instead of tripping over the last one, and
    the same dataset and settings again find their finished version ("nothing to train"). Once the version is
    complete, `latest.json` names it and only the newest `keep` versions remain.
    """
    data = load_sft_data(dataset, config.validation_fraction, config.seed)
    models_dir = Path(models_dir).expanduser().resolve()
    request = _request(data, config)
    version = version_name(len(data.train) + len(data.validation), request)
    result = _train(data, models_dir / version, config, overwrite=False)
    if is_main_process():
        record_latest(models_dir, version, request, result.report)
        prune_versions(models_dir, keep, current=version)
    return replace(result, version=version)


def _request(data: SftData, config: TrainConfig) -> dict[str, Any]:
    """What a model folder is trained from: the dataset, its content and the settings that shape the model."""
    request = {
        "dataset": str(data.source),
        "dataset_sha256": data.fingerprint(),
        "config": {k: v for k, v in config.to_dict().items() if k not in NOT_IN_REQUEST},
    }
    return json.loads(json.dumps(request))  # tuples -> lists, as they will read back from disk


def _train(data: SftData, output_dir: Path, config: TrainConfig, overwrite: bool) -> TrainResult:
    if config.method == "qlora":
        check_qlora_available()
    resolve_base_model(config.base_model)  # a wrong path fails here, before the output folder is touched
    output_dir = output_dir.expanduser().resolve()
    # Beside the folder, not in it: --overwrite deletes the folder. Under `accelerate launch`, rank 0 holds it.
    lock = FolderLock(output_dir.with_name(f".{output_dir.name}.lock"), "model folder", "pass another --output-dir")
    if is_main_process():
        lock.acquire()
    try:
        return _train_locked(data, output_dir, config, overwrite)
    finally:
        lock.release()


def _train_locked(data: SftData, output_dir: Path, config: TrainConfig, overwrite: bool) -> TrainResult:
    request = _request(data, config)
    if claim_output_dir(output_dir, request, overwrite):
        if is_main_process():
            remove_checkpoints(output_dir)  # left by a run stopped between finishing and deleting them
        report = json.loads((output_dir / EVAL_JSON).read_text(encoding="utf-8"))
        return _result(output_dir, report, reused=True)

    single_process = int(os.environ.get("WORLD_SIZE", "1")) == 1
    checkpoint = last_checkpoint(output_dir / CHECKPOINTS)
    trainer, base_path = build_trainer(data, output_dir, config)
    tokenizer = trainer.processing_class
    samples = list(data.validation[: config.eval_samples]) if single_process else []
    if not single_process and config.eval_samples:
        log.warning("Generation samples are skipped under a multi-process launch; validation loss is still measured")

    baseline = _baseline(trainer, output_dir, samples, config.max_new_tokens)
    resumed_from = None
    started = time.perf_counter()
    if checkpoint is None:
        trainer.train()
    else:
        folder, state = checkpoint
        resumed_from = state["global_step"]
        log.info("resuming from step %d of %d (%s)", resumed_from, state["max_steps"], folder)
        if resumed_from < state["max_steps"]:
            trainer.train(resume_from_checkpoint=str(folder))
        else:  # stopped after its last step: resuming would train one step too many (transformers 5.24, mid-epoch)
            load_final_checkpoint(trainer, folder)
    seconds = time.perf_counter() - started
    fine_tuned_loss = trainer.evaluate()["eval_loss"]
    after = generate_samples(trainer.model, tokenizer, samples, config.max_new_tokens)
    use_alpaca_template(tokenizer)  # saved with the model: apply_chat_template prompts it as it was trained
    trainer.save_model(str(output_dir))  # collective under FSDP: every process takes part

    merged_dir = output_dir / MERGED if config.merge else None
    if is_main_process():
        write_generation_config(output_dir, tokenizer)
        if merged_dir:
            merge_adapter(base_path, output_dir, merged_dir, config.dtype, tokenizer)
            write_generation_config(merged_dir, tokenizer)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    steps = trainer.state.global_step
    steps_here = steps - (resumed_from or 0)  # what this process trained, in `seconds`
    report = {
        "dataset": str(data.source),
        "dataset_card": str(data.card) if data.card else None,
        "base_model": config.base_model,
        "base_model_path": str(base_path),
        "method": config.method,
        "hyperparameters": _hyperparameters(config, trainer.args),
        "train": {
            "records": len(data.train),
            "steps": steps,
            "seconds": round(seconds, 3),
            "seconds_per_step": round(seconds / steps_here, 4) if steps_here else None,
            "final_loss": losses[-1] if losses else None,
            "losses": losses,  # a resumed run's include those logged before its checkpoint
            "resumed_from_step": resumed_from,
        },
        "validation": {
            "records": len(data.validation),
            "evaluated_records": len(data.validation[: config.eval_records]),
            "carved": data.validation_carved,
            "base_loss": baseline["base_loss"],
            "fine_tuned_loss": _finite(fine_tuned_loss),
        },
        "samples": [
            {
                "instruction": record["instruction"],
                "input": record["input"],
                "reference": record["output"],
                "before": first,
                "after": second,
            }
            for record, first, second in zip(samples, baseline["before"], after, strict=True)
        ],
        "outputs": {"model": str(output_dir), "merged": str(merged_dir) if merged_dir else None},
        "versions": _versions(),
    }
    if is_main_process():
        write_eval(output_dir, report)
        write_model_card(output_dir, report)
        write_json_atomic(output_dir / REQUEST, {**request, "complete": True})  # marks the folder finished
        remove_checkpoints(output_dir)  # only now: a crash before the marker resumes from them
    return _result(output_dir, report, reused=False)


def _result(output_dir: Path, report: dict[str, Any], reused: bool) -> TrainResult:
    merged = report["outputs"]["merged"]
    return TrainResult(
        output_dir=output_dir,
        merged_dir=Path(merged) if merged else None,
        card=output_dir / MODEL_CARD,
        eval_json=output_dir / EVAL_JSON,
        eval_md=output_dir / EVAL_MD,
        report=report,
        reused=reused,
    )


def build_trainer(data: SftData, output_dir: Path, config: TrainConfig) -> tuple[Any, Path | str]:
    """Load the base model and tokenizer and wrap them with the prompt/completion data in an SFTTrainer.

    Returns the trainer and where the base model was loaded from (the hub id, or a local folder).
    """
    import torch
    from trl import SFTConfig, SFTTrainer

    cuda = torch.cuda.is_available()
    if not cuda:
        torch.set_num_threads(config.threads or 1)
    base_path = resolve_base_model(config.base_model)
    tokenizer = load_tokenizer(base_path)
    model = load_model(base_path, config.dtype, quantize_4bit=config.method == "qlora")
    peft_config = None
    if config.method != "full":
        peft_config = lora_config(
            model, config.lora_r, config.lora_alpha, config.lora_dropout, config.lora_target_modules
        )
    bf16 = config.bf16 if config.bf16 is not None else cuda and torch.cuda.is_bf16_supported()
    devices = int(os.environ.get("WORLD_SIZE", "1"))
    # SFTConfig's own defaults differ from TrainingArguments' (bf16 and gradient checkpointing on, logging every
    # 10 steps), so every setting that matters is spelled out here.
    args = SFTConfig(
        output_dir=str(output_dir / CHECKPOINTS),  # where Trainer writes checkpoints; the model is saved apart
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        learning_rate=config.resolved_learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,  # transformers 5: a float below 1 is a ratio of the total steps
        weight_decay=config.weight_decay,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation(devices),
        max_length=config.max_length,
        completion_only_loss=True,  # loss on the response only, as Alpaca's IGNORE_INDEX on the prompt
        packing=False,
        bf16=bf16,
        tf32=True if bf16 and cuda else None,  # Alpaca: --tf32 True on A100s
        activation_checkpointing=config.gradient_checkpointing,  # transformers 5's name for gradient checkpointing
        activation_checkpointing_kwargs={"use_reentrant": False} if config.gradient_checkpointing else None,
        use_cpu=not cuda,
        seed=config.seed,
        logging_steps=1,  # Alpaca logged every step; tiny runs need it to see any loss at all
        eval_strategy="no",
        save_strategy="steps" if config.save_steps else "no",
        save_steps=config.save_steps or 500,  # 500: TrainingArguments' default, unused when save_strategy is "no"
        save_total_limit=config.save_total_limit,  # Trainer deletes older ones once a newer one is complete
        report_to="none",
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=_pairs(data.train),
        eval_dataset=_pairs(data.validation[: config.eval_records]),  # capped: evaluation can outlast training
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[_progress_logger()],
    )
    return trainer, base_path


def _progress_logger() -> Any:
    """A Trainer callback that logs loss and learning rate at every logging step on this module's logger: Trainer
    only prints them, and a Prefect flow run's logs collect log records, not prints."""
    from transformers import TrainerCallback

    class ProgressLogger(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **_: Any) -> None:
            if state.is_world_process_zero and logs and "loss" in logs:  # not eval's or the end-of-training summary
                log.info("step %d of %d: loss %.4f, learning rate %.3g", state.global_step, state.max_steps,
                         logs["loss"], logs["learning_rate"])  # fmt: skip

    return ProgressLogger()


def _pairs(records: tuple[dict[str, str], ...]) -> Any:
    """Records -> an in-memory prompt/completion Dataset (no cache files written next to the source data)."""
    from datasets import Dataset

    return Dataset.from_list([to_prompt_completion(record) for record in records])


def _baseline(trainer: Any, output_dir: Path, samples: list[dict[str, str]], max_new_tokens: int) -> dict[str, Any]:
    """The base model's validation loss and answers to `samples`: measured once, then read back when resuming."""
    path = output_dir / BASELINE
    if path.is_file():
        baseline = json.loads(path.read_text(encoding="utf-8"))
        if len(baseline["before"]) == len(samples):  # unless measured by a launch with another process count
            return baseline
    baseline = {
        "base_loss": _finite(trainer.evaluate()["eval_loss"]),
        "before": generate_samples(trainer.model, trainer.processing_class, samples, max_new_tokens),
    }
    if is_main_process():
        write_json_atomic(path, baseline)
    return baseline


def _hyperparameters(config: TrainConfig, args: Any) -> dict[str, Any]:
    """The settings that shaped the model, as resolved (learning rate, accumulation, precision)."""
    devices = int(os.environ.get("WORLD_SIZE", "1"))
    skip = ("base_model", "eval_samples", "eval_records", "max_new_tokens", *NOT_IN_REQUEST)  # do not shape the model
    hyper = {name: value for name, value in config.to_dict().items() if name not in skip}
    hyper.update(
        learning_rate=args.learning_rate,
        grad_accum=args.gradient_accumulation_steps,
        devices=devices,
        effective_batch_size=args.per_device_train_batch_size * args.gradient_accumulation_steps * devices,
        bf16=bool(args.bf16),
    )
    if config.method == "full":
        hyper = {name: value for name, value in hyper.items() if not name.startswith("lora_") and name != "merge"}
    return hyper


def _versions() -> dict[str, str]:
    names = ("alpaca-pipeline", "torch", "transformers", "trl", "peft", "datasets", "accelerate")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None

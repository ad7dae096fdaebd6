"""The output folder of a training run: whose it is (train_request.json), its checkpoints, and what a re-run finds;
and the versions of a models folder (one per dataset and settings, `latest.json` naming the newest).

A folder belongs to one request (dataset, its content, the settings that shape the model). The same request on an
unfinished folder resumes from its newest complete checkpoint; another request is refused unless overwritten; a
folder `train` did not write is never deleted. Trainer writes the checkpoints; this module only reads and prunes them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from pipeline.core.errors import RunDirError
from pipeline.core.jsonio import write_json_atomic

log = logging.getLogger(__name__)

REQUEST = "train_request.json"  # what this folder is being trained from; marks the folder as ours
CHECKPOINTS = "checkpoints"  # Trainer's output_dir: checkpoint-N folders, apart from the final model's files
TRAINER_STATE = "trainer_state.json"  # the last file Trainer._save_checkpoint writes: marks a checkpoint complete
# Weights and optimizer files that a complete checkpoint also holds (full or adapter; plain or FSDP full state dict)
CHECKPOINT_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors")
CHECKPOINT_OPTIMIZER = ("optimizer.pt", "optimizer.bin")
LATEST = "latest.json"  # in a models folder: which version is the newest complete one


def claim_output_dir(output_dir: Path, request: dict[str, Any], overwrite: bool) -> bool:
    """Make `output_dir` ours for this request; True when it already holds this exact, finished run.

    An unfinished run of the same request is kept, to resume from its checkpoints. A folder this command wrote for
    another request is replaced only with `overwrite`; a folder it did not write is never deleted.
    """
    if not output_dir.exists() or not any(output_dir.iterdir()):
        write_request(output_dir, request)
        return False
    marker = output_dir / REQUEST
    if not marker.is_file():
        raise RunDirError(
            f"{output_dir} is not empty and was not written by `alpaca-pipeline train`; "
            "choose a new --output-dir (nothing there is deleted)"
        )
    previous = json.loads(marker.read_text(encoding="utf-8"))
    complete = previous.pop("complete", False)
    if not overwrite:
        if previous == request:
            if complete:
                log.info("%s already holds this model; nothing to train", output_dir)
            return complete
        base = previous.get("config", {}).get("base_model")
        what = "another model" if complete else "an unfinished run of another model"
        raise RunDirError(
            f"{output_dir} holds {what} ({base} on {previous.get('dataset')}; differs in: "
            f"{', '.join(_differences(previous, request))}); "
            "choose a new --output-dir or pass --overwrite to replace it"
        )
    if is_main_process():
        shutil.rmtree(output_dir)
        write_request(output_dir, request)
    return False


def _differences(previous: dict[str, Any], request: dict[str, Any]) -> list[str]:
    """The dataset fields and setting names in which two requests differ, e.g. ["learning_rate"]."""
    names = [name for name in ("dataset", "dataset_sha256") if previous.get(name) != request[name]]
    old, new = previous.get("config", {}), request["config"]
    return names + sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))


def last_checkpoint(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest complete checkpoint-N in `folder` and its trainer state; None when there is none.

    Trainer writes a checkpoint in place (weights, optimizer, scheduler, RNG, then trainer_state.json last), so a
    process killed mid-save leaves a folder without a readable trainer_state.json. Such folders are deleted: Trainer's
    rotation, which always keeps the newest folder, must never keep a broken one in place of a complete checkpoint.
    """
    found = []
    for path in [path for path in folder.glob("checkpoint-*") if path.is_dir()]:
        state = _checkpoint_state(path)
        if state is None:
            log.warning("%s was cut short while being saved: deleting it", path)
            if is_main_process():
                shutil.rmtree(path)
        else:
            found.append((state["global_step"], path, state))
    if not found:
        return None
    _, path, state = max(found, key=lambda item: item[0])
    return path, state


def _checkpoint_state(path: Path) -> dict[str, Any] | None:
    """A checkpoint's trainer state, or None when the checkpoint is incomplete."""
    try:
        state = json.loads((path / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):  # missing, or cut short while being written
        return None
    complete = (
        path.name == f"checkpoint-{state.get('global_step')}"
        and any((path / name).is_file() for name in CHECKPOINT_WEIGHTS)
        and any((path / name).is_file() for name in CHECKPOINT_OPTIMIZER)
    )
    return state if complete else None


def load_final_checkpoint(trainer: Any, folder: Path) -> None:
    """Put a checkpoint taken at the last step into `trainer` as if it had just trained: weights and state."""
    from transformers import TrainerState

    trainer._load_from_checkpoint(str(folder))  # what train(resume_from_checkpoint=...) calls first to load weights
    trainer.state = TrainerState.load_from_json(str(folder / TRAINER_STATE))


def remove_checkpoints(output_dir: Path) -> None:
    if (output_dir / CHECKPOINTS).exists():
        shutil.rmtree(output_dir / CHECKPOINTS)


def write_request(output_dir: Path, request: dict[str, Any]) -> None:
    if is_main_process():
        write_json_atomic(output_dir / REQUEST, {**request, "complete": False})


def is_main_process() -> bool:
    """Under `accelerate launch` (torchrun's RANK), only rank 0 writes files other than the model itself."""
    return os.environ.get("RANK", "0") == "0"


def version_name(records: int, request: dict[str, Any]) -> str:
    """A model version's folder name: the dataset's size, and a key of the dataset's content and the settings."""
    key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:10]
    return f"{records}-examples-{key}"


def record_latest(models_dir: Path, version: str, request: dict[str, Any], report: dict[str, Any]) -> None:
    """Name `version` the newest model of `models_dir` (written atomically, after the version is complete)."""
    write_json_atomic(
        models_dir / LATEST,
        {
            "version": version,
            "model_dir": str(models_dir / version),
            "merged_dir": report["outputs"]["merged"],
            "dataset": request["dataset"],
            "dataset_sha256": request["dataset_sha256"],
            "base_model": request["config"]["base_model"],
            "base_loss": report["validation"]["base_loss"],
            "fine_tuned_loss": report["validation"]["fine_tuned_loss"],
        },
    )


def prune_versions(models_dir: Path, keep: int, current: str) -> list[Path]:
    """Delete all but the newest `keep` complete versions of `models_dir` (never `current`), and unfinished versions
    older than `current`; folders `train` did not write are left alone. Returns what was deleted."""
    versions = []
    for folder in models_dir.iterdir():
        marker = folder / REQUEST
        if folder.is_dir() and marker.is_file():
            try:
                complete = json.loads(marker.read_text(encoding="utf-8")).get("complete", False)
            except (OSError, ValueError):
                complete = False  # cut short while being written: an unfinished run
            versions.append((marker.stat().st_mtime, folder, complete))
    newest_first = sorted(versions, key=lambda item: (item[1].name != current, -item[0]))
    kept = 0
    current_time = next((mtime for mtime, folder, _ in versions if folder.name == current), None)
    removed = []
    for mtime, folder, complete in newest_first:
        if folder.name == current:
            kept += 1
            continue
        if complete and kept < keep:
            kept += 1
            continue
        if not complete and (current_time is None or mtime >= current_time):
            continue  # an unfinished run newer than this one: perhaps still training
        log.info("removing model version %s (keeping the newest %d)", folder, keep)
        shutil.rmtree(folder)
        folder.with_name(f".{folder.name}.lock").unlink(missing_ok=True)  # its train lock, free: it was finished
        removed.append(folder)
    return removed

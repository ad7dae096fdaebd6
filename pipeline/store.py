"""The run folder: a manifest, append-only JSONL journals of kept and rejected examples, and stats."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pipeline.errors import RunDirError

MANIFEST = "manifest.json"
KEPT = "kept.jsonl"
REJECTED = "rejected.jsonl"
STATS = "stats.json"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that a crash leaves either the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, path)


class RunStore:
    """Owns the files of one run folder; appends are flushed and fsynced once per processed answer."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._journals: dict[str, Any] = {}

    def create(self, manifest: dict[str, Any]) -> None:
        """Start a new run here; an earlier run's results are never overwritten."""
        if (self.root / KEPT).exists() or (self.root / MANIFEST).exists():
            raise RunDirError(
                f"{self.root} already holds a run; pass a new --output-dir "
                "(continuing an existing run folder is not supported yet)"
            )
        if self.root.exists() and not self.root.is_dir():
            raise RunDirError(f"{self.root} is a file; --output-dir must be a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.root / MANIFEST, manifest)
        for name in (KEPT, REJECTED):
            self._journals[name] = open(self.root / name, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def append(self, name: str, record: dict[str, Any]) -> None:
        self._journals[name].write(json.dumps(record, ensure_ascii=False) + "\n")

    def sync(self) -> None:
        """Make every appended line durable: called after each answer is processed."""
        for handle in self._journals.values():
            handle.flush()
            os.fsync(handle.fileno())

    def write_stats(self, stats: dict[str, Any]) -> None:
        write_json_atomic(self.root / STATS, stats)

    def close(self) -> None:
        self.sync()
        for handle in self._journals.values():
            handle.close()
        self._journals.clear()


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a journal written by RunStore."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]

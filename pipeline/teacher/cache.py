"""On-disk cache of teacher responses (SQLite in WAL mode), keyed by everything that determines an answer."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1  # part of every key: a change of what a key covers invalidates old entries


def default_cache_path() -> Path:
    """`$ALPACA_PIPELINE_CACHE`, else `$XDG_CACHE_HOME/alpaca-pipeline/teacher.sqlite` (~/.cache by default)."""
    if explicit := os.environ.get("ALPACA_PIPELINE_CACHE"):
        return Path(explicit)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "alpaca-pipeline" / "teacher.sqlite"


def request_key(request: dict[str, Any], sample: int) -> str:
    """Hash of the request body (endpoint, model, decoding parameters, prompt) and the sample number.

    The caller passes only what determines the answer: never the API key, the base URL or headers, so a
    key never reaches the cache and a local server on a new port still hits the same entries.
    """
    canonical = json.dumps({"v": SCHEMA_VERSION, "request": request, "sample": sample}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResponseCache:
    """A key -> JSON response store; each put is one committed transaction, so a crash loses at most it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, response TEXT NOT NULL)")

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, response: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, response) VALUES (?, ?)", (key, json.dumps(response))
            )

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def clear(self) -> int:
        """Delete every entry; returns how many there were."""
        with self._lock:
            count = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
            self._db.execute("DELETE FROM responses")
            self._db.execute("VACUUM")
        return count

    def close(self) -> None:
        with self._lock:
            self._db.close()

"""On-disk cache of teacher responses (SQLite in WAL mode), keyed by everything that determines an answer."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from pipeline.core.errors import PipelineError

log = logging.getLogger(__name__)

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
    """A key -> JSON response store; each put is one committed transaction, so a crash loses at most it.

    The default cache is shared by every run, so damage must not spread: a file that is no database, or a damaged
    one, is moved aside with a warning and a new cache started; damage found mid-run turns the cache off for the
    run (the run folder's journal still holds every answer).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._off = False  # set when damage is found mid-run
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = self._connect()
            except sqlite3.DatabaseError as error:
                if not _damaged(error):
                    raise
                self._move_aside(error)
                self._db = self._connect()
        except (OSError, sqlite3.Error) as error:  # a read-only or full disk, a folder in the way
            raise PipelineError(
                f"{self.path}: cannot open the response cache ({error}); pass --cache-path with a writable file, "
                "or --no-cache"
            ) from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
            db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, response TEXT NOT NULL)")
            db.execute("SELECT key, response FROM responses LIMIT 1").fetchall()
        except BaseException:
            db.close()
            raise
        return db

    def _move_aside(self, error: sqlite3.DatabaseError) -> None:
        aside = stem = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        number = 1
        while aside.exists():  # never over an earlier damaged copy
            aside, number = stem.with_name(f"{stem.name}.{number}"), number + 1
        for suffix in ("", "-wal", "-shm"):  # the write-ahead log belongs to the damaged file
            companion = Path(f"{self.path}{suffix}")
            if companion.exists():
                companion.rename(Path(f"{aside}{suffix}"))
        log.warning("%s is damaged (%s): moved it aside to %s and started a new cache", self.path, error, aside)

    def _damage(self, error: sqlite3.DatabaseError) -> None:
        if not _damaged(error):
            raise error
        self._off = True
        log.warning("%s is damaged (%s): the cache is off for this run; `alpaca-pipeline cache clear` moves it "
                    "aside", self.path, error)  # fmt: skip

    def get(self, key: str) -> dict[str, Any] | None:
        if self._off:
            return None
        with self._lock:
            try:
                row = self._db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
                return json.loads(row[0]) if row else None
            except sqlite3.DatabaseError as error:
                self._damage(error)
            except ValueError as error:  # a damaged entry: ask the teacher again
                log.warning("%s: entry %s is no JSON (%s); asking the teacher again", self.path, key[:12], error)
        return None

    def put(self, key: str, response: dict[str, Any]) -> None:
        if self._off:
            return
        with self._lock:
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO responses (key, response) VALUES (?, ?)", (key, json.dumps(response))
                )
            except sqlite3.DatabaseError as error:
                self._damage(error)

    def __len__(self) -> int:
        with self._lock:
            try:
                return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
            except sqlite3.DatabaseError as error:
                if not _damaged(error):
                    raise
                raise PipelineError(f"{self.path} is damaged ({error}); `alpaca-pipeline cache clear` moves it "
                                    "aside and starts a new one") from None  # fmt: skip

    def clear(self) -> int:
        """Delete every entry; returns how many there were. A damaged cache is moved aside (0: none readable)."""
        with self._lock:
            try:
                count = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
                self._db.execute("DELETE FROM responses")
                self._db.execute("VACUUM")
            except sqlite3.DatabaseError as error:
                if not _damaged(error):
                    raise
                self._db.close()
                self._move_aside(error)
                self._db = self._connect()
                return 0
        return count

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _damaged(error: sqlite3.DatabaseError) -> bool:
    """True for a file that is no SQLite database or a damaged one; False for a busy or locked one."""
    return getattr(error, "sqlite_errorcode", None) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)

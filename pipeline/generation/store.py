"""The run folder: manifest, append-only JSONL journals (responses, kept, rejected) and stats.

`responses.jsonl` is the source of truth: every teacher answer is appended and fsynced the moment it
arrives, in any order. `kept.jsonl` and `rejected.jsonl` are derived from it by processing answers in
request order, so on resume they are rebuilt by replaying the journal: a crash at any point loses at most
the answers that had not arrived yet.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

from pipeline.core.errors import RunDirError
from pipeline.core.jsonio import append_durably, cut_torn_tail, read_jsonl, write_json_atomic
from pipeline.core.lock import FolderLock
from pipeline.core.records import TeacherResponse
from pipeline.core.runfiles import CHECKPOINT, KEPT, LOCK, MANIFEST, PARTS, REJECTED, RESPONSES, STATS

log = logging.getLogger(__name__)

CONTEXT_MAX_TOKENS = "teacher_context_max_tokens"  # manifest field: max_tokens lowered to fit the teacher's context


class RunStore:
    """Owns the files of one run folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._responses: Any = None
        self._derived: dict[str, Any] = {}
        self._manifest: dict[str, Any] = {}
        self._lock = FolderLock(self.root / LOCK, "run folder", "pass another --output-dir")

    def manifest(self) -> dict[str, Any] | None:
        path = self.root / MANIFEST
        if not path.exists():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def open(self, manifest: dict[str, Any], identity: dict[str, Any]) -> dict[str, Any] | None:
        """Start or continue the run here; returns the last checkpoint, if any (answers: `iter_responses`).

        `identity` is what fixes the result (seed file, prompt, decoding, filters...). Continuing a run with
        another identity would mix two datasets in one folder, so it is refused.
        """
        if self.root.exists() and not self.root.is_dir():
            raise RunDirError(f"{self.root} is a file; the output must be a folder")
        self._lock.acquire()  # held until close(): a second process on this folder is refused before it writes
        try:
            return self._open(manifest, identity)
        except BaseException:
            self.close()
            raise

    def _open(self, manifest: dict[str, Any], identity: dict[str, Any]) -> dict[str, Any] | None:
        previous = self.manifest()
        if previous is None and any(path.name != LOCK for path in self.root.iterdir()):
            raise RunDirError(f"{self.root} is not empty and holds no run (no {MANIFEST}); pass a new --output-dir")
        if previous is not None and previous.get("identity") != identity:
            changed = _differences(previous.get("identity", {}), identity)
            raise RunDirError(
                f"{self.root} holds a run made with other settings ({'; '.join(changed)}); continuing it would mix "
                "two datasets. Use the run's original settings, or pass a new --output-dir"
            )
        if previous is not None:
            manifest = {
                **manifest,
                "created_at": previous.get("created_at"),
                "sessions": previous.get("sessions", 1) + 1,
            }
            if CONTEXT_MAX_TOKENS in previous:  # the teacher's context forced a smaller max_tokens: still so
                manifest[CONTEXT_MAX_TOKENS] = previous[CONTEXT_MAX_TOKENS]
        self._manifest = {**manifest, "identity": identity}
        if previous is None:  # a new run: the manifest marks the folder as a run folder from the start
            write_json_atomic(self.root / MANIFEST, self._manifest)
        # Drop a line torn by a crash, fold the batch fetchers' parts in, then append from here on.
        cut_torn_tail(self.root / RESPONSES)
        self._responses = open(self.root / RESPONSES, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.fold_parts()
        return self._usable_checkpoint() if previous is not None else None

    def start_derived(self, checkpoint: dict[str, Any] | None) -> None:
        """Cut kept/rejected back to `checkpoint` (empty them without one) and open them for appending.

        Called only once the journal has been read whole: a damaged journal stops the run before anything is cut
        (or the manifest of a continued run rewritten).
        """
        write_json_atomic(self.root / MANIFEST, self._manifest)
        for handle in self._derived.values():
            handle.close()
        for name in (KEPT, REJECTED):  # derived: cut back to the checkpoint, the rest is rebuilt by replay
            path = self.root / name
            if checkpoint is None or not path.exists():
                path.write_bytes(b"")
            else:
                os.truncate(path, checkpoint["bytes"][name])
            self._derived[name] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    @property
    def context_max_tokens(self) -> int | None:
        """The max_tokens the teacher's context length forced on this run, if it did."""
        return self._manifest.get(CONTEXT_MAX_TOKENS)

    def note_context_max_tokens(self, max_tokens: int) -> None:
        """Record in the manifest that the teacher's context only fits answers of `max_tokens` tokens."""
        self._manifest[CONTEXT_MAX_TOKENS] = max_tokens
        write_json_atomic(self.root / MANIFEST, self._manifest)

    def iter_responses(self) -> Iterator[dict[str, Any]]:
        """Every journaled answer, streamed (a 52K run's journal is ~30 MB of JSON), each checked for its shape.

        Raises:
            RunDirError: naming file and line of the first line that is no answer; nothing has been changed yet.
        """
        path = self.root / RESPONSES
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, UnicodeError) as error:
                    problem = f"invalid JSON ({getattr(error, 'msg', error)})"
                else:
                    if (problem := _answer_problem(record)) is None:
                        yield record
                        continue
                raise RunDirError(
                    f"{path}:{number}: {problem}; the journal is damaged. Nothing was changed: restore the line "
                    "from a backup, or delete it to request that answer again"
                )

    def _usable_checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint, unless it is damaged, or the journal or derived files are shorter than it says (then the
        run replays the journal from the start)."""
        path = self.root / CHECKPOINT
        if not path.exists():
            return None
        try:
            checkpoint = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            log.warning("%s is unreadable (%s); replaying the journal instead", path, error)
            return None
        if not isinstance(checkpoint, dict) or checkpoint.pop("checksum", None) != _checksum(checkpoint):
            log.warning("%s is damaged (its checksum does not match); replaying the journal instead", path)
            return None
        journal = self.root / RESPONSES
        if journal.stat().st_size < checkpoint["responses_bytes"]:
            log.warning("%s is shorter than %s says; replaying it from the start", journal, CHECKPOINT)
            return None
        for name in (KEPT, REJECTED):
            derived = self.root / name
            if not derived.exists() or derived.stat().st_size < checkpoint["bytes"][name]:
                log.warning("%s is shorter than %s says; rebuilding it from the journal", derived, CHECKPOINT)
                return None
        return checkpoint

    def write_checkpoint(self, state: dict[str, Any]) -> None:
        """Make kept/rejected durable, then record where they and the journal end, the processing state, and a
        checksum of it all."""
        sizes = {}
        for name, handle in self._derived.items():
            handle.flush()
            os.fsync(handle.fileno())
            sizes[name] = os.fstat(handle.fileno()).st_size
        checkpoint = {**state, "bytes": sizes, "responses_bytes": os.fstat(self._responses.fileno()).st_size}
        write_json_atomic(self.root / CHECKPOINT, {**checkpoint, "checksum": _checksum(checkpoint)})

    def read_parts(self, offsets: dict[str, int]) -> list[dict[str, Any]]:
        """Answers batch fetchers journaled (`responses/part-*.jsonl`) past `offsets`, which this advances.

        Only whole lines are read: a fetcher may be appending to its part, and a line it has not finished is read
        the next time.
        """
        records = []
        for path in sorted((self.root / PARTS).glob("part-*.jsonl")):
            with open(path, "rb") as handle:
                handle.seek(offsets.get(path.name, 0))
                data = handle.read()
            whole = data[: data.rfind(b"\n") + 1]
            records += [json.loads(line) for line in whole.splitlines()]
            offsets[path.name] = offsets.get(path.name, 0) + len(whole)
        return records

    def fold_parts(self) -> None:
        """Move the batch fetchers' answers into responses.jsonl, so a run folder looks the same whoever fetched."""
        for path in sorted((self.root / PARTS).glob("part-*.jsonl")):
            append_durably(self._responses, read_jsonl(path, recover_tail=True))
            path.unlink()  # now in responses.jsonl
        folder = self.root / PARTS
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()

    def journal_response(self, record: dict[str, Any]) -> None:
        """Append one teacher answer durably: paid work is never lost."""
        append_durably(self._responses, [record])

    def append(self, name: str, record: dict[str, Any]) -> None:
        self._derived[name].write(json.dumps(record, ensure_ascii=False) + "\n")

    def sync(self) -> None:
        for handle in self._derived.values():
            handle.flush()

    def write_stats(self, stats: dict[str, Any]) -> None:
        write_json_atomic(self.root / STATS, stats)

    def close(self) -> None:
        try:
            for handle in [self._responses, *self._derived.values()]:
                if handle is not None:
                    handle.flush()
                    os.fsync(handle.fileno())
                    handle.close()
        finally:
            self._responses = None
            self._derived.clear()
            self._lock.release()


class PartWriter:
    """An append-only journal of one batch fetcher: a part file that no other process writes."""

    def __init__(self, root: str | Path, name: str) -> None:
        folder = Path(root) / PARTS
        folder.mkdir(parents=True, exist_ok=True)
        self._handle = open(folder / f"part-{name}.jsonl", "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def journal_response(self, record: dict[str, Any]) -> None:
        append_durably(self._handle, [record])

    def close(self) -> None:
        self._handle.close()


_ANSWER_FIELDS = {field.name: field.type for field in fields(TeacherResponse)}
_TYPES = {"str": str, "str | None": (str, type(None)), "int": int, "float": (int, float), "bool": bool}


def _answer_problem(record: Any) -> str | None:
    """What makes a journal record no answer, or None: `{"request_index": int, **TeacherResponse fields}`."""
    if not isinstance(record, dict):
        return f"expected an answer object, got {type(record).__name__}"
    index = record.get("request_index")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        return f"field 'request_index': expected a request number, got {index!r}"
    for name, kind in _ANSWER_FIELDS.items():
        if name in record or name != "cached":  # `cached` has a default
            if not isinstance(value := record.get(name), _TYPES[kind]):
                return f"field {name!r}: expected {kind}, got {value!r}"
    if unknown := sorted(set(record) - set(_ANSWER_FIELDS) - {"request_index"}):
        return f"unknown field(s) {unknown}"
    return None


def _checksum(checkpoint: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(checkpoint, sort_keys=True).encode()).hexdigest()


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    changed = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            changed.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return changed

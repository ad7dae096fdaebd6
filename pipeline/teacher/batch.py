"""OpenAI's Batch API for numbered or keyed requests: half the price, a separate rate limit, answers within 24 h.

A round of requests is written as Batch API JSONL (`custom_id` = the request's key; the body exactly what the online
path sends), uploaded through the files endpoint, and submitted as one or more batches (split at the API's limits
of requests and bytes per file). Every step is journaled the moment it happens (`batches.jsonl` beside the answers):
the input file's id once uploaded, the batch id once created, and the end once its answers are collected. After a
SIGKILL at any point, the same command resumes the same batch and never submits the same requests twice; a batch
created just before a kill, and not yet journaled, is found again by its input file.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
from tqdm.auto import tqdm

from pipeline.core.errors import TeacherError
from pipeline.core.jsonio import append_durably, cut_torn_tail, read_jsonl
from pipeline.core.records import TeacherResponse
from pipeline.teacher.client import Prompt, Teacher
from pipeline.teacher.config import TeacherConfig

log = logging.getLogger(__name__)

BATCH_DISCOUNT = 0.5  # OpenAI bills batch requests at half the online price
MAX_LINES = 50_000  # requests per batch (OpenAI's limit)
MAX_BYTES = 190 * 1024 * 1024  # per input file (OpenAI's limit is 200 MB)
TERMINAL = ("completed", "failed", "expired", "cancelled")
ENDPOINTS = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}


@dataclass(frozen=True, slots=True)
class BatchItem:
    key: str  # custom_id
    prompt: Prompt
    stop: list[str]
    seed: int | None


@dataclass(slots=True)
class Collected:
    """What a finished batch gave: answers by key, and the keys it did not answer with the reason."""

    status: str
    answers: dict[str, TeacherResponse]
    failed: dict[str, str]


class BatchRunner:
    """Submits, follows and collects batches of one run, journaled in `journal` (batches.jsonl)."""

    def __init__(self, config: TeacherConfig, api_key: str, journal: Path, poll_s: float = 5.0,
                 max_poll_s: float = 60.0, progress: bool = True,
                 on_poll: Callable[[str, int, int], None] | None = None) -> None:  # fmt: skip
        """`on_poll(status, finished, total)` hears each poll (a Prefect progress artifact, say)."""
        self.config, self.journal = config, journal
        self.poll_s, self.max_poll_s, self.progress, self.on_poll = poll_s, max_poll_s, progress, on_poll
        self._teacher = Teacher(config, api_key)  # its request building only: the bodies the online path sends
        self._client = openai.OpenAI(api_key=api_key, base_url=config.base_url, timeout=60.0, max_retries=3)
        self.created = 0  # batches created by this process

    # The journal

    def _events(self) -> list[dict[str, Any]]:
        if not self.journal.exists():
            return []
        cut_torn_tail(self.journal)
        return read_jsonl(self.journal)

    def _write(self, event: dict[str, Any]) -> None:
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        with open(self.journal, "a", encoding="utf-8") as handle:
            append_durably(handle, [{**event, "at": time.time()}])

    def open_batches(self) -> list[dict[str, Any]]:
        """Batches submitted and not collected yet, as journaled (an upload without a batch is submitted now)."""
        uploads: dict[str, dict[str, Any]] = {}
        created: dict[str, dict[str, Any]] = {}
        for event in self._events():
            if event["event"] == "uploaded":
                uploads[event["file_id"]] = event
            elif event["event"] == "created":
                created[event["batch_id"]] = event
                uploads.pop(event["file_id"], None)
            elif event["event"] == "collected":
                created.pop(event["batch_id"], None)
        for upload in uploads.values():  # killed between upload and create: find the batch, or create it now
            batch = self._batch_of_file(upload["file_id"]) or self._create(upload["file_id"])
            event = {"event": "created", "batch_id": batch.id, "file_id": upload["file_id"], "keys": upload["keys"]}
            self._write(event)
            created[batch.id] = event
        return list(created.values())

    def busy_keys(self) -> set[str]:
        return {key for batch in self.open_batches() for key in batch["keys"]}

    # Submitting

    def check_model(self) -> None:
        """One GET /v1/models: a wrong key or model fails now, not after a day of waiting."""
        try:
            served = [model.id for model in self._client.models.list()]
        except openai.AuthenticationError:
            raise TeacherError(f"the server at {self.config.base_url} rejected the API key (401)") from None
        except (openai.APIConnectionError, openai.NotFoundError):
            return  # no model list here; the batch's own validation will say
        if served and self.config.model not in served:
            raise TeacherError(f"model {self.config.model!r} is not served at {self.config.base_url} "
                               f"(it serves {', '.join(served[:10])}); pass --model")  # fmt: skip

    def lines(self, items: Sequence[BatchItem]) -> list[bytes]:
        url = ENDPOINTS[self.config.api]
        out = []
        for item in items:
            body = self._teacher.wire_params(
                {**self._teacher.request_body(item.prompt, item.stop, item.seed), "max_tokens": self.config.max_tokens}
            )
            out.append(
                json.dumps({"custom_id": item.key, "method": "POST", "url": url, "body": body}).encode() + b"\n"
            )
        return out

    def submit(self, items: Sequence[BatchItem]) -> list[str]:
        """Upload and create batches for `items` (split at the API's limits); returns the batch ids."""
        ids, chunk, keys, size = [], [], [], 0
        for item, line in zip(items, self.lines(items), strict=True):
            if chunk and (len(chunk) == MAX_LINES or size + len(line) > MAX_BYTES):
                ids.append(self._submit_chunk(chunk, keys))
                chunk, keys, size = [], [], 0
            chunk.append(line)
            keys.append(item.key)
            size += len(line)
        if chunk:
            ids.append(self._submit_chunk(chunk, keys))
        return ids

    def _submit_chunk(self, lines: list[bytes], keys: list[str]) -> str:
        try:
            uploaded = self._client.files.create(file=("requests.jsonl", b"".join(lines)), purpose="batch")
        except openai.APIError as error:
            why = self._teacher.redact(_what(error))
            raise TeacherError(f"uploading the batch file to {self.config.base_url} failed ({why}); "
                               "nothing was submitted: run the same command again") from None  # fmt: skip
        self._write({"event": "uploaded", "file_id": uploaded.id, "keys": keys})
        batch = self._create(uploaded.id)
        self._write({"event": "created", "batch_id": batch.id, "file_id": uploaded.id, "keys": keys})
        log.info("submitted batch %s: %d requests", batch.id, len(keys))
        return batch.id

    def _create(self, file_id: str) -> Any:
        try:
            batch = self._client.batches.create(input_file_id=file_id, endpoint=ENDPOINTS[self.config.api],
                                                completion_window="24h")  # type: ignore[arg-type]  # fmt: skip
        except openai.APIError as error:
            why = self._teacher.redact(_what(error))
            raise TeacherError(f"creating the batch at {self.config.base_url} failed ({why}); the uploaded "
                               "file is journaled: run the same command again") from None  # fmt: skip
        self.created += 1
        return batch

    def _batch_of_file(self, file_id: str) -> Any:
        try:
            return next((batch for batch in self._client.batches.list(limit=100) if batch.input_file_id == file_id),
                        None)  # fmt: skip
        except openai.APIError:
            return None

    # Waiting and collecting

    def wait(self, batch_id: str, total: int) -> Any:
        """Poll until the batch ends, backing off from `poll_s` to `max_poll_s`; a bar shows its request counts."""
        delay = self.poll_s
        bar = tqdm(total=total, unit="request", desc=f"batch {batch_id[-8:]}", disable=not self.progress,
                   dynamic_ncols=True)  # fmt: skip
        try:
            while True:
                batch = self._client.batches.retrieve(batch_id)
                counts = batch.request_counts
                if counts is not None:
                    bar.update(counts.completed + counts.failed - bar.n)
                    bar.set_postfix_str(batch.status, refresh=False)
                    if self.on_poll is not None:
                        self.on_poll(batch.status, counts.completed + counts.failed, counts.total or total)
                if batch.status in TERMINAL:
                    return batch
                time.sleep(delay)
                delay = min(self.max_poll_s, delay * 1.5)
        finally:
            bar.close()

    def collect(self, event: dict[str, Any]) -> Collected:
        """Wait for a journaled batch, download its output and error files, and close it in the journal."""
        batch = self.wait(event["batch_id"], len(event["keys"]))
        answers: dict[str, TeacherResponse] = {}
        failed: dict[str, str] = {}
        if batch.output_file_id:
            for line in self._client.files.content(batch.output_file_id).text.splitlines():
                if line.strip():
                    record = json.loads(line)
                    response = record.get("response") or {}
                    if response.get("status_code") == 200:
                        answers[record["custom_id"]] = self._response(response)
                    else:
                        failed[record["custom_id"]] = self._teacher.redact(_line_error(record))
        if batch.error_file_id:
            for line in self._client.files.content(batch.error_file_id).text.splitlines():
                if line.strip():
                    record = json.loads(line)
                    failed[record["custom_id"]] = self._teacher.redact(_line_error(record))
        for key in event["keys"]:
            if key not in answers and key not in failed:
                failed[key] = f"batch {batch.status}"
        if batch.status != "completed":
            log.warning("batch %s ended %s: %d of %d requests answered; the rest go into the next round",
                        batch.id, batch.status, len(answers), len(event["keys"]))  # fmt: skip
        elif failed:
            log.warning("batch %s: %d of %d requests failed (%s); they go into the next round", batch.id, len(failed),
                        len(event["keys"]), next(iter(failed.values())))  # fmt: skip
        self._write({"event": "collected", "batch_id": batch.id, "status": batch.status, "answered": len(answers),
                     "failed": len(failed)})  # fmt: skip
        return Collected(batch.status, answers, failed)

    def _response(self, response: dict[str, Any]) -> TeacherResponse:
        body = response["body"]
        choice = body["choices"][0]
        text = (choice.get("message") or {}).get("content") if self.config.api == "chat" else choice.get("text")
        usage = body.get("usage") or {}
        return TeacherResponse(text=text or "", finish_reason=choice.get("finish_reason"),
                               prompt_tokens=usage.get("prompt_tokens", 0),
                               completion_tokens=usage.get("completion_tokens", 0), model=body.get("model", ""),
                               request_id=response.get("request_id") or body.get("id"), latency_s=0.0)  # fmt: skip

    def close(self) -> None:
        self._client.close()


def _line_error(record: dict[str, Any]) -> str:
    if record.get("error"):
        return f"{record['error'].get('code')}: {record['error'].get('message')}"
    response = record.get("response") or {}
    message = ((response.get("body") or {}).get("error") or {}).get("message", "")
    return f"{response.get('status_code')}: {message}"


def _what(error: openai.APIError) -> str:
    status = getattr(error, "status_code", None)
    return f"{status} {error.message}" if status else type(error).__name__

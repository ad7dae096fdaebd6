"""The offline teacher's Batch API: `/v1/files` (upload, content) and `/v1/batches` (create, retrieve, cancel) with
OpenAI's schemas and states (validating -> in_progress -> finalizing -> completed; failed, expired, cancelled).

Each line is answered exactly as the online endpoint answers the same body, so a run made through batches equals
one made online. The lines are answered when the batch finalizes; `SimulatorConfig.batch_phase_s` sets how long each
phase lasts, `batch_expire_first` lets the first batches expire half answered, and `batch_line_error_every` fails
every Nth line with a 500 in the error file.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import time
import uuid
from typing import Any

from aiohttp import web

BATCH_ENDPOINTS = ("/v1/chat/completions", "/v1/completions")
MAX_LINES = 50_000  # OpenAI's limit of requests per batch


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/files", upload)
    app.router.add_get("/v1/files/{file_id}", file_info)
    app.router.add_get("/v1/files/{file_id}/content", file_content)
    app.router.add_post("/v1/batches", create)
    app.router.add_get("/v1/batches", list_batches)
    app.router.add_get("/v1/batches/{batch_id}", retrieve)
    app.router.add_post("/v1/batches/{batch_id}/cancel", cancel)


def _store(request: web.Request) -> dict[str, Any]:
    from pipeline.simulator.server import STATE

    state = request.app[STATE]
    if not hasattr(state, "batch_store"):
        state.batch_store = {"files": {}, "batches": {}, "created": 0}
    return state.batch_store


def _error(status: int, message: str, param: str | None = None, kind: str = "invalid_request_error") -> Exception:
    """An error in OpenAI's schema (the server's ApiError; imported here, as the server imports this module)."""
    from pipeline.simulator.server import ApiError

    return ApiError(status, message, kind, param=param)


def _file_object(file_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {"id": file_id, "object": "file", "bytes": len(entry["data"]), "created_at": entry["created_at"],
            "filename": entry["filename"], "purpose": entry["purpose"], "status": "processed",
            "status_details": None}  # fmt: skip


async def upload(request: web.Request) -> web.Response:
    """POST /v1/files (multipart: purpose, file)."""
    from pipeline.simulator.server import STATE

    fault = request.app[STATE].next_fault()
    if fault is not None and fault.name in ("server_error", "unavailable"):
        status = 500 if fault.name == "server_error" else 503
        raise _error(status, "The server had an error while processing the upload (injected).", kind="server_error")
    raw = await request.read()
    header = f"Content-Type: {request.headers.get('Content-Type', '')}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + raw)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts() if message.is_multipart() else []:
        fields[part.get_param("name", header="content-disposition")] = (
            part.get_filename(),
            part.get_payload(decode=True),
        )
    if "file" not in fields or "purpose" not in fields:
        raise _error(400, "Send multipart/form-data with 'file' and 'purpose'.", "file")
    filename, data = fields["file"]
    file_id = f"file-{uuid.uuid4().hex[:24]}"
    entry = {"data": data, "filename": filename or "upload.jsonl", "purpose": fields["purpose"][1].decode(),
             "created_at": int(time.time())}  # fmt: skip
    _store(request)["files"][file_id] = entry
    return web.json_response(_file_object(file_id, entry))


def _file(request: web.Request) -> tuple[str, dict[str, Any]]:
    file_id = request.match_info["file_id"]
    entry = _store(request)["files"].get(file_id)
    if entry is None:
        raise _error(404, f"No such File object: {file_id}", "id")
    return file_id, entry


async def file_info(request: web.Request) -> web.Response:
    return web.json_response(_file_object(*_file(request)))


async def file_content(request: web.Request) -> web.Response:
    return web.Response(body=_file(request)[1]["data"], content_type="application/octet-stream")


async def create(request: web.Request) -> web.Response:
    """POST /v1/batches {input_file_id, endpoint, completion_window}."""
    from pipeline.simulator.server import BODY

    body = request[BODY]
    store = _store(request)
    if not isinstance(body, dict) or body.get("input_file_id") not in store["files"]:
        raise _error(400, "input_file_id must name an uploaded file.", "input_file_id")
    if body.get("endpoint") not in BATCH_ENDPOINTS:
        raise _error(400, f"endpoint must be one of {list(BATCH_ENDPOINTS)}.", "endpoint")
    if body.get("completion_window") != "24h":
        raise _error(400, "completion_window must be '24h'.", "completion_window")
    lines = [line for line in store["files"][body["input_file_id"]]["data"].decode().splitlines() if line.strip()]
    now = int(time.time())
    store["created"] += 1
    batch_id = f"batch_{uuid.uuid4().hex[:24]}"
    store["batches"][batch_id] = {
        "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
        "input_file_id": body["input_file_id"], "completion_window": "24h", "status": "validating",
        "output_file_id": None, "error_file_id": None, "created_at": now, "in_progress_at": None,
        "expires_at": now + 86400, "finalizing_at": None, "completed_at": None, "failed_at": None,
        "expired_at": None, "cancelling_at": None, "cancelled_at": None,
        "request_counts": {"total": len(lines), "completed": 0, "failed": 0}, "metadata": body.get("metadata"),
        "_started": time.monotonic(), "_number": store["created"], "_lines": lines,
    }  # fmt: skip
    return web.json_response(_public(store["batches"][batch_id]))


async def list_batches(request: web.Request) -> web.Response:
    """GET /v1/batches: every batch, newest first (one page)."""
    batches = sorted(_store(request)["batches"].values(), key=lambda batch: -batch["_number"])
    for batch in batches:
        _advance(request, batch)
    data = [_public(batch) for batch in batches]
    return web.json_response({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                              "last_id": data[-1]["id"] if data else None, "has_more": False})  # fmt: skip


async def retrieve(request: web.Request) -> web.Response:
    batch = _batch(request)
    _advance(request, batch)
    return web.json_response(_public(batch))


async def cancel(request: web.Request) -> web.Response:
    batch = _batch(request)
    if batch["status"] in ("validating", "in_progress", "finalizing"):
        now = int(time.time())
        batch.update(status="cancelled", cancelling_at=now, cancelled_at=now)
    return web.json_response(_public(batch))


def _batch(request: web.Request) -> dict[str, Any]:
    batch_id = request.match_info["batch_id"]
    batch = _store(request)["batches"].get(batch_id)
    if batch is None:
        raise _error(404, f"No such Batch object: {batch_id}", "batch_id")
    return batch


def _public(batch: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in batch.items() if not name.startswith("_")}


def _advance(request: web.Request, batch: dict[str, Any]) -> None:
    """Move a batch through its phases as time passes; answer its lines when it finalizes."""
    from pipeline.simulator.server import STATE

    config = request.app[STATE].config
    if batch["status"] not in ("validating", "in_progress", "finalizing"):
        return
    elapsed, phase, now = time.monotonic() - batch["_started"], config.batch_phase_s, int(time.time())
    if batch["status"] == "validating" and elapsed >= phase:
        batch.update(status="in_progress", in_progress_at=now)
    if batch["status"] == "in_progress" and elapsed >= 2 * phase:
        batch.update(status="finalizing", finalizing_at=now)
    if batch["status"] == "finalizing" and elapsed >= 3 * phase:
        _finish(request, batch, config, expire=batch["_number"] <= config.batch_expire_first)


def _finish(request: web.Request, batch: dict[str, Any], config: Any, expire: bool) -> None:
    from pipeline.simulator.server import ApiError, answer_payload, parse_request

    chat = batch["endpoint"] == "/v1/chat/completions"
    outputs, errors = [], []
    models = config.models
    answered = len(batch["_lines"]) // 2 if expire else len(batch["_lines"])
    for number, line in enumerate(batch["_lines"], start=1):
        record = json.loads(line)
        custom_id, request_id = record.get("custom_id"), f"req_{uuid.uuid4().hex}"
        if number > answered:
            errors.append({"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": custom_id, "response": None,
                           "error": {"code": "batch_expired", "message": "This request could not be executed "
                                     "before the completion window expired."}})  # fmt: skip
            continue
        if config.batch_line_error_every and number % config.batch_line_error_every == 0:
            body = {"error": {"message": "The server had an error processing your request (injected).",
                              "type": "server_error", "param": None, "code": None}}  # fmt: skip
            response = {"status_code": 500, "request_id": request_id, "body": body}
            errors.append({"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": custom_id, "response": response,
                           "error": None})  # fmt: skip
            continue
        try:
            payload = answer_payload(parse_request(record.get("body"), chat, models), config, chat)
            response = {"status_code": 200, "request_id": request_id, "body": payload}
            outputs.append({"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": custom_id, "response": response,
                            "error": None})  # fmt: skip
        except ApiError as error:
            response = {
                "status_code": error.status,
                "request_id": request_id,
                "body": json.loads(error.response().text),
            }
            errors.append({"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": custom_id, "response": response,
                           "error": None})  # fmt: skip
    store = _store(request)
    now = int(time.time())
    for kind, records in (("output_file_id", outputs), ("error_file_id", errors)):
        if records:
            file_id = f"file-{uuid.uuid4().hex[:24]}"
            data = "".join(json.dumps(record) + "\n" for record in records).encode()
            store["files"][file_id] = {"data": data, "filename": f"{batch['id']}_{kind[:-8]}.jsonl",
                                       "purpose": "batch_output", "created_at": now}  # fmt: skip
            batch[kind] = file_id
    batch["request_counts"] = {"total": len(batch["_lines"]), "completed": len(outputs), "failed": len(errors)}
    if expire:
        batch.update(status="expired", expired_at=now)
    else:
        batch.update(status="completed", completed_at=now)

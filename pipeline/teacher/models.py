"""Which model an OpenAI-compatible server serves (`GET /models`), for runs that name none.

A local server (llama.cpp, vLLM, Ollama) answers any model name and echoes it back, so a made-up default would label
the data with a model that never wrote it; asking the server is the only way to credit the right one.
"""

from __future__ import annotations

from typing import Any

import httpx

from pipeline.core.errors import TeacherError

LIST_TIMEOUT_S = 10.0  # listing models is instant on every server we know; a hang means the URL is wrong
SHOWN_MODELS = 20  # an error lists at most this many of a server's models


def served_model(base_url: str, api_key: str, transport: httpx.BaseTransport | None = None) -> str:
    """The one model the server at `base_url` lists; a TeacherError saying to pass --model when it lists none or
    several, or cannot list them. `transport` is the test seam, as `http_client` is the client's."""
    url = f"{base_url.rstrip('/')}/models"
    try:
        with httpx.Client(timeout=LIST_TIMEOUT_S, transport=transport) as client:
            response = client.get(url, headers={"Authorization": f"Bearer {api_key}"})
    except httpx.HTTPError as error:
        raise TeacherError(f"cannot list the models at {url} ({type(error).__name__}): pass --model") from None
    if response.status_code in (401, 403):
        raise TeacherError(f"{url} refused the API key ({response.status_code}): set OPENAI_API_KEY, or pass --model")
    if response.status_code != 200:
        raise TeacherError(f"{url} does not list models ({response.status_code}): pass --model with the model to ask")
    ids = _model_ids(response)
    if ids is None:
        raise TeacherError(f'{url} did not answer a model list ({{"data": [{{"id": ...}}]}}): pass --model')
    if not ids:
        raise TeacherError(f"{url} lists no model: pass --model with the model to ask")
    if len(ids) > 1:
        more = f" and {len(ids) - SHOWN_MODELS} more" if len(ids) > SHOWN_MODELS else ""
        shown = ", ".join(ids[:SHOWN_MODELS]) + more
        raise TeacherError(f"{url} serves {len(ids)} models; pass --model with one of them: {shown}")
    return ids[0]


def _model_ids(response: httpx.Response) -> list[str] | None:
    """The ids of an OpenAI model list, or None when the body is not one."""
    try:
        body: Any = response.json()
    except ValueError:
        return None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not all(isinstance(entry, dict) and isinstance(entry.get("id"), str)
                                             for entry in data):  # fmt: skip
        return None
    return [entry["id"] for entry in data]

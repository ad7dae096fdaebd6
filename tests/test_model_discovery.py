"""A run against a server that names no model credits the model the server serves (`GET /models`), never a default,
and a model without a known price is recorded as unpriced in the run folder and the card."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from pipeline.core.errors import TeacherError
from pipeline.core.jsonio import read_jsonl
from pipeline.simulator.server import SimulatorConfig, SimulatorServer
from pipeline.teacher.models import served_model

LOCAL_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture
def no_openai_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    yield


@pytest.fixture
def models_answer() -> Iterator[tuple[str, dict[str, object]]]:
    """A tiny server whose GET /v1/models answers what the test puts in `answer` ({"status", "body"})."""
    answer: dict[str, object] = {"status": 200, "body": b'{"object": "list", "data": []}'}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = answer["body"]
            self.send_response(answer["status"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", answer
    finally:
        server.shutdown()
        server.server_close()


def test_one_served_model_is_the_model() -> None:
    with SimulatorServer(SimulatorConfig(models=(LOCAL_MODEL,))) as server:
        assert served_model(server.base_url, "not-needed") == LOCAL_MODEL


def test_several_served_models_are_listed_for_the_user_to_choose() -> None:
    with SimulatorServer(SimulatorConfig(models=("llama3:8b", "qwen2.5:7b", "mistral:latest"))) as server:
        with pytest.raises(TeacherError) as error:
            served_model(server.base_url, "not-needed")
    assert "serves 3 models; pass --model with one of them: llama3:8b, qwen2.5:7b, mistral:latest" in str(error.value)


def test_a_wrong_key_is_named_but_never_shown() -> None:
    secret = "sk-test-very-secret-0123456789"
    with SimulatorServer(SimulatorConfig(api_key="sk-the-right-one")) as server:
        with pytest.raises(TeacherError) as error:
            served_model(server.base_url, secret)
    assert "refused the API key (401)" in str(error.value) and secret not in str(error.value)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (200, b'{"object": "list", "data": []}', "lists no model: pass --model"),
        (404, b'{"error": "not found"}', "does not list models (404): pass --model"),
        (200, b"<html>a web page</html>", "did not answer a model list"),
        (200, b'{"data": [{"name": "no id"}]}', "did not answer a model list"),
    ],
)
def test_no_model_or_no_list_requires_model(models_answer, status: int, body: bytes, message: str) -> None:
    base_url, answer = models_answer
    answer.update(status=status, body=body)
    with pytest.raises(TeacherError, match="pass --model") as error:
        served_model(base_url, "not-needed")
    assert message in str(error.value) and f"{base_url}/models" in str(error.value)


def test_an_unreachable_server_requires_model() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TeacherError, match=rf"cannot list the models at http://127.0.0.1:{port}/v1/models .*--model"):
        served_model(f"http://127.0.0.1:{port}/v1", "not-needed")


def test_generate_without_model_credits_the_served_model_everywhere(tmp_path: Path, no_openai_env) -> None:
    from pipeline.dataset.build import build_dataset

    out = tmp_path / "run"
    with SimulatorServer(SimulatorConfig(models=(LOCAL_MODEL,))) as server:
        args = ["generate", "--no-progress", "-n", "30", "-o", str(out), "--base-url", server.base_url, "--no-cache"]
        result = CliRunner().invoke(main, args)
        asked = {request.model for request in server.requests if request.endpoint != "/v1/models"}
    assert result.exit_code == 0, result.output
    assert f"with {LOCAL_MODEL} from" in result.output and "unpriced" in result.output
    assert asked == {LOCAL_MODEL}
    kept = read_jsonl(out / "kept.jsonl")
    manifest = json.loads((out / "manifest.json").read_text())
    stats = json.loads((out / "stats.json").read_text())
    assert len(kept) == 30 and {record["teacher_model"] for record in kept} == {LOCAL_MODEL}
    assert manifest["teacher"]["model"] == LOCAL_MODEL and manifest["pricing"] == "unpriced"
    assert stats["pricing"] == "unpriced" and stats["cost_usd"] is None
    assert stats["projected"]["requests"] >= stats["answers"] and stats["projected"]["cost_usd"] is None

    build_dataset(out)
    card = next(out.rglob("README.md")).read_text()
    assert f"`{LOCAL_MODEL}` requested" in card and f"unpriced (no price is known for `{LOCAL_MODEL}`" in card
    assert "gpt-4o-mini" not in card


def test_generate_against_a_server_of_several_models_stops_and_lists_them(tmp_path: Path, no_openai_env) -> None:
    with SimulatorServer(SimulatorConfig(models=("model-a", "model-b"))) as server:
        result = CliRunner().invoke(
            main, ["generate", "--no-progress", "-n", "5", "-o", str(tmp_path / "r"), "--base-url", server.base_url]
        )
        completions = [request for request in server.requests if request.endpoint != "/v1/models"]
    assert result.exit_code == 1
    assert "serves 2 models; pass --model with one of them: model-a, model-b" in result.output
    assert completions == []  # nothing was asked, nothing was paid


def test_a_priced_model_is_recorded_with_its_price_and_the_forecast_learns_it(tmp_path: Path, no_openai_env) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({LOCAL_MODEL: {"input": 1.0, "output": 2.0}}))
    out = tmp_path / "run"
    with SimulatorServer(SimulatorConfig(models=(LOCAL_MODEL,))) as server:
        result = CliRunner().invoke(main, ["generate", "--no-progress", "-n", "40", "-o", str(out), "--base-url",
                                           server.base_url, "--no-cache", "--prices", str(prices),
                                           "--max-requests", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    pricing = {"model": LOCAL_MODEL, "input_usd_per_1m": 1.0, "output_usd_per_1m": 2.0}
    assert json.loads((out / "manifest.json").read_text())["pricing"] == pricing
    stats = json.loads((out / "stats.json").read_text())
    assert stats["answers"] == 1 and 0 < stats["kept"] < 40 and stats["pricing"] == pricing
    assert stats["cost_usd"] == pytest.approx((stats["prompt_tokens"] + 2 * stats["completion_tokens"]) / 1e6)
    # From the one answer seen: its yield says how many requests 40 examples take, at its tokens and price.
    requests = 1 + -(-(40 - stats["kept"]) // stats["kept"])
    assert stats["projected"] == {
        "requests": requests,
        "tokens": (stats["prompt_tokens"] + stats["completion_tokens"]) * requests,
        "cost_usd": pytest.approx(stats["cost_usd"] * requests),
        "from_answers": 1,
    }
    assert f"At this run's yield the target needs ~{requests:,} requests in all" in result.output

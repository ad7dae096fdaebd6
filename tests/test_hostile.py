"""A hostile user, through the CLI and over real HTTP: two runs on one folder, servers that echo the key, answer
garbage or nothing, damaged run files and caches, budgets, and bad option values. Each fault ends with one clear
line, never a traceback, and loses nothing already done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from pipeline.core.jsonio import read_jsonl
from pipeline.simulator.server import SimulatorConfig, SimulatorServer

WAIT_S = 120  # only to fail clearly: every wait below ends on a condition


@pytest.fixture(scope="module")
def server():
    with SimulatorServer(SimulatorConfig(seed=4)) as server:
        yield server


def cli_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def generate_args(server: SimulatorServer, out: Path, *extra: str) -> list[str]:
    return ["generate", "-n", "40", "-o", str(out), "--base-url", server.base_url, "--model", "simulated-teacher",
            "--no-cache", "--no-progress", *extra]  # fmt: skip


def invoke(*args: str, env: dict[str, str] | None = None):
    """The CLI in this process, as a user runs it: exceptions become output and an exit code."""
    return CliRunner().invoke(main, list(args), env=env or cli_env())


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def assert_one_line_error(output: str, *expected: str) -> None:
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    for text in expected:
        assert text in errors[0], output


# 1. Two runs on one folder


def test_a_second_generate_on_a_busy_folder_refuses_and_the_folder_ends_as_one_clean_run(
    server: SimulatorServer, tmp_path: Path
) -> None:
    reference = tmp_path / "reference"
    result = invoke(*generate_args(server, reference))
    assert result.exit_code == 0, result.output

    out = tmp_path / "run"
    server.inject("hang", count=1, seconds=WAIT_S)  # the first run's first request waits until we let it answer
    first = subprocess.Popen([sys.executable, "-m", "flows.cli", *generate_args(server, out)], env=cli_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        lock = out / ".lock"
        wait_for(lambda: lock.exists() and lock.read_text().strip() == str(first.pid), "the first run's lock")
        second = subprocess.run([sys.executable, "-m", "flows.cli", *generate_args(server, out)], env=cli_env(),
                                capture_output=True, text=True, timeout=WAIT_S)  # fmt: skip
        assert second.returncode == 1
        assert_one_line_error(second.stderr, f"in use by process {first.pid}", "another --output-dir")
        assert first.poll() is None, "the first run ended before the second one tried"
    finally:
        server.end_hangs()
        stdout, stderr = first.communicate(timeout=WAIT_S)
    assert first.returncode == 0, stderr
    for name in ("kept.jsonl", "rejected.jsonl"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    indices = [record["request_index"] for record in read_jsonl(out / "responses.jsonl")]
    assert len(indices) == len(set(indices))  # no answer journaled (or paid) twice
    stats = json.loads((out / "stats.json").read_text())
    assert stats["kept"] == 40 and stats["received"] == len(indices)
    assert lock.read_text() == ""  # released cleanly


def test_a_lock_left_by_a_dead_process_is_taken_over(
    server: SimulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "run"
    assert invoke(*generate_args(server, out, "-n", "10")).exit_code == 0
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / ".lock").write_text(dead.stdout)  # a PID, and no process holding the flock: a crashed run's lock
    result = invoke(*generate_args(server, out, "-n", "20"))
    assert result.exit_code == 0, result.output
    assert f"took over the lock of process {dead.stdout.strip()}" in caplog.text
    assert json.loads((out / "stats.json").read_text())["kept"] == 20


def test_dataset_refuses_a_run_folder_another_process_writes(server: SimulatorServer, tmp_path: Path) -> None:
    from pipeline.core.lock import FolderLock

    out = tmp_path / "run"
    assert invoke(*generate_args(server, out, "-n", "10")).exit_code == 0
    with FolderLock(out / ".lock", "run folder"):  # as a `generate` still running there holds it
        result = invoke("dataset", str(out))
    assert result.exit_code == 1
    assert_one_line_error(result.output, f"in use by process {os.getpid()}")
    assert not (out / "dataset").exists()
    assert invoke("dataset", str(out)).exit_code == 0


# Tiny purpose-built servers: one that echoes the key in its errors, one that never answers


class ScriptedServer:
    """An HTTP server on 127.0.0.1 whose every POST is answered by `answer(headers, json) -> (status, type, body)`, or
    never answered when `answer` is None (until the server stops)."""

    def __init__(self, answer=None) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        stopping = self.stopping = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
                if answer is None:
                    stopping.wait()
                    return
                status, content_type, body = answer(self.headers, request)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


SECRET = "sk-proj-ECHOED-KEY-must-not-leak-0123456789"


def echo(status: int, content_type: str = "application/json"):
    """A server that quotes the Authorization header it got in its error message, as some proxies do."""

    def answer(headers, request) -> tuple[int, str, str]:
        quoted = f"Invalid header Authorization: {headers.get('Authorization')} (key {SECRET})"
        if content_type == "text/html":
            return status, content_type, f"<html><body>{quoted}</body></html>"
        return status, content_type, json.dumps({"error": {"message": quoted, "type": "invalid_request_error"}})

    return answer


def files_holding(secret: str, *folders: Path) -> list[Path]:
    found = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and secret.encode() in path.read_bytes():
                found.append(path)
    return found


# 2. Secrets redacted at the source


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_a_server_that_echoes_the_key_never_gets_it_printed_or_stored(tmp_path: Path, status: int) -> None:
    out, cache = tmp_path / "run", tmp_path / "cache" / "teacher.sqlite"
    with ScriptedServer(echo(status)) as server:
        args = ["-m", "flows.cli", "generate", "-n", "10", "-o", str(out), "--base-url", server.base_url,
                "--model", "m", "--cache-path", str(cache), "--no-progress"]  # fmt: skip
        result = subprocess.run([sys.executable, *args], env=cli_env(OPENAI_API_KEY=SECRET), capture_output=True,
                                text=True, timeout=WAIT_S)  # fmt: skip
    assert result.returncode == 1
    assert_one_line_error(result.stderr, f"({status})" if status != 422 else "answered 422")
    assert SECRET not in result.stdout + result.stderr
    if status in (400, 403, 422):  # the server's own message is shown, with the key taken out
        assert "Authorization: Bearer [redacted] (key [redacted])" in result.stderr
    assert files_holding(SECRET, tmp_path) == []


def test_retries_and_the_final_error_never_show_the_key(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from pipeline.core.errors import TeacherError
    from pipeline.generation.config import GenerateConfig
    from pipeline.generation.generate import generate
    from pipeline.generation.seeds import default_seed_path, load_seed_tasks
    from pipeline.teacher.cache import ResponseCache
    from pipeline.teacher.config import TeacherConfig

    caplog.set_level(logging.DEBUG)
    seeds = load_seed_tasks(default_seed_path())
    for status, content_type in ((500, "application/json"), (200, "text/html")):
        out = tmp_path / f"run-{status}"
        cache = ResponseCache(tmp_path / "cache.sqlite")
        with ScriptedServer(echo(status, content_type)) as server:
            teacher = TeacherConfig(model="m", base_url=server.base_url, max_retries=2, backoff_s=0.01)
            with pytest.raises(TeacherError, match=r"still failed after 2 retries \(last: ") as failure:
                generate(GenerateConfig(num_instructions=5), teacher, SECRET, default_seed_path(), seeds, out,
                         cache=cache, progress=False)  # fmt: skip
        cache.close()
        assert SECRET not in str(failure.value)
    assert "[redacted]" in str(failure.value) and "text/html" in str(failure.value)  # the HTML body, redacted
    assert caplog.text.count("retry 1/2") == 2 and "retry 3/2" not in caplog.text
    assert SECRET not in caplog.text
    assert files_holding(SECRET, tmp_path) == []


# 3. Malformed HTTP 200 answers


def test_malformed_answers_are_retried_counted_and_change_nothing(server: SimulatorServer, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    assert invoke(*generate_args(server, reference)).exit_code == 0
    from pipeline.generation.config import GenerateConfig
    from pipeline.generation.generate import generate
    from pipeline.generation.seeds import default_seed_path, load_seed_tasks
    from pipeline.teacher.config import TeacherConfig

    out = tmp_path / "run"
    for fault in ("not_json", "html", "empty_object", "no_choices"):  # all on the first request, which goes alone
        server.inject(fault)
    teacher = TeacherConfig(model="simulated-teacher", base_url=server.base_url, backoff_s=0.01)
    seeds = load_seed_tasks(default_seed_path())
    assert generate(GenerateConfig(num_instructions=40), teacher, "k", default_seed_path(), seeds, out,
                    progress=False).finished  # fmt: skip
    assert (out / "kept.jsonl").read_bytes() == (reference / "kept.jsonl").read_bytes()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["malformed_answers"] == 4 and stats["retries"] == 4


def test_malformed_answers_every_few_requests_still_finish_the_run(tmp_path: Path) -> None:
    rates = {"html": 0.1, "no_choices": 0.1, "not_json": 0.1}
    with (
        SimulatorServer(SimulatorConfig(seed=4, fault_rates=rates)) as broken,
        SimulatorServer(SimulatorConfig(seed=4)) as clean,
    ):
        assert invoke(*generate_args(clean, tmp_path / "reference")).exit_code == 0
        result = invoke(*generate_args(broken, tmp_path / "run", "--concurrency", "4"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "kept.jsonl").read_bytes() == (tmp_path / "reference" / "kept.jsonl").read_bytes()
    assert json.loads((tmp_path / "run" / "stats.json").read_text())["malformed_answers"] >= 1


def test_persisting_malformed_answers_stop_with_one_line_and_the_run_resumes(
    server: SimulatorServer, tmp_path: Path
) -> None:
    from pipeline.core.errors import TeacherError
    from pipeline.generation.config import GenerateConfig
    from pipeline.generation.generate import generate
    from pipeline.generation.seeds import default_seed_path, load_seed_tasks
    from pipeline.teacher.config import TeacherConfig

    seeds = load_seed_tasks(default_seed_path())
    config = GenerateConfig(num_instructions=40, max_concurrency=1)
    teacher = TeacherConfig(model="simulated-teacher", base_url=server.base_url, max_retries=2, backoff_s=0.01)
    out = tmp_path / "run"
    generate(GenerateConfig(num_instructions=10), teacher, "k", default_seed_path(), seeds, out, progress=False)
    server.inject("html", count=3)
    with pytest.raises(TeacherError, match=r"still failed after 2 retries \(last: HTTP 200 that is no completion: "
                       r"a text/html body.*run the same command again"):  # fmt: skip
        generate(config, teacher, "k", default_seed_path(), seeds, out, progress=False)
    assert len(read_jsonl(out / "kept.jsonl")) >= 10  # nothing done was lost
    assert generate(config, teacher, "k", default_seed_path(), seeds, out, progress=False).finished
    reference = tmp_path / "reference"
    assert invoke(*generate_args(server, reference)).exit_code == 0
    assert (out / "kept.jsonl").read_bytes() == (reference / "kept.jsonl").read_bytes()


# 4. Timeouts, unreachable and malformed endpoints


def test_a_silent_server_times_out_per_timeout_and_gives_up_after_the_last_retry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from pipeline.core.errors import TeacherError
    from pipeline.generation.config import GenerateConfig
    from pipeline.generation.generate import generate
    from pipeline.generation.seeds import default_seed_path, load_seed_tasks
    from pipeline.teacher.config import TeacherConfig

    seeds = load_seed_tasks(default_seed_path())
    with ScriptedServer(None) as silent:
        teacher = TeacherConfig(model="m", base_url=silent.base_url, timeout_s=0.3, max_retries=2, backoff_s=0.01)
        with pytest.raises(TeacherError, match=r"after 2 retries \(last: no answer within 0.3s \(--timeout\)\)"):
            generate(GenerateConfig(num_instructions=5), teacher, "k", default_seed_path(), seeds, tmp_path / "run",
                     progress=False)  # fmt: skip
    assert caplog.text.count("retry ") == 2 and "retry 2/2" in caplog.text and "retry 3/2" not in caplog.text
    assert json.loads((tmp_path / "run" / "stats.json").read_text())["retries"] == 2


def test_an_unreachable_or_malformed_base_url_fails_at_once_naming_it(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    result = invoke("generate", "-n", "5", "-o", str(tmp_path / "a"), "--base-url", closed, "--model", "m",
                    "--no-progress")  # fmt: skip
    assert result.exit_code == 1
    assert_one_line_error(result.output, f"cannot reach the teacher at {closed}", "--base-url")
    assert "retry" not in result.output
    for url in ("not a url", "localhost:8000/v1", "ftp://example.com"):
        result = invoke("generate", "-n", "5", "-o", str(tmp_path / "b"), "--base-url", url, "--no-progress")
        assert result.exit_code in (1, 2) and "Traceback" not in result.output  # 2: --model given, a usage error
        assert f"got {url!r}" in result.output and "models" not in result.output  # no server was asked


# 5. Damaged run files and caches


@pytest.fixture(scope="module")
def reference_40(server: SimulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    assert invoke(*generate_args(server, out)).exit_code == 0
    return out


def checkpoint_with(path: Path, **changes) -> None:
    """Rewrite a checkpoint with `changes` and a matching checksum: a checkpoint that lies consistently."""
    import hashlib

    checkpoint = json.loads(path.read_text())
    checkpoint.pop("checksum")
    checkpoint.update(changes)
    checksum = hashlib.sha256(json.dumps(checkpoint, sort_keys=True).encode()).hexdigest()
    path.write_text(json.dumps({**checkpoint, "checksum": checksum}))


DAMAGE = {
    "empty": lambda path: path.write_bytes(b""),
    "random": lambda path: path.write_bytes(os.urandom(300)),
    "half-written": lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),
    "edited": lambda path: path.write_text(path.read_text().replace('"next_index": ', '"next_index": 1')),
    "ahead of the journal": lambda path: checkpoint_with(
        path, next_index=json.loads(path.read_text())["next_index"] + 5
    ),  # fmt: skip
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_or_disagreeing_checkpoint_is_dropped_and_the_journal_replayed(
    server: SimulatorServer, reference_40: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    out = tmp_path / "run"
    assert invoke(*generate_args(server, out, "-n", "20")).exit_code == 0
    DAMAGE[damage](out / "checkpoint.json")
    result = invoke(*generate_args(server, out))
    assert result.exit_code == 0, result.output
    assert "replaying the journal" in caplog.text or "no answer to it" in caplog.text
    for name in ("kept.jsonl", "rejected.jsonl"):
        assert (out / name).read_bytes() == (reference_40 / name).read_bytes(), name


def test_a_journal_shorter_than_the_checkpoint_is_replayed_and_its_lost_answers_asked_again(
    server: SimulatorServer, reference_40: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "run"
    assert invoke(*generate_args(server, out, "-n", "20")).exit_code == 0
    journal = out / "responses.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:-2]))  # the last two answers lost (a restored backup, a bad copy)
    assert invoke(*generate_args(server, out)).exit_code == 0
    assert "shorter than checkpoint.json says" in caplog.text
    assert (out / "kept.jsonl").read_bytes() == (reference_40 / "kept.jsonl").read_bytes()


@pytest.mark.parametrize("checkpoint", [True, False], ids=["with-checkpoint", "without-checkpoint"])
@pytest.mark.parametrize(
    "line", ['{"request_index": 3}', '{"unexpected": 1}', "[1, 2]", '{"request_index": -1, "text": ""}', "{not json"]
)
def test_a_bad_journal_line_names_file_and_line_and_changes_nothing(
    server: SimulatorServer, tmp_path: Path, line: str, checkpoint: bool
) -> None:
    out = tmp_path / "run"
    assert invoke(*generate_args(server, out, "-n", "20")).exit_code == 0
    journal = out / "responses.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:2]) + line + "\n" + "".join(lines[2:]))
    if not checkpoint:
        (out / "checkpoint.json").unlink()
    before = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    result = invoke(*generate_args(server, out))
    assert result.exit_code == 1
    assert_one_line_error(result.output, f"{journal}:3: ", "Nothing was changed")
    after = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    assert after == before  # kept.jsonl and rejected.jsonl were not emptied, the manifest not rewritten


def test_a_damaged_cache_is_moved_aside_and_cache_clear_works_on_it(
    server: SimulatorServer, reference_40: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(os.urandom(4096))
    args = [arg for arg in generate_args(server, tmp_path / "run") if arg != "--no-cache"]
    result = invoke(*args, "--cache-path", str(cache))
    assert result.exit_code == 0, result.output
    assert "is damaged" in caplog.text and len(list(tmp_path.glob("cache.sqlite.damaged-*"))) == 1
    assert (tmp_path / "run" / "kept.jsonl").read_bytes() == (reference_40 / "kept.jsonl").read_bytes()
    info = invoke("cache", "info", "--cache-path", str(cache))
    assert info.exit_code == 0 and "cached answers" in info.output
    cache.write_bytes(os.urandom(4096))
    cleared = invoke("cache", "clear", "--cache-path", str(cache))
    assert cleared.exit_code == 0 and "removed 0 cached answers" in cleared.output, cleared.output
    assert len(list(tmp_path.glob("cache.sqlite.damaged-*"))) == 2  # both damaged files kept, for a post-mortem


# 6. Budgets


def test_a_budget_for_a_model_without_a_price_is_refused_up_front(server: SimulatorServer, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = invoke(*generate_args(server, out, "--max-cost", "0.0001"))
    assert result.exit_code == 1
    assert_one_line_error(result.output, "--max-cost needs the price of 'simulated-teacher'", "--prices")
    assert not out.exists()  # refused before the folder (or the teacher) was touched


def test_a_budget_is_never_crossed_with_many_requests_in_flight(server: SimulatorServer, tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"  # about $1.5 an answer, at most ~$3.2 (3,072 tokens)
    prices.write_text(json.dumps({"simulated-teacher": {"input": 100.0, "output": 1000.0}}))
    out = tmp_path / "run"
    since = len(server.requests)
    result = invoke(*generate_args(server, out, "-n", "500", "--max-cost", "10", "--prices", str(prices),
                                   "--concurrency", "16"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Stopped at the --max-cost budget of $10.0" in result.output
    stats = json.loads((out / "stats.json").read_text())
    assert stats["stopped"] == "max_cost" and 3 <= stats["paid_requests"] == len(server.requests) - since
    assert stats["cost_usd"] <= 10.0  # the old rule spent up to --concurrency requests past it
    more = invoke(*generate_args(server, out, "-n", "500", "--max-cost", "20", "--prices", str(prices)))
    assert more.exit_code == 0 and json.loads((out / "stats.json").read_text())["cost_usd"] <= 20.0


# 7. Every command, bad inputs: one line, no traceback


def bad_inputs(tmp_path: Path) -> list[list[str]]:
    missing = str(tmp_path / "missing")
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("not a folder\n")
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000)
    surrogate = tmp_path / "surrogate.jsonl"
    surrogate.write_bytes(b'{"instruction": "\\ud800 lone", "input": "", "output": "x"}\n')
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(os.urandom(2048))
    nan_prices = tmp_path / "prices.json"
    nan_prices.write_text('{"simulated-teacher": {"input": NaN, "output": 1}}')
    out = str(tmp_path / "out")
    return [
        ["generate", "-o", out, "--temperature", "nan"],
        ["generate", "-o", out, "--max-cost", "nan"],
        ["generate", "-o", out, "--rpm", "nan"],
        ["generate", "-o", out, "--tpm", "inf"],
        ["generate", "-o", out, "--timeout", "-1"],
        ["generate", "-o", out, "--top-p", "nan"],
        ["generate", "-o", out, "--seed-tasks", missing],
        ["generate", "-o", out, "--seed-tasks", str(nested)],
        ["generate", "-o", out, "--seed-tasks", str(surrogate)],
        ["generate", "-o", out, "--prices", str(nan_prices), "--max-cost", "1"],
        ["generate", "-o", str(a_file)],
        ["generate", "-o", out, "--base-url", "http://[::1"],
        ["dedup", missing, "-o", out],
        ["dedup", str(nested), "-o", out],
        ["dedup", str(a_file), "-o", out, "--threshold", "nan"],
        ["dataset", missing],
        ["dataset", str(a_file)],
        ["dataset", str(tmp_path), "--validation-size", "nan"],
        ["train", missing, "-o", out, "--base-model", missing],
        ["train", missing, "-o", out, "--learning-rate", "nan"],
        ["cache", "info", "--cache-path", str(tmp_path)],
        ["cache", "clear", "--cache-path", str(tmp_path)],
        ["teacher", "simulate", "--latency", "nan"],
        ["teacher", "simulate", "--port", "99999"],
        ["run", "-o", out, "--max-cost", "inf"],
        ["run", "-o", out, "--temperature", "nan"],
    ]


def test_every_command_answers_bad_input_with_one_line(server: SimulatorServer, tmp_path: Path) -> None:
    env = cli_env(OPENAI_BASE_URL=server.base_url)
    for args in bad_inputs(tmp_path):
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code in (1, 2), (args, result.output)
        assert isinstance(result.exception, SystemExit), (args, repr(result.exception))  # handled, not a crash
        errors = [line for line in result.output.splitlines() if line.startswith("Error")]
        assert "Traceback (most" not in result.output and len(errors) == 1, (args, result.output)


def test_a_folder_that_cannot_be_made_is_one_line_and_verbose_shows_the_traceback(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    command = [sys.executable, "-m", "flows.cli", "generate", "-n", "5", "-o", str(a_file / "run"), "--no-progress"]
    quiet = subprocess.run(command, env=cli_env(), capture_output=True, text=True, timeout=WAIT_S)
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr
    assert_one_line_error(quiet.stderr, f"{a_file / 'run'}: Not a directory")
    verbose = subprocess.run([*command[:3], "-v", *command[3:]], env=cli_env(), capture_output=True, text=True,
                             timeout=WAIT_S)  # fmt: skip
    assert verbose.returncode == 1 and "Traceback (most recent call last)" in verbose.stderr


# 8. Adaptive concurrency


def test_the_window_starts_small_doubles_halves_once_a_round_and_keeps_its_bounds() -> None:
    from pipeline.teacher.window import AdaptiveWindow

    window = AdaptiveWindow(limit=16, slow_s=1.0)
    sizes = []
    for _ in range(5):
        for _ in range(window.allowed):
            window.answered(0.1)
        sizes.append(window.allowed)
    assert sizes == [2, 4, 8, 16, 16]  # slow start up to --concurrency, never past it
    window.overloaded()
    window.overloaded()  # the same congestion seen by another request in flight: not halved twice
    assert window.allowed == 8 and window.shrinks == 1
    window.answered(1.5)  # slower than half the timeout: the server is queueing
    assert window.allowed == 8  # within one round trip of the last halving
    for _ in range(20):
        window._shrunk_at = -float("inf")  # a round trip later, each time
        window.overloaded()
    assert window.allowed == 1
    for _ in range(3):
        window.answered(0.1)
    assert window.allowed == 2  # after an overload it grows by about one a round, not doubling


def test_a_one_slot_server_is_kept_busy_without_timeouts_and_a_large_one_gets_the_full_window(
    tmp_path: Path,
) -> None:
    args = ["-n", "1000", "--max-requests", "24", "--concurrency", "16"]
    with SimulatorServer(SimulatorConfig(seed=4, latency_s=0.15, slots=1)) as one_slot:
        # A fixed window of 16 would queue 2.4 s of answers: past the 2 s timeout, retried and paid again.
        result = invoke(*generate_args(one_slot, tmp_path / "one", *args, "--timeout", "2"))
        assert result.exit_code == 0, result.output
        assert one_slot.stats() == {"200": 24} and 2 <= one_slot.peak_concurrency() < 16
    stats = json.loads((tmp_path / "one" / "stats.json").read_text())
    assert stats["retries"] == 0 and stats["answers"] == 24
    with SimulatorServer(SimulatorConfig(seed=4, latency_s=0.3)) as large:
        result = invoke(*generate_args(large, tmp_path / "large", *args[:2], "--max-requests", "80", *args[4:]))
        assert result.exit_code == 0, result.output
        # The window reaches 16; the server sees nearly all of them at once even when this machine is loaded.
        assert large.peak_concurrency() >= 12


# 9. Smaller items


def test_a_context_overflow_is_remembered_for_the_run_its_cache_key_and_its_manifest(tmp_path: Path) -> None:
    """A server whose context fits answers of at most 1,000 tokens: the run asks for 768 after two overflows on its
    first request, never again more, and a second run with the same cache pays for nothing."""
    asked: list[int] = []

    def answer(headers, request) -> tuple[int, str, str]:
        asked.append(request["max_tokens"])
        if request["max_tokens"] > 1000:
            error = {"message": "This model's maximum context length is 2048 tokens.", "type": "invalid_request_error",
                     "param": "max_tokens", "code": "context_length_exceeded"}  # fmt: skip
            return 400, "application/json", json.dumps({"error": error})
        text = "\n".join(f"{n}. Instruction: Name a colour number {n}.\n{n}. Input:\n<noinput>\n{n}. Output:\nBlue"
                         for n in range(4, 8))  # fmt: skip
        message = {"role": "assistant", "content": f"4. Instruction:{text[len('4. Instruction:') :]}"}
        usage = {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
        return 200, "application/json", json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}], "usage": usage})  # fmt: skip

    cache = tmp_path / "cache.sqlite"
    with ScriptedServer(answer) as server:
        for run in ("a", "b"):
            result = invoke("generate", "-n", "1000", "--max-requests", "5", "-o", str(tmp_path / run), "--base-url",
                            server.base_url, "--model", "m", "--cache-path", str(cache), "--no-progress")  # fmt: skip
            assert result.exit_code == 0, result.output
    # Run a: two overflows, then 768 for every request. Run b (a new folder, the same cache) overflows the same way
    # (errors, not paid), then finds every answer in the cache under the 768-token key: no answer is asked again.
    assert asked == [3072, 1536, 768, 768, 768, 768, 768, 3072, 1536]
    for run in ("a", "b"):
        assert json.loads((tmp_path / run / "manifest.json").read_text())["teacher_context_max_tokens"] == 768


@pytest.mark.parametrize("limit", [3_000, 10_000, 25_000, 60_000])  # the write that fails lands in different files
def test_a_full_disk_is_one_line_leaves_no_temporary_file_and_the_run_resumes(
    server: SimulatorServer, reference_40: Path, tmp_path: Path, limit: int
) -> None:
    import resource
    import signal

    def small_disk() -> None:  # no file may grow past `limit` bytes: writes fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = tmp_path / "run"
    command = [sys.executable, "-m", "flows.cli", *generate_args(server, out)]
    full = subprocess.run(command, env=cli_env(), capture_output=True, text=True, timeout=WAIT_S,
                          preexec_fn=small_disk)  # fmt: skip
    assert full.returncode == 1, full.stderr
    assert_one_line_error(full.stderr, "File too large", "nothing done so far is lost")
    assert [path.name for path in out.iterdir() if path.suffix == ".tmp"] == []
    assert invoke(*generate_args(server, out)).exit_code == 0
    assert (out / "kept.jsonl").read_bytes() == (reference_40 / "kept.jsonl").read_bytes()

"""The Prefect layer under a real (test-harness) Prefect server: the end-to-end flow, its artifacts, a
scheduled deployment and its parameter form, the library's logs in the flow-run logs, and a flow run killed
mid-generation then run again."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

pytest.importorskip("prefect")

from prefect.artifacts import Artifact  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402

from flows.alpaca import DATASET_ARTIFACT, alpaca_pipeline, generate_instructions, latest_dataset  # noqa: E402
from flows.params import GenerateParams, PipelineParams  # noqa: E402
from flows.settings import OUTPUTS_ROOT_ENV  # noqa: E402
from pipeline.core.jsonio import read_jsonl  # noqa: E402
from pipeline.core.runfiles import PARTS, RESPONSES  # noqa: E402
from pipeline.simulator.server import SimulatorConfig, SimulatorServer  # noqa: E402


@pytest.fixture(scope="module")
def prefect_server():
    """One Prefect test server for this module (its start costs 10-25 s here)."""
    with prefect_test_harness(server_startup_timeout=120):
        yield


def offline(server: SimulatorServer, output_dir: Path, **changes: object) -> GenerateParams:
    settings = {"output_dir": str(output_dir), "base_url": server.base_url, "model": "simulated-teacher",
                "use_cache": False, "batch_requests": 3, "parallel_batches": 2, "concurrency": 2}  # fmt: skip
    return GenerateParams(**{**settings, **changes})


def flow_run_logs(flow_run_id: UUID) -> list[Any]:
    """A flow run's logs (its task runs' included) as the Prefect API stores them, once every buffered one is sent."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    async def read() -> list[Any]:
        await APILogHandler.aflush()
        logs: list[Any] = []
        async with get_client() as client:
            while page := await client.read_logs(
                LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])), limit=200, offset=len(logs)
            ):
                logs += page
        return logs

    return asyncio.run(read())


def journaled_indices(run_dir: Path) -> set[int]:
    """Request indices journaled so far: in responses.jsonl, or in a batch task's part not folded into it yet."""
    journals = [run_dir / RESPONSES, *(run_dir / PARTS).glob("part-*.jsonl")]
    return {record["request_index"] for path in journals if path.exists() for record in read_jsonl(path, True)}


def test_end_to_end_flow_publishes_the_dataset(prefect_server, teacher_server, tmp_path: Path) -> None:
    from datasets import load_from_disk

    run_dir = tmp_path / "run"
    result = alpaca_pipeline(
        PipelineParams(generate=offline(teacher_server, run_dir, num_instructions=60), finetune=None)
    )
    assert result["generate"] == {"run_dir": str(run_dir.resolve()), "kept": 60, "stopped": "target"}
    dataset = load_from_disk(result["dataset"]["hf_dir"])
    assert dataset["train"].num_rows + dataset["validation"].num_rows == 60

    published = latest_dataset()  # what consumers do: Artifact.get("alpaca-dataset")
    assert published["dataset_dir"] == result["dataset"]["dataset_dir"] and published["kept"] == 60
    description = Artifact.get(DATASET_ARTIFACT).description  # a headline, then the dataset card's body
    assert description.startswith(f"Dataset `{published['dataset_dir']}`") and "\n# " in description
    # The card is longer than the description holds: whole sections, then where the rest is.
    shown, note = description.rsplit("\n\n*The full card, with ", 1)
    assert len(description) <= 5000 and note.endswith(f", is `{published['card']}`.*")
    card = Path(published["card"]).read_text(encoding="utf-8")
    next_section = card.split(shown.split("\n## ")[-1], 1)[1]
    assert next_section.startswith("\n\n## ") and note.startswith(next_section[5:].split("\n", 1)[0])
    stats = json.loads(Artifact.get("alpaca-generation-stats").data)
    assert {"measure": "kept", "value": 60} in stats
    assert any(row["measure"].startswith("rejected: ") for row in stats)
    report = Artifact.get("alpaca-dataset-report").data  # the report summary with its figures, embedded
    assert report.count("](data:image/png;base64,") == 5 and ".png)" not in report
    progress = Artifact.get("alpaca-generation-progress")
    assert float(progress.data) == 100.0 and "60 / 60 kept" in progress.description

    # The CLI with the same settings makes the same run; the flow's counters are the real ones.
    from click.testing import CliRunner

    from flows.cli import main

    cli_dir = tmp_path / "cli"
    args = ["generate", "-n", "60", "-o", str(cli_dir), "--base-url", teacher_server.base_url, "--model",
            "simulated-teacher", "--no-cache", "--concurrency", "2", "--no-progress"]  # fmt: skip
    assert CliRunner().invoke(main, args).exit_code == 0
    for name in ("kept.jsonl", "rejected.jsonl"):
        assert (run_dir / name).read_bytes() == (cli_dir / name).read_bytes()
    flow_stats, cli_stats = (json.loads((folder / "stats.json").read_text()) for folder in (run_dir, cli_dir))
    same = ("kept", "candidates", "answers", "prompt_tokens", "completion_tokens", "rejected", "stopped")
    assert {name: flow_stats[name] for name in same} == {name: cli_stats[name] for name in same}
    answered = len((run_dir / RESPONSES).read_text().splitlines())
    assert flow_stats["new_requests"] == flow_stats["received"] == flow_stats["paid_requests"] == answered > 0
    assert flow_stats["elapsed_s"] > 0 and flow_stats["added"] == 60
    assert {"measure": "new_requests", "value": answered} in stats
    assert f"| Teacher requests answered | {answered} ({answered} paid," in card


def test_published_paths_are_absolute_and_load_from_elsewhere(prefect_server, teacher_server, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from datasets import load_from_disk

    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")  # where the process runs: never where relative folders go
    monkeypatch.setenv(OUTPUTS_ROOT_ENV, str(tmp_path / "root"))  # as `serve --outputs-root` sets it
    alpaca_pipeline(PipelineParams(generate=offline(teacher_server, Path("rel") / "run", num_instructions=20),
                                   finetune=None))  # fmt: skip
    published = latest_dataset()
    paths = {name: value for name, value in published.items() if name in ("dataset_dir", "hf_dir", "alpaca_json",
                                                                            "card", "report")}  # fmt: skip
    assert len(paths) == 5 and all(Path(value).is_absolute() for value in paths.values()), paths
    assert published["dataset_dir"] == str(tmp_path / "root" / "rel" / "run" / "dataset")
    assert not (tmp_path / "here" / "rel").exists()
    monkeypatch.chdir("/")  # a consumer elsewhere: the README's snippet
    dataset = load_from_disk(json.loads(Artifact.get(DATASET_ARTIFACT).data)[0]["hf_dir"])
    assert sum(split.num_rows for split in dataset.values()) == 20


def test_deployment_schedule_and_parameter_form(prefect_server) -> None:
    import jsonschema
    from prefect.client.orchestration import get_client

    from flows.serve import build_deployments

    unbudgeted = next(d for d in build_deployments(max_cost=None) if d.name == "weekly")  # serve --no-max-cost
    assert unbudgeted.parameters["params"]["generate"]["max_cost"] is None and "$" not in unbudgeted.description
    deployments = build_deployments(generation_cron="30 1 * * *")
    nightly = next(d for d in deployments if d.name == "nightly")
    deployment_id = nightly.apply()

    async def read() -> object:
        async with get_client() as client:
            return await client.read_deployment(deployment_id)

    import asyncio

    stored = asyncio.run(read())
    assert [schedule.schedule.cron for schedule in stored.schedules] == ["30 1 * * *"]
    schema = stored.parameter_openapi_schema
    jsonschema.validate(stored.parameters, schema)  # the defaults fill a valid form
    for bad in ({"num_instructions": 0}, {"temperature": 3}, {"api": "soap"}, {"unknown_field": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"params": {**stored.parameters["params"], **bad}}, schema)
    with pytest.raises(Exception, match="num_instructions"):
        generate_instructions.validate_parameters({"params": {"num_instructions": -1}})


def test_library_info_logs_reach_the_flow_run_logs(prefect_server, teacher_server, tmp_path: Path) -> None:
    """Not only on the console: the library's INFO lines (here, continuing a run) reach the flow run's logs."""
    run_dir = tmp_path / "run"
    generate_instructions(offline(teacher_server, run_dir, num_instructions=20))
    # 100: beyond what the first run's answers already hold, so the second run continues it
    state = generate_instructions(offline(teacher_server, run_dir, num_instructions=100), return_state=True)
    assert state.result()["kept"] == 100
    logs = flow_run_logs(state.state_details.flow_run_id)
    library = [log for log in logs if log.name.startswith("pipeline.") and log.level == logging.INFO]
    assert library, [(log.name, log.message) for log in logs]


def test_killed_flow_run_continues_without_repaying(prefect_server, tmp_path: Path, request_hash) -> None:
    from prefect.settings import PREFECT_API_URL

    run_dir = tmp_path / "killed"
    with SimulatorServer(SimulatorConfig(latency_s=0.3)) as server:
        params = offline(server, run_dir, num_instructions=300)
        code = (
            "from flows.alpaca import generate_instructions\nfrom flows.params import GenerateParams\n"
            f"generate_instructions(GenerateParams.model_validate_json({params.model_dump_json()!r}))\n"
        )
        env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
        process = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        # Killed once a few answers are journaled (the run needs ~25): a condition, so a slow start cannot move it.
        target = random.Random(5).randint(2, 8)
        deadline = time.monotonic() + 300  # only to fail clearly if nothing is ever journaled
        try:
            while len(journaled_indices(run_dir)) < target:
                assert process.poll() is None, "the flow run ended before it could be killed"
                assert time.monotonic() < deadline, f"fewer than {target} answers journaled after 300 s"
                time.sleep(0.02)
        finally:
            process.kill()  # SIGKILL: no handler, no cleanup
        assert process.wait() == -signal.SIGKILL, "the flow run ended by itself before the kill"
        killed_at = time.time()
        journaled = journaled_indices(run_dir)
        seen = len(server.requests)

        result = generate_instructions(params)
        assert result["kept"] == 300 and result["stopped"] == "target"
        index_of = {request_hash(index): index for index in range(2000)}
        after_kill = [r for r in server.requests[seen:] if r.status == 200 and r.timestamp > killed_at]
        repaid = {index_of[r.body_sha256] for r in after_kill} & journaled
        assert repaid == set(), f"answers journaled before the kill were requested again: {sorted(repaid)}"
        assert len(after_kill) > 0  # the second run did have work left


def test_finetune_flow_trains_on_the_published_dataset(prefect_server, teacher_server, tmp_path: Path,
                                                       build_tiny_llama) -> None:  # fmt: skip
    pytest.importorskip("trl")
    from flows.alpaca import build_dataset_flow, finetune
    from flows.params import DatasetParams, FinetuneParams

    run_dir = tmp_path / "run"
    generate_instructions(offline(teacher_server, run_dir, num_instructions=40))
    build_dataset_flow(DatasetParams(run_dir=str(run_dir), validation_size=0.1))
    base = build_tiny_llama(tmp_path / "tiny", ["Below is an instruction that describes a task."])
    state = finetune(FinetuneParams(base_model=str(base), output_dir=str(tmp_path / "model"), max_steps=2,
                                    eval_samples=1, learning_rate=1e-3, evaluate_examples=4),
                     return_state=True)  # fmt: skip
    result = state.result()
    assert result["report"]["dataset"] == str((run_dir / "dataset" / "hf").resolve())  # found through Artifact.get
    assert (tmp_path / "model" / "eval.json").is_file()
    assert "loss" in Artifact.get("alpaca-model-eval").data.lower()
    assert result["evaluation"]["examples"] == 4 and "Win rate" in Artifact.get("alpaca-model-winrate").data
    logs = flow_run_logs(state.state_details.flow_run_id)
    progress = [log.message for log in logs if log.name == "pipeline.sft.finetune" and ": loss " in log.message]
    assert [line.split(":")[0] for line in progress] == ["step 1 of 2", "step 2 of 2"], progress  # every step


def test_weekly_deployment_runs_twice_on_a_growing_rolling_run(prefect_server, teacher_server, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                build_tiny_llama) -> None:  # fmt: skip
    """The weekly deployment's own parameters, run week after week: each grown dataset trains a new model version
    (never tripping over the last), an unchanged one trains nothing, and `alpaca-model` names the newest."""
    pytest.importorskip("trl")
    from flows.serve import build_deployments

    monkeypatch.setenv(OUTPUTS_ROOT_ENV, str(tmp_path / "outputs"))
    monkeypatch.chdir(tmp_path)
    weekly = next(d for d in build_deployments() if d.name == "weekly")
    assert str(tmp_path / "outputs" / "rolling") in weekly.description
    base = build_tiny_llama(tmp_path / "tiny", ["Below is an instruction that describes a task."])
    params = PipelineParams.model_validate(weekly.parameters["params"])
    assert params.generate.max_cost is not None  # a one-click run of a deployment that buys answers has a budget
    prices = tmp_path / "prices.json"  # a budget needs a price: the local teacher's, as a user of serve would give
    prices.write_text(json.dumps({"simulated-teacher": {"input": 0.15, "output": 0.6}}))
    week = {"generate": {"base_url": teacher_server.base_url, "model": "simulated-teacher", "use_cache": False,
                         "prices": str(prices)},
            "finetune": {"base_model": str(base), "max_steps": 1, "eval_samples": 1}}  # fmt: skip

    def run_week(examples: int) -> dict[str, Any]:
        generate = params.generate.model_copy(update={**week["generate"], "num_instructions": examples})
        finetune = params.finetune.model_copy(update=week["finetune"])
        return alpaca_pipeline(params.model_copy(update={"generate": generate, "finetune": finetune}))

    models = tmp_path / "outputs" / "rolling" / "models"
    first = run_week(20)["finetune"]
    second = run_week(40)["finetune"]
    assert first["version"] != second["version"] and not second["reused"]
    assert second["output_dir"] == str(models / second["version"]) and second["version"].startswith("40-examples-")
    assert sorted(path.name for path in models.iterdir() if not path.name.endswith(".lock")) == sorted(
        [first["version"], second["version"], "latest.json"]
    )  # each version's train lock (.NAME.lock) stays beside it, empty
    assert json.loads((models / "latest.json").read_text())["model_dir"] == second["output_dir"]
    published = json.loads(Artifact.get("alpaca-model").data)[0]
    assert published["model_dir"] == second["output_dir"] and published["train_records"] + 1 <= 40
    assert Path(published["dataset"]).is_absolute() and published["fine_tuned_loss"] is not None
    assert "alpaca-model-eval" in Artifact.get("alpaca-model").description

    again = run_week(40)["finetune"]  # the same dataset again: nothing to train, the same version
    assert again["reused"] and again["output_dir"] == second["output_dir"]


def test_pipeline_reanswers_judges_and_keeps_the_best(prefect_server, teacher_server, tmp_path: Path) -> None:
    """generate -> reanswer -> judge -> dataset with min_score, as flows with batch tasks (AlpaGasus on
    Alpaca-GPT4-style outputs); every example is judged once, and the dataset holds only those scored >= 4."""
    from flows.params import DatasetParams, JudgeParams, ReanswerParams
    from pipeline.dataset.build import load

    run_dir = tmp_path / "reviewed"
    review = {"base_url": teacher_server.base_url, "model": "simulated-teacher", "use_cache": False,
              "batch_requests": 7, "parallel_batches": 2}  # fmt: skip
    result = alpaca_pipeline(PipelineParams(
        generate=offline(teacher_server, run_dir, num_instructions=40), reanswer=ReanswerParams(**review),
        judge=JudgeParams(**review), dataset=DatasetParams(min_score=4.0, validation_size=0), finetune=None,
    ))  # fmt: skip
    assert result["reanswer"]["answered"] == result["judge"]["answered"] == result["judge"]["judged"] == 40
    judgements = read_jsonl(run_dir / "judgements" / "reanswered-accuracy.jsonl")
    assert len({j["key"] for j in judgements}) == len(judgements) == 40  # the batch parts folded, each key once
    assert not (run_dir / "judgements" / "reanswered-accuracy.parts").exists()
    rows = load(run_dir)["train"]
    assert 0 < len(rows) < 40 and all(row["score"] >= 4 and row["output"].startswith("Answering ") for row in rows)
    scores = json.loads(Artifact.get("alpaca-judge-scores").data)
    assert sum(row["examples"] for row in scores) == 40


def test_generation_flow_through_the_batch_api(prefect_server, teacher_server, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("ALPACA_PIPELINE_BATCH_POLL_S", "0.05")
    online = generate_instructions(offline(teacher_server, tmp_path / "online", num_instructions=40))
    batched = generate_instructions(offline(teacher_server, tmp_path / "batched", num_instructions=40, batch=True))
    assert online["kept"] == batched["kept"] == 40 and (tmp_path / "batched" / "batches.jsonl").is_file()
    assert (tmp_path / "batched" / "kept.jsonl").read_bytes() == (tmp_path / "online" / "kept.jsonl").read_bytes()
    progress = Artifact.get("alpaca-generation-progress")  # the last batch's request counts
    assert float(progress.data) == 100.0 and "batch completed" in progress.description


def test_batch_tasks_on_a_dask_cluster_give_the_same_run(prefect_server, teacher_server, tmp_path: Path) -> None:
    pytest.importorskip("prefect_dask")
    from prefect_dask import DaskTaskRunner

    on_threads = generate_instructions(offline(teacher_server, tmp_path / "threads", num_instructions=40))
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True})
    on_dask = generate_instructions.with_options(task_runner=runner)(
        offline(teacher_server, tmp_path / "dask", num_instructions=40)
    )
    assert on_threads["kept"] == on_dask["kept"] == 40
    assert (tmp_path / "dask" / "kept.jsonl").read_bytes() == (tmp_path / "threads" / "kept.jsonl").read_bytes()


def test_a_key_the_teacher_echoes_never_reaches_prefects_database(
    prefect_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flow fails on a server that quotes the Authorization header in its 400: Prefect stores the failure in
    flow and task states, logs and events; the key must be in none of them (it is redacted where it is raised)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL

    secret = "sk-proj-ECHOED-INTO-PREFECT-0123456789abcdef"

    class Echo(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            message = f"bad header Authorization: {self.headers.get('Authorization')}"
            body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    echo = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    Thread(target=echo.serve_forever, daemon=True).start()
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    params = GenerateParams(output_dir=str(tmp_path / "run"), base_url=f"http://127.0.0.1:{echo.server_address[1]}/v1",
                            model="m", use_cache=False, num_instructions=5)  # fmt: skip
    try:
        state = generate_instructions(params, return_state=True)
    finally:
        echo.shutdown()
        echo.server_close()
    assert state.is_failed() and "[redacted]" in str(state.message) + repr(state.data)
    from prefect.logging.handlers import APILogHandler

    asyncio.run(APILogHandler.aflush())
    database = Path(PREFECT_API_DATABASE_CONNECTION_URL.value().split("///", 1)[1])
    stored = [path for path in database.parent.glob(f"{database.name}*") if path.is_file()]
    assert any(b"Bearer [redacted]" in path.read_bytes() for path in stored)  # the failure was stored, redacted
    assert all(secret.encode() not in path.read_bytes() for path in stored)


def test_a_flow_run_keeps_to_its_budget(prefect_server, teacher_server, tmp_path: Path) -> None:
    """Rounds of batch tasks reserve each request's worst case too: the flow stops before crossing --max-cost."""
    prices = tmp_path / "prices.json"  # about $1.5 an answer, at most ~$3.2
    prices.write_text(json.dumps({"simulated-teacher": {"input": 100.0, "output": 1000.0}}))
    params = offline(teacher_server, tmp_path / "run", num_instructions=500, max_cost=10.0, prices=str(prices))
    result = generate_instructions(params)
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert result["stopped"] == "max_cost" and stats["paid_requests"] >= 3 and stats["cost_usd"] <= 10.0

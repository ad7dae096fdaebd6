"""The Prefect flows: generate-instructions, build-dataset, finetune, and alpaca-pipeline end to end.

Thin by design: every task body is a call into `pipeline/`. The run folder, not Prefect's result cache, is
the source of truth for resume, so a crashed or cancelled flow run re-run with the same parameters continues
where it stopped without paying for any answer twice.
"""

# No `from __future__ import annotations`: flow.serve() needs the real annotations of flow parameters.

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    Artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import TerminationSignal
from prefect.futures import wait

from flows.params import (
    DatasetParams,
    FinetuneParams,
    GenerateParams,
    JudgeParams,
    PipelineParams,
    ReanswerParams,
    ReviewParams,
)
from flows.settings import batch_poll_s, default_of, under_outputs_root
from pipeline.core.errors import PipelineError
from pipeline.core.runfiles import STATS

DATASET_ARTIFACT = "alpaca-dataset"  # the stable key consumers look up: Artifact.get("alpaca-dataset")
MODEL_ARTIFACT = "alpaca-model"  # the latest model: Artifact.get("alpaca-model")
EVAL_ARTIFACT = "alpaca-model-eval"
PROGRESS_EVERY_S = 15.0  # how often the progress artifact moves while a round of batch tasks runs
ARTIFACT_DESCRIPTION_LIMIT = 5000  # characters of the card shown in the artifact's description


def _configs(params: GenerateParams, base_url: str, model: str, share: int = 1) -> tuple[Any, Any]:
    """The library's configs from the form; a batch task paces itself to its `share` of the run's budgets."""
    from pipeline.generation.config import GenerateConfig
    from pipeline.teacher.config import TeacherConfig

    config = GenerateConfig(
        num_instructions=params.num_instructions, run_seed=params.run_seed, rouge_threshold=params.rouge_threshold,
        tokenizer=params.tokenizer, max_concurrency=params.concurrency, max_cost_usd=params.max_cost,
        num_demonstrations=params.num_demonstrations, tasks_per_request=params.tasks_per_request,
        max_requests=params.max_requests,
    )  # fmt: skip
    teacher = TeacherConfig(
        model=model, base_url=base_url, api=params.api, temperature=params.temperature, top_p=params.top_p,
        max_tokens=params.max_tokens, timeout_s=params.timeout_s, rpm=params.rpm / share if params.rpm else None,
        tpm=params.tpm / share if params.tpm else None,
    )  # fmt: skip
    return config, teacher


def _seed_path(params: GenerateParams) -> Path:
    from pipeline.generation.seeds import default_seed_path

    return Path(params.seed_tasks) if params.seed_tasks else default_seed_path()


def _retry_can_fix(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a batch only for failures a retry can fix; a bad key or model fails the run at once."""
    try:
        state.result()
    except PipelineError:
        return False
    except Exception:  # noqa: BLE001 - anything else (a crashed worker, a network outage) may pass
        return True
    return False


@task(retries=2, retry_delay_seconds=10, retry_condition_fn=_retry_can_fix, cache_policy=NO_CACHE)
def fetch_batch(
    params: GenerateParams, base_url: str, model: str, indices: list[int], share: int
) -> dict[str, int | None]:
    """Fetch one range of requests (many in flight) into its own journal part of the run folder, paced to
    1/`share` of the run's rpm and tpm budgets (`share`: the batch tasks of this round)."""
    from flows.endpoint import LOCAL_SERVER_KEY
    from pipeline.generation.fetch import fetch_batch as fetch_into_part
    from pipeline.generation.seeds import load_seed_tasks
    from pipeline.teacher.cache import ResponseCache, default_cache_path

    config, teacher = _configs(params, base_url, model, share)
    cache = ResponseCache(default_cache_path()) if params.use_cache else None
    try:
        api_key = os.environ.get("OPENAI_API_KEY") or LOCAL_SERVER_KEY  # from the worker, never a parameter
        seeds = load_seed_tasks(_seed_path(params))
        return fetch_into_part(config, teacher, api_key, seeds, params.output_dir, indices, cache)
    finally:
        if cache is not None:
            cache.close()


@task(cache_policy=NO_CACHE)  # no retries: a re-run resumes the journaled batches itself
def generate_in_batches(params: GenerateParams, base_url: str, model: str,
                        prices: dict[str, tuple[float, float]]) -> dict[str, Any]:  # fmt: skip
    """The whole generation through the OpenAI Batch API (pipeline/generation/batched.py)."""
    from flows.endpoint import LOCAL_SERVER_KEY
    from pipeline.generation.batched import generate_batched
    from pipeline.generation.seeds import load_seed_tasks

    config, teacher = _configs(params, base_url, model)
    api_key = os.environ.get("OPENAI_API_KEY") or LOCAL_SERVER_KEY
    progress = create_progress_artifact(0.0, key="alpaca-generation-progress", description="Submitting a batch")

    def on_poll(status: str, finished: int, total: int) -> None:  # the batch's request counts, as the UI shows them
        shown = f"batch {status}: {finished:,} / {total:,} requests finished"
        update_progress_artifact(progress, 100.0 * finished / max(total, 1), description=shown)

    stats = generate_batched(config, teacher, api_key, _seed_path(params), load_seed_tasks(_seed_path(params)),
                             params.output_dir, prices, progress=False, poll_s=batch_poll_s(),
                             on_poll=on_poll)  # fmt: skip
    return stats.to_dict()


@flow(name="generate-instructions")
def generate_instructions(params: GenerateParams) -> dict[str, Any]:
    """Bootstrap examples into params.output_dir: the engine says what to fetch, batch tasks fetch it in parallel."""
    from flows.endpoint import budget_prices, resolve_endpoint, teacher_model
    from pipeline.generation.engine import Engine
    from pipeline.generation.seeds import load_seed_tasks
    from pipeline.teacher.config import TeacherConfig
    from pipeline.teacher.cost import load_prices

    logger = get_run_logger()
    params = params.model_copy(update={"output_dir": under_outputs_root(params.output_dir)})
    seeds = load_seed_tasks(_seed_path(params))
    base_url = params.base_url or os.environ.get("OPENAI_BASE_URL")
    with resolve_endpoint(base_url, os.environ.get("OPENAI_API_KEY")) as endpoint:
        if endpoint.offline:
            logger.info("No OPENAI_API_KEY or base URL: the built-in offline teacher answers at %s", endpoint.base_url)
        model = teacher_model(endpoint, params.model, default_of(TeacherConfig, "model"))
        config, teacher = _configs(params, endpoint.base_url, model)
        prices = budget_prices(load_prices(params.prices), endpoint, model, params.max_cost)
        if params.batch:  # one task follows the batches, sleeping between polls
            stats_dict = generate_in_batches(params, endpoint.base_url, model, prices)
            _publish_stats(stats_dict, params.output_dir)
            return {"run_dir": params.output_dir, "kept": stats_dict["kept"], "stopped": stats_dict["stopped"]}
        engine = Engine(config, teacher, _seed_path(params), seeds, params.output_dir, prices)
        progress = create_progress_artifact(0.0, key="alpaca-generation-progress", description="Starting")
        try:
            while not (stats := engine.advance()).stopped:
                _show_progress(progress, stats, params.num_instructions)
                indices = engine.wanted(params.batch_requests * params.parallel_batches)
                size = params.batch_requests
                batches = [indices[i : i + size] for i in range(0, len(indices), size)]
                logger.info("kept %d / %d from %d answers; fetching requests %d-%d (%d batch tasks)", stats.kept,
                            params.num_instructions, stats.answers, indices[0], indices[-1], len(batches))  # fmt: skip
                # The budgets are shared by the batches that run, not by parallel_batches of them.
                futures = [fetch_batch.submit(params, endpoint.base_url, model, batch, len(batches))
                           for batch in batches]  # fmt: skip
                while wait(futures, timeout=PROGRESS_EVERY_S).not_done:  # use answers as they come, and show it
                    _show_progress(progress, engine.advance(), params.num_instructions)
                counts = [future.result() for future in futures]
                engine.add_retries(sum(c["retries"] for c in counts), sum(c["malformed"] for c in counts))
                if forced := [c["context_max_tokens"] for c in counts if c.get("context_max_tokens")]:
                    engine.note_context_max_tokens(min(forced))
        except (TerminationSignal, KeyboardInterrupt):
            logger.warning("Cancelled: the answers journaled so far stay in %s; a run with the same parameters "
                           "continues from there without paying for them again", params.output_dir)  # fmt: skip
            logging.getLogger("pipeline").setLevel(logging.ERROR)  # requests cut off by the cancel: not news
            raise
        finally:
            engine.close()
    _show_progress(progress, stats, params.num_instructions)
    _publish_stats(stats.to_dict(), params.output_dir)
    logger.info("kept %d of %d candidates into %s", stats.kept, stats.candidates, params.output_dir)
    return {"run_dir": params.output_dir, "kept": stats.kept, "stopped": stats.stopped}


def _show_progress(progress: Any, stats: Any, target: int) -> None:
    spent = f", ${stats.cost_usd:.2f} spent" if stats.cost_usd is not None else ""
    update_progress_artifact(
        progress, min(100.0, 100.0 * stats.kept / target),
        description=f"{stats.kept:,} / {target:,} kept, {stats.answers:,} answers used{spent}",
    )  # fmt: skip


def _publish_stats(summary: dict[str, Any], run_dir: str) -> None:
    """The generation's counters as a table artifact: the same ones stats.json holds."""
    measures = ("kept", "added", "candidates", "answers", "keep_rate", "received", "paid_requests", "new_requests",
                "cache_hits", "paid_prompt_tokens", "paid_completion_tokens", "cost_usd", "retries", "elapsed_s",
                "stopped")  # fmt: skip
    shown = {**summary, "keep_rate": round(summary["keep_rate"], 4), "elapsed_s": round(summary["elapsed_s"], 1)}
    rows = [{"measure": name, "value": shown[name]} for name in measures]
    rows += [{"measure": f"rejected: {reason}", "value": count} for reason, count in summary["rejected"].items()]
    create_table_artifact(rows, key="alpaca-generation-stats", description=f"Run folder `{Path(run_dir).resolve()}`")


def _review_teacher(params: ReviewParams, base_url: str, model: str, share: int = 1) -> Any:
    from pipeline.teacher.config import TeacherConfig

    return TeacherConfig(
        model=model, base_url=base_url, api=params.api, temperature=params.temperature,  # type: ignore[attr-defined]
        max_tokens=params.max_tokens, rpm=params.rpm / share if params.rpm else None,  # type: ignore[attr-defined]
        tpm=params.tpm / share if params.tpm else None,
    )  # fmt: skip


def _review_plan(params: ReviewParams, teacher: Any) -> Any:
    if isinstance(params, JudgeParams):
        from pipeline.review.judge import judge_plan

        return judge_plan(params.run_dir, teacher, params.rubric, params.outputs, params.include_rejected)
    from pipeline.review.reanswer import reanswer_plan

    return reanswer_plan(params.run_dir, teacher)


@task(retries=2, retry_delay_seconds=10, retry_condition_fn=_retry_can_fix, cache_policy=NO_CACHE)
def review_batch(params: ReviewParams, base_url: str, model: str, keys: list[str], part: int, share: int,
                 max_cost: float | None, prices: dict[str, tuple[float, float]]) -> dict[str, Any]:  # fmt: skip
    """Ask the review requests `keys` into journal part `part`, paced to 1/`share` of the rpm and tpm budgets."""
    from flows.endpoint import LOCAL_SERVER_KEY
    from pipeline.review.job import parts_folder, run_requests
    from pipeline.teacher.cache import ResponseCache, default_cache_path

    teacher = _review_teacher(params, base_url, model, share)
    plan = _review_plan(params, teacher)
    wanted = set(keys)
    requests = [request for request in plan.requests if request.key in wanted]
    journal = parts_folder(plan.journal) / f"part-{part:05d}.jsonl"
    cache = ResponseCache(default_cache_path()) if params.use_cache else None
    try:
        api_key = os.environ.get("OPENAI_API_KEY") or LOCAL_SERVER_KEY  # from the worker, never a parameter
        if params.batch:  # the batch journal sits beside the part; a retried task resumes its batch
            from pipeline.review.job import run_requests_batched

            run_requests = run_requests_batched  # noqa: N806
        stats = run_requests(plan.task, requests, teacher, api_key, journal, plan.record,
                             concurrency=params.concurrency, max_cost=max_cost, prices=prices, cache=cache,
                             progress=False, poll_s=batch_poll_s())  # fmt: skip
    finally:
        if cache is not None:
            cache.close()
    return stats.to_dict()


def _review_flow(params: ReviewParams) -> tuple[Any, Any]:
    """Judge or re-answer a run folder in rounds of batch tasks; each key is asked once, whoever asks it."""
    from flows.endpoint import budget_prices, resolve_endpoint, teacher_model
    from pipeline.review.job import ReviewStats, journaled_keys, project
    from pipeline.teacher.config import TeacherConfig
    from pipeline.teacher.cost import load_prices, require_price

    logger = get_run_logger()
    params = params.model_copy(update={"run_dir": under_outputs_root(params.run_dir)})
    with resolve_endpoint(params.base_url or os.environ.get("OPENAI_BASE_URL"),
                          os.environ.get("OPENAI_API_KEY")) as endpoint:  # fmt: skip
        model = teacher_model(endpoint, params.model, default_of(TeacherConfig, "model"))
        teacher = _review_teacher(params, endpoint.base_url, model)
        plan = _review_plan(params, teacher)
        prices = budget_prices(load_prices(None), endpoint, model, params.max_cost)
        require_price(prices, model, params.max_cost)
        done = journaled_keys(plan.journal)
        todo = [request for request in plan.requests if request.key not in done]
        stats = ReviewStats(plan.task, model, items=len(plan.requests), done_before=len(plan.requests) - len(todo))
        stats.projection = project(todo, teacher, prices)
        logger.info("%s of %s with %s: %d of %d to ask (%d journaled); at most %s tokens", plan.task,
                    params.run_dir, model, len(todo), len(plan.requests), stats.done_before,
                    f"{stats.projection['prompt_tokens'] + stats.projection['max_completion_tokens']:,}")  # fmt: skip
        size, parallel = params.batch_requests, params.parallel_batches
        batches = [[request.key for request in todo[i : i + size]] for i in range(0, len(todo), size)]
        for first in range(0, len(batches), parallel):
            round_batches = batches[first : first + parallel]
            left = None if params.max_cost is None else max(0.0, params.max_cost - (stats.cost_usd or 0.0))
            futures = [review_batch.submit(params, endpoint.base_url, model, keys, first + i, len(round_batches),
                                           None if left is None else left / len(round_batches), prices)
                       for i, keys in enumerate(round_batches)]  # fmt: skip
            for future in futures:
                result = future.result()
                for name in ("answered", "cache_hits", "paid_requests", "paid_prompt_tokens",
                             "paid_completion_tokens", "retries"):  # fmt: skip
                    setattr(stats, name, getattr(stats, name) + result[name])
                if result["cost_usd"] is not None:
                    stats.cost_usd = (stats.cost_usd or 0.0) + result["cost_usd"]
                stats.stopped = stats.stopped or result["stopped"]
            logger.info("%s: %d of %d answered", plan.task, stats.done_before + stats.answered, stats.items)
            if stats.stopped:
                logger.warning("Stopped at the max_cost budget; run again with a higher one to continue")
                break
    return stats, plan


@flow(name="judge")
def judge_flow(params: JudgeParams) -> dict[str, Any]:
    """Score every kept example of params.run_dir 0-5 with an LLM judge; publish the scores' distribution."""
    from pipeline.review.judge import judge_stats

    stats, plan = _review_flow(params)
    plan.finish(judge_stats, stats)
    summary = json.loads(plan.journal.with_suffix(".stats.json").read_text(encoding="utf-8"))
    rows = [{"score": label, "examples": count} for label, count in summary["distribution"].items()]
    rows.append({"score": "unreadable", "examples": sum(summary["unreadable"].values())})
    mean = f"{summary['mean_score']:.2f}" if summary["mean_score"] is not None else "n/a"
    create_table_artifact(rows, key="alpaca-judge-scores", description=(
        f"{plan.task} scores of {summary['judged']:,} kept examples by `{stats.model}` (mean {mean}) in "
        f"`{plan.journal}`. Keep the best with the dataset's `min_score`."))  # fmt: skip
    return {**stats.to_dict(), "journal": str(plan.journal), **summary}


@flow(name="reanswer")
def reanswer_flow(params: ReanswerParams) -> dict[str, Any]:
    """New outputs for the kept instructions of params.run_dir from another teacher; the originals are kept."""
    from pipeline.review.reanswer import reanswer_stats

    stats, plan = _review_flow(params)
    plan.finish(reanswer_stats, stats)
    summary = reanswer_stats(plan.journal)
    return {**stats.to_dict(), "journal": str(plan.journal), **summary}


@task(cache_policy=NO_CACHE)
def build_dataset_task(params: DatasetParams) -> dict[str, Any]:
    from pipeline.dataset.build import build_dataset

    summary = build_dataset(params.run_dir, params.validation_size, params.seed, params.license, params.min_score,
                            params.unjudged, params.outputs, params.rubric)  # fmt: skip
    return {name: str(value) if isinstance(value, Path) else value for name, value in asdict(summary).items()}


@task(cache_policy=NO_CACHE)  # no retries: a missing token or a refused repo needs a person, not another try
def push_dataset_task(dataset_dir: str, repo_id: str, private: bool) -> str:
    from pipeline.dataset.build import push_to_hub

    return push_to_hub(dataset_dir, repo_id, private=private)


@flow(name="build-dataset")
def build_dataset_flow(params: DatasetParams) -> dict[str, Any]:
    """Build the dataset of a run folder and publish it as the `alpaca-dataset` artifact."""
    from pipeline.dataset.report import inline_figures

    params = params.model_copy(update={"run_dir": under_outputs_root(params.run_dir)})
    summary = build_dataset_task(params)
    stats = json.loads((Path(params.run_dir) / STATS).read_text(encoding="utf-8"))
    report = Path(summary["report"])
    report_text = f"Report: `{report}`"
    if report.is_file():  # the UI cannot open files beside the report, so the figures travel inside the artifact
        report_text = inline_figures(report.read_text(encoding="utf-8"), report.parent)
    create_markdown_artifact(report_text, key="alpaca-dataset-report", description="Data report of the latest dataset")
    rows = {f"{split}_rows": count for split, count in summary["splits"].items()}
    record = {
        "dataset_dir": summary["dataset_dir"], "hf_dir": summary["hf_dir"], "alpaca_json": summary["alpaca_json"],
        "card": summary["card"], "report": summary["report"], **rows, "kept": stats["kept"],
        "teacher_models": ", ".join(stats.get("teacher_models", {})),
    }  # fmt: skip
    card = Path(summary["card"]).read_text(encoding="utf-8")
    body = card.split("\n---\n", 1)[1] if card.startswith("---\n") else card  # the UI shows markdown, not YAML
    counts = ", ".join(f"{count:,} {split}" for split, count in summary["splits"].items())
    headline = f'Dataset `{summary["dataset_dir"]}`: {counts} rows. Load: `load_from_disk("{summary["hf_dir"]}")`'
    description = _whole_sections(f"{headline}\n\n{body}", ARTIFACT_DESCRIPTION_LIMIT, summary["card"])
    create_table_artifact([record], key=DATASET_ARTIFACT, description=description)
    if params.push_to_hub:  # after publishing: a failed upload leaves the local dataset usable by finetune
        record["hub_url"] = push_dataset_task(summary["dataset_dir"], params.push_to_hub, params.private)
    return record


def _whole_sections(markdown: str, limit: int, source: str) -> str:
    """As many whole `## ` sections of `markdown` as fit in `limit` characters, then a line naming the rest."""
    if len(markdown) <= limit:
        return markdown
    head, *sections = markdown.split("\n## ")
    titles = [section.split("\n", 1)[0] for section in sections]
    kept = head
    for count, section in enumerate(sections):
        rest = ", ".join(titles[count:])
        note = f"\n\n*The full card, with {rest}, is `{source}`.*"
        if len(kept) + len("\n## ") + len(section) + len(note) > limit:
            return kept.rstrip() + note
        kept += "\n## " + section
    return kept  # not reached: the whole text is longer than the limit


def latest_dataset() -> dict[str, Any]:
    """The dataset the last build-dataset run published: `Artifact.get("alpaca-dataset")`, read back."""
    artifact = Artifact.get(DATASET_ARTIFACT)
    if artifact is None:
        raise PipelineError(f"no `{DATASET_ARTIFACT}` artifact yet: run build-dataset first or pass a dataset path")
    data = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    return data[0]


@task(cache_policy=NO_CACHE)  # no retries: a failed fine-tune is looked at, not repeated blindly
def train_task(dataset: str, params: FinetuneParams) -> dict[str, Any]:
    """Train into params.output_dir, or into a new version of `models/` beside the dataset when it is empty."""
    from pipeline.sft.finetune import load_train_config, train, train_version

    config = load_train_config(params.config_file, params.training_overrides())
    if params.output_dir:
        result = train(dataset, params.output_dir, config, overwrite=params.overwrite)
    else:
        result = train_version(dataset, Path(dataset).parent / "models", config, keep=params.keep_models)
    return {"output_dir": str(result.output_dir), "merged_dir": str(result.merged_dir) if result.merged_dir else None,
            "version": result.version, "card": str(result.card), "eval_md": str(result.eval_md),
            "reused": result.reused, "report": result.report}  # fmt: skip


@flow(name="finetune")
def finetune(params: FinetuneParams) -> dict[str, Any]:
    """Fine-tune on params.dataset_path, or on the latest published dataset when none is given; publish the model
    as the `alpaca-model` artifact and its evaluation as `alpaca-model-eval`."""
    dataset = under_outputs_root(params.dataset_path) or str(Path(latest_dataset()["dataset_dir"]).resolve())
    params = params.model_copy(update={"output_dir": under_outputs_root(params.output_dir)})
    result = train_task(dataset, params)
    if result["reused"]:
        get_run_logger().info("%s already holds this model of this dataset: nothing to train", result["output_dir"])
    _publish_model(result)
    if params.evaluate_examples:
        result["evaluation"] = evaluate_task(result["output_dir"], params.evaluate_examples)
        report_md = Path(result["output_dir"]) / "winrate" / "report.md"
        description = f"Win rate of `{result['output_dir']}` against its base model"
        create_markdown_artifact(report_md.read_text(encoding="utf-8"), key="alpaca-model-winrate",
                                 description=description)  # fmt: skip
    return result


@task(cache_policy=NO_CACHE)
def evaluate_task(model_dir: str, examples: int) -> dict[str, Any]:
    """The model's pairwise win rate against its base model, judged by the teacher endpoint, into `winrate/`."""
    from flows.endpoint import resolve_endpoint, teacher_model
    from pipeline.sft.evaluate import evaluate
    from pipeline.teacher.cache import ResponseCache, default_cache_path
    from pipeline.teacher.config import TeacherConfig

    cache = ResponseCache(default_cache_path())
    try:
        with resolve_endpoint(os.environ.get("OPENAI_BASE_URL"), os.environ.get("OPENAI_API_KEY")) as endpoint:
            model = teacher_model(endpoint, None, default_of(TeacherConfig, "model"))
            judge = TeacherConfig(model=model, base_url=endpoint.base_url, temperature=0.0, max_tokens=256)
            return evaluate(model_dir, Path(model_dir) / "winrate", judge, endpoint.api_key,
                            max_examples=examples, cache=cache, progress=False)  # fmt: skip
    finally:
        cache.close()


def _publish_model(result: dict[str, Any]) -> None:
    """The model as a table artifact (absolute paths, the dataset it learned, losses) and its evaluation."""
    report = result["report"]
    eval_link = create_markdown_artifact(
        Path(result["eval_md"]).read_text(encoding="utf-8"), key=EVAL_ARTIFACT,
        description=f"Model in `{result['output_dir']}`",
    )  # fmt: skip
    record = {
        "model_dir": result["output_dir"], "merged_dir": result["merged_dir"], "version": result["version"],
        "base_model": report["base_model"], "method": report["method"], "dataset": report["dataset"],
        "dataset_card": report["dataset_card"], "train_records": report["train"]["records"],
        "steps": report["train"]["steps"], "base_loss": report["validation"]["base_loss"],
        "fine_tuned_loss": report["validation"]["fine_tuned_loss"], "eval_md": result["eval_md"],
        "card": result["card"],
    }  # fmt: skip
    load = result["merged_dir"] or result["output_dir"]
    description = (
        f"Model `{result['output_dir']}` ({report['method']} of {report['base_model']} on "
        f"{report['train']['records']:,} examples of `{report['dataset']}`); validation loss "
        f"{_loss(report['validation']['base_loss'])} before, {_loss(report['validation']['fine_tuned_loss'])} after. "
        f"Evaluation: {_artifact_link(EVAL_ARTIFACT, eval_link)} and `{result['eval_md']}`. "
        f'Load: `AutoModelForCausalLM.from_pretrained("{load}")`'
        + ("" if result["merged_dir"] else " (a PEFT adapter: AutoPeftModelForCausalLM)")
    )
    create_table_artifact([record], key=MODEL_ARTIFACT, description=description)


def _artifact_link(key: str, artifact_id: Any) -> str:
    """A markdown link to an artifact in the Prefect UI, or its key when there is no UI (a temporary Prefect)."""
    from prefect.settings import get_current_settings

    ui = get_current_settings().ui_url
    return f"[`{key}`]({ui}/artifacts/artifact/{artifact_id})" if ui else f"the `{key}` artifact"


def _loss(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _generation_flow() -> Any:
    """generate-instructions on a Dask cluster when ALPACA_PIPELINE_DASK_ADDRESS says so (`local`: a new one)."""
    address = os.environ.get("ALPACA_PIPELINE_DASK_ADDRESS")
    if not address:
        return generate_instructions
    from prefect_dask import DaskTaskRunner

    runner = DaskTaskRunner() if address == "local" else DaskTaskRunner(address=address)
    return generate_instructions.with_options(task_runner=runner)


@flow(name="alpaca-pipeline")
def alpaca_pipeline(params: PipelineParams) -> dict[str, Any]:
    """Generate, re-answer and judge (when asked), build the dataset, then fine-tune (unless params.finetune is
    empty)."""
    generated = _generation_flow()(params.generate)
    result: dict[str, Any] = {"generate": generated}
    dataset_params = params.dataset.model_copy(update={"run_dir": generated["run_dir"]})
    if params.reanswer is not None:
        result["reanswer"] = reanswer_flow(params.reanswer.model_copy(update={"run_dir": generated["run_dir"]}))
        dataset_params = dataset_params.model_copy(update={"outputs": "reanswered"})
    if params.judge is not None:
        outputs = "reanswered" if params.reanswer is not None else params.judge.outputs
        judge = params.judge.model_copy(update={"run_dir": generated["run_dir"], "outputs": outputs})
        result["judge"] = judge_flow(judge)
        dataset_params = dataset_params.model_copy(update={"rubric": judge.rubric})
    dataset = build_dataset_flow(dataset_params)
    result["dataset"] = dataset
    if params.finetune is not None:
        result["finetune"] = finetune(params.finetune.model_copy(update={"dataset_path": dataset["dataset_dir"]}))
    return result

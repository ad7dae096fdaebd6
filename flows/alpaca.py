"""The Prefect flows: generate-instructions, build-dataset, finetune, and alpaca-pipeline end to end.

Thin by design: every task body is a call into `pipeline/`. The run folder, not Prefect's result cache, is
the source of truth for resume, so a crashed or cancelled flow run re-run with the same parameters continues
where it stopped without paying for any answer twice.
"""

# No `from __future__ import annotations`: flow.serve() needs the real annotations of flow parameters.

import json
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

from flows.params import DatasetParams, FinetuneParams, GenerateParams, PipelineParams
from flows.settings import default_of
from pipeline.core.errors import PipelineError
from pipeline.core.runfiles import STATS

DATASET_ARTIFACT = "alpaca-dataset"  # the stable key consumers look up: Artifact.get("alpaca-dataset")
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


@flow(name="generate-instructions")
def generate_instructions(params: GenerateParams) -> dict[str, Any]:
    """Bootstrap examples into params.output_dir: the engine says what to fetch, batch tasks fetch it in parallel."""
    from flows.endpoint import resolve_endpoint
    from pipeline.generation.engine import Engine
    from pipeline.generation.seeds import load_seed_tasks
    from pipeline.teacher.config import TeacherConfig
    from pipeline.teacher.cost import load_prices

    logger = get_run_logger()
    seeds = load_seed_tasks(_seed_path(params))
    base_url = params.base_url or os.environ.get("OPENAI_BASE_URL")
    with resolve_endpoint(base_url, os.environ.get("OPENAI_API_KEY")) as endpoint:
        if endpoint.offline:
            logger.info("No OPENAI_API_KEY or base URL: the built-in offline teacher answers at %s", endpoint.base_url)
        model = params.model or endpoint.model or default_of(TeacherConfig, "model")
        config, teacher = _configs(params, endpoint.base_url, model)
        engine = Engine(config, teacher, _seed_path(params), seeds, params.output_dir, load_prices(params.prices))
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
                counts = [future.result() for future in futures]
                engine.add_retries(sum(c["retries"] for c in counts), sum(c["malformed"] for c in counts))
                if forced := [c["context_max_tokens"] for c in counts if c.get("context_max_tokens")]:
                    engine.note_context_max_tokens(min(forced))
        finally:
            engine.close()
    _show_progress(progress, stats, params.num_instructions)
    _publish_stats(stats.to_dict(), params.output_dir)
    logger.info("kept %d of %d candidates into %s", stats.kept, stats.candidates, params.output_dir)
    return {"run_dir": str(Path(params.output_dir).resolve()), "kept": stats.kept, "stopped": stats.stopped}


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


@task(cache_policy=NO_CACHE)
def build_dataset_task(params: DatasetParams) -> dict[str, Any]:
    from pipeline.dataset.build import build_dataset

    summary = build_dataset(params.run_dir, params.validation_size, params.seed, params.license)
    return {name: str(value) if isinstance(value, Path) else value for name, value in asdict(summary).items()}


@task(cache_policy=NO_CACHE)  # no retries: a missing token or a refused repo needs a person, not another try
def push_dataset_task(dataset_dir: str, repo_id: str, private: bool) -> str:
    from pipeline.dataset.build import push_to_hub

    return push_to_hub(dataset_dir, repo_id, private=private)


@flow(name="build-dataset")
def build_dataset_flow(params: DatasetParams) -> dict[str, Any]:
    """Build the dataset of a run folder and publish it as the `alpaca-dataset` artifact."""
    from pipeline.dataset.report import inline_figures

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
def train_task(dataset: str, output_dir: str, params: FinetuneParams) -> dict[str, Any]:
    from flows.params import TRAINING_FIELDS
    from pipeline.sft.finetune import load_train_config, train

    overrides = {name: getattr(params, name) for name in TRAINING_FIELDS}  # empty ones leave the file's value
    config = load_train_config(params.config_file, overrides)
    result = train(dataset, output_dir, config, overwrite=params.overwrite)
    return {"output_dir": str(result.output_dir), "card": str(result.card), "eval_md": str(result.eval_md),
            "report": result.report}  # fmt: skip


@flow(name="finetune")
def finetune(params: FinetuneParams) -> dict[str, Any]:
    """Fine-tune on params.dataset_path, or on the latest published dataset when none is given."""
    dataset = str(Path(params.dataset_path or latest_dataset()["dataset_dir"]).resolve())
    output_dir = str(Path(params.output_dir).resolve()) if params.output_dir else str(Path(dataset).parent / "model")
    result = train_task(dataset, output_dir, params)
    create_markdown_artifact(
        Path(result["eval_md"]).read_text(encoding="utf-8"), key="alpaca-model-eval",
        description=f"Model in `{result['output_dir']}`",
    )  # fmt: skip
    return result


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
    """Generate, build the dataset, then fine-tune (unless params.finetune is empty)."""
    generated = _generation_flow()(params.generate)
    dataset = build_dataset_flow(params.dataset.model_copy(update={"run_dir": params.generate.output_dir}))
    result: dict[str, Any] = {"generate": generated, "dataset": dataset}
    if params.finetune is not None:
        result["finetune"] = finetune(params.finetune.model_copy(update={"dataset_path": dataset["dataset_dir"]}))
    return result

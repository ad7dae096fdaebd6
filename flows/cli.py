"""The `alpaca-pipeline` command line: one subcommand per stage; the outermost layer of the project."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from flows.settings import (
    BATCH_HELP,
    DEMO_TRAINING,
    ENDPOINT_FALLBACK,
    OUTPUTS_ROOT_HELP,
    OVERWRITE_HELP,
    PRICES_HELP,
    PRIVATE_HELP,
    PROJECT_SEEDS,
    PUSH_TO_HUB_HELP,
    RUN_DIR_HELP,
    SCHEDULED_MAX_COST,
    SEED_TASKS_HELP,
    TRAIN_CONFIG_HELP,
    FiniteFloat,
    batch_poll_s,
    default_of,
    option,
)
from pipeline.core.errors import PipelineError
from pipeline.core.runfiles import KEPT
from pipeline.dataset.config import DatasetConfig
from pipeline.generation.config import GenerateConfig
from pipeline.generation.filters import RULES
from pipeline.sft.config import TrainConfig
from pipeline.teacher.config import TeacherConfig


def _configure_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pipeline").setLevel(level)  # flows/__init__.py set it to INFO for the flow-run logs
    for noisy in (
        "httpx",
        "httpx2",
        "httpcore",
        "openai",
        "aiohttp.access",
    ):  # per-request lines drown the progress bar
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _Group(click.Group):
    """Turns every error into one clear line and exit status 1: the project's domain errors as they are worded, a
    full or read-only disk with the file it hit, anything else with its type and a pointer to -v, which shows the
    traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except PipelineError as error:
            raise click.ClickException(str(error)) from None
        except OSError as error:
            if ctx.params.get("verbose"):
                raise
            where = f"{error.filename}: " if error.filename else ""
            raise click.ClickException(f"{where}{error.strerror or error} (nothing done so far is lost)") from None
        except Exception as error:  # noqa: BLE001 - the outermost layer: a line, not a traceback, unless -v
            if ctx.params.get("verbose"):
                raise
            raise click.ClickException(f"{type(error).__name__}: {error} (run with -v for the traceback)") from None


@click.group(cls=_Group)
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.version_option(package_name="alpaca-pipeline")
def main(verbose: bool) -> None:
    """Make instruction-tuning data the Alpaca way, from seed tasks and a teacher LLM."""
    os.environ.setdefault("DO_NOT_TRACK", "1")  # Prefect runs offline; no telemetry
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    _configure_logging(verbose)


def _options(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Several click options as one decorator; --help lists them in the order given."""

    def apply(command: Any) -> Any:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


# Options several commands share, defined once; settings of a stage come from its config dataclass.
CACHE_PATH_OPTION = click.option(
    "--cache-path",
    type=click.Path(path_type=Path),
    default=None,
    show_default="$ALPACA_PIPELINE_CACHE, else ~/.cache/alpaca-pipeline/teacher.sqlite",
    help="Response cache.",
)
RUN_FOLDER_OPTIONS = _options(
    click.option(
        "--output-dir", "-o", type=click.Path(path_type=Path), default=None,
        show_default="outputs/run-<date>-<time>", help=RUN_DIR_HELP,
    ),
    click.option(
        "--seed-tasks", type=click.Path(path_type=Path), default=None, show_default=PROJECT_SEEDS, help=SEED_TASKS_HELP
    ),
)  # fmt: skip
TEACHER_OPTIONS = _options(
    option(TeacherConfig, "model", default=None),  # unset: the offline teacher's own name, else TeacherConfig's
    option(TeacherConfig, "base_url", envvar="OPENAI_BASE_URL", default=None, unset=ENDPOINT_FALLBACK),
    option(TeacherConfig, "api"),
    option(TeacherConfig, "temperature"),
    option(TeacherConfig, "top_p"),
    option(TeacherConfig, "max_tokens"),
    option(TeacherConfig, "timeout_s", "--timeout", "timeout_s"),
    option(TeacherConfig, "rpm"),
    option(TeacherConfig, "tpm"),
)
GENERATION_OPTIONS = _options(
    option(GenerateConfig, "run_seed", "--seed", "run_seed"),
    option(GenerateConfig, "max_concurrency", "--concurrency", "concurrency"),
    option(GenerateConfig, "max_cost_usd", "--max-cost", "max_cost"),
    option(GenerateConfig, "rouge_threshold"),
    option(GenerateConfig, "tokenizer"),
    option(GenerateConfig, "num_demonstrations"),
    option(GenerateConfig, "tasks_per_request"),
    option(GenerateConfig, "max_requests"),
    click.option("--no-cache", is_flag=True, help="Neither read nor write the response cache."),
)
DATASET_OPTIONS = _options(
    option(DatasetConfig, "validation_size"),
    option(DatasetConfig, "license", "--license", "license_id"),
    click.option("--push-to-hub", "repo_id", default=None, help=PUSH_TO_HUB_HELP),
    click.option("--private", is_flag=True, help=PRIVATE_HELP),
)


ROUGE_OPTIONS = _options(  # the novelty rule of dedup and clean
    click.option(
        "--seed-tasks", type=click.Path(path_type=Path), default=None,
        help="Seed tasks to pre-load into the ROUGE-L pool (any format generate accepts).",
    ),
    option(GenerateConfig, "rouge_threshold", "--threshold", "threshold"),
    option(GenerateConfig, "tokenizer"),
    option(GenerateConfig, "top_k_similar", "--top-k", "top_k"),
)  # fmt: skip


def _default_run_dir() -> Path:
    return Path("outputs") / time.strftime("run-%Y%m%d-%H%M%S")


def _given(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings typed on the command line; those left at their default give way to a config file."""
    source = click.get_current_context().get_parameter_source
    return {name: value for name, value in settings.items() if source(name) is not ParameterSource.DEFAULT}


@main.command()
@option(GenerateConfig, "num_instructions", "--num-instructions", "-n")
@RUN_FOLDER_OPTIONS
@TEACHER_OPTIONS
@GENERATION_OPTIONS
@click.option("--prices", type=click.Path(path_type=Path), default=None, help=PRICES_HELP)
@CACHE_PATH_OPTION
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--batch", is_flag=True, help=BATCH_HELP)
def generate(
    num_instructions: int, seed_tasks: Path | None, output_dir: Path | None, model: str | None,
    base_url: str | None, api: str, run_seed: int, num_demonstrations: int, tasks_per_request: int,
    temperature: float, top_p: float, max_tokens: int, timeout_s: float | None, concurrency: int,
    rpm: float | None, tpm: float | None,
    max_requests: int | None, max_cost: float | None, prices: Path | None, cache_path: Path | None, no_cache: bool,
    rouge_threshold: float, tokenizer: str, no_progress: bool, batch: bool,
) -> None:  # fmt: skip
    """Bootstrap new instruction/input/output examples from seed tasks with a teacher LLM.

    With neither OPENAI_API_KEY nor --base-url set, a built-in offline teacher answers. Running the same
    command on the same --output-dir continues an interrupted run without paying for any answer twice.
    """
    from flows.endpoint import budget_prices, resolve_endpoint, teacher_model
    from pipeline.generation.generate import generate as run_generate
    from pipeline.generation.provenance import project_cost
    from pipeline.generation.seeds import default_seed_path, load_seed_tasks
    from pipeline.teacher.cache import ResponseCache, default_cache_path
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
            try:
                teacher = TeacherConfig(
                    model=teacher_model(endpoint, model, default_of(TeacherConfig, "model")),
                    base_url=endpoint.base_url, api=api, temperature=temperature, top_p=top_p, max_tokens=max_tokens,
                    timeout_s=timeout_s, rpm=rpm, tpm=tpm,
                )  # fmt: skip
            except ValueError as error:
                raise click.UsageError(str(error)) from None
            price_table = budget_prices(price_table, endpoint, teacher.model, max_cost)
            forecast = project_cost(config, teacher, seeds, price_table)
            dollars = f"~${forecast['cost_usd']:,.2f}" if forecast["cost_usd"] is not None else "unpriced"
            click.echo(f"Generating {num_instructions} examples with {teacher.model} from {len(seeds)} seed tasks "
                       f"into {run_dir}. Projected: ~{forecast['requests']:,} requests, ~{forecast['tokens']:,} "
                       f"tokens, {dollars}.", err=True)  # fmt: skip
            if batch:
                from pipeline.generation.batched import generate_batched

                stats = generate_batched(config, teacher, endpoint.api_key, seed_path, seeds, run_dir, price_table,
                                         progress=not no_progress, poll_s=batch_poll_s())  # fmt: skip
            else:
                stats = run_generate(config, teacher, endpoint.api_key, seed_path, seeds, run_dir, price_table,
                                     cache, progress=not no_progress)  # fmt: skip
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
    if not stats.finished and stats.projected:  # the up-front forecast assumed a yield; this one saw it
        forecast = stats.projected
        dollars = f", ~${forecast['cost_usd']:,.2f}" if forecast["cost_usd"] is not None else ""
        click.echo(f"At this run's yield the target needs ~{forecast['requests']:,} requests in all, "
                   f"~{forecast['tokens']:,} tokens{dollars}.")  # fmt: skip
    click.echo(f"Run folder: {run_dir.resolve()}")
    click.echo(f"Kept examples: {(run_dir / KEPT).resolve()}")


def _review_options(temperature: float, max_tokens: int) -> Callable[[Any], Any]:
    """The teacher, budget and cache options of judge and reanswer, with the task's own sampling defaults."""
    return _options(
        option(TeacherConfig, "model", default=None),
        option(TeacherConfig, "base_url", envvar="OPENAI_BASE_URL", default=None, unset=ENDPOINT_FALLBACK),
        option(TeacherConfig, "api"),
        option(TeacherConfig, "temperature", default=temperature),
        option(TeacherConfig, "max_tokens", default=max_tokens),
        option(GenerateConfig, "max_concurrency", "--concurrency", "concurrency"),
        option(TeacherConfig, "rpm"),
        option(TeacherConfig, "tpm"),
        option(GenerateConfig, "max_cost_usd", "--max-cost", "max_cost"),
        click.option("--prices", type=click.Path(path_type=Path), default=None,
                     help='JSON price table {"model": {"input": USD/1M tokens, "output": USD/1M tokens}}.'),
        CACHE_PATH_OPTION,
        click.option("--no-cache", is_flag=True, help="Neither read nor write the response cache."),
        click.option("--no-progress", is_flag=True, help="Hide the progress bar."),
        click.option("--batch", is_flag=True, help=BATCH_HELP),
    )  # fmt: skip


def _review(task: str, run_dir: Path, settings: dict[str, Any], work: Callable[..., Any]) -> Any:
    """Resolve the endpoint, teacher, prices and cache of a review command, say what it will cost, and run it."""
    from flows.endpoint import budget_prices, resolve_endpoint, teacher_model
    from pipeline.teacher.cache import ResponseCache, default_cache_path
    from pipeline.teacher.cost import load_prices

    if not run_dir.is_dir():
        raise click.UsageError(f"{run_dir} is not a folder: pass a {'model' if task == 'evaluate' else 'run'} folder")
    prices = load_prices(settings["prices"])
    cache = None if settings["no_cache"] else ResponseCache(settings["cache_path"] or default_cache_path())
    try:
        with resolve_endpoint(settings["base_url"], os.environ.get("OPENAI_API_KEY")) as endpoint:
            if endpoint.offline:
                click.echo(f"No OPENAI_API_KEY or --base-url: the built-in offline teacher {task}s at "
                           f"{endpoint.base_url}", err=True)  # fmt: skip
            teacher = TeacherConfig(
                model=teacher_model(endpoint, settings["model"], default_of(TeacherConfig, "model")),
                base_url=endpoint.base_url, api=settings["api"], temperature=settings["temperature"],
                max_tokens=settings["max_tokens"], rpm=settings["rpm"], tpm=settings["tpm"],
            )  # fmt: skip
            prices = budget_prices(prices, endpoint, teacher.model, settings["max_cost"])
            batch = {"batch": True, "poll_s": batch_poll_s()} if settings["batch"] else {}
            return work(teacher, endpoint.api_key, concurrency=settings["concurrency"],
                        max_cost=settings["max_cost"], prices=prices, cache=cache,
                        progress=not settings["no_progress"], **batch)  # fmt: skip
    finally:
        if cache is not None:
            cache.close()


def _report_review(stats: Any) -> None:
    projection = stats.projection
    dollars = f"${stats.cost_usd:.4f}" if stats.cost_usd is not None else "unpriced model"
    click.echo(f"{stats.task} with {stats.model}: {stats.answered} answered this session ({stats.cache_hits} from "
               f"cache), {stats.done_before} already journaled, of {stats.items}; "
               f"{stats.paid_prompt_tokens + stats.paid_completion_tokens:,} tokens paid, {dollars} "
               f"(projected at most {projection['requests']:,} requests, "
               f"{projection['prompt_tokens'] + projection['max_completion_tokens']:,} tokens).")  # fmt: skip
    if stats.stopped == "max_cost":
        click.echo("Stopped before a request that could cross --max-cost: run again with a higher one to continue.")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--rubric", type=click.Choice(["accuracy", "helpfulness", "relevance"]), default="accuracy",
              show_default=True, help="What the judge rates (AlpaGasus rates accuracy).")  # fmt: skip
@click.option("--outputs", type=click.Choice(["original", "reanswered"]), default="original", show_default=True,
              help="Judge the generated outputs, or the re-answered ones (`reanswer`).")  # fmt: skip
@click.option("--include-rejected", is_flag=True, help="Also judge the examples the rules rejected (to measure them).")
@_review_options(temperature=0.0, max_tokens=256)
def judge(run_dir: Path, rubric: str, outputs: str, include_rejected: bool, **settings: Any) -> None:
    """Score every kept example of RUN_DIR 0-5 with a judge model, with a one-line rationale (AlpaGasus).

    Judgements go to RUN_DIR/judgements/; a re-run (or a grown run) asks only for what is not judged yet.
    Then `dataset --min-score 4.5` keeps the examples scored at least 4.5.
    """
    from pipeline.review.judge import journal_path, judge_run

    def work(teacher: TeacherConfig, api_key: str, **options: Any) -> Any:
        return judge_run(run_dir, teacher, api_key, rubric, outputs, include_rejected, **options)  # type: ignore

    stats = _review("judge", run_dir, settings, work)
    _report_review(stats)
    summary = json.loads(journal_path(run_dir, outputs, rubric).with_suffix(".stats.json").read_text("utf-8"))
    shown = ", ".join(f"{label}: {count}" for label, count in summary["distribution"].items())
    mean = f"{summary['mean_score']:.2f}" if summary["mean_score"] is not None else "n/a"
    unreadable = sum(summary["unreadable"].values())
    click.echo(f"Scores of {summary['judged']} kept examples (mean {mean}): {shown}; unreadable: {unreadable}.")
    click.echo(f"Judgements: {journal_path(run_dir, outputs, rubric).resolve()}")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@_review_options(temperature=0.7, max_tokens=1024)
def reanswer(run_dir: Path, **settings: Any) -> None:
    """Answer every kept instruction of RUN_DIR again with another teacher (--model), keeping the originals.

    The new outputs go to RUN_DIR/reanswered.jsonl; `dataset --outputs reanswered` uses them, and
    `judge --outputs reanswered` scores them.
    """
    from pipeline.core.runfiles import REANSWERED
    from pipeline.review.reanswer import reanswer_run

    stats = _review(
        "reanswer", run_dir, settings, lambda teacher, key, **options: reanswer_run(run_dir, teacher, key, **options)
    )
    _report_review(stats)
    click.echo(f"Re-answers: {(run_dir / REANSWERED).resolve()}")


@main.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--output-dir", "-o", type=click.Path(path_type=Path), required=True, help="Where the report goes.")
@click.option("--baseline", default="base", show_default=True,
              help="`base` (the base model the fine-tune started from), or a JSON list of {instruction, output} "
              "(AlpacaEval's outputs format) to compare with.")  # fmt: skip
@click.option("--eval-set", type=click.Path(path_type=Path), default=None, show_default="the project's 111",
              help="JSONL of {instruction, input}, self-instruct's user_oriented_instructions.jsonl, or an "
              "AlpacaEval JSON list.")  # fmt: skip
@click.option("--max-examples", type=click.IntRange(min=1), default=None, help="Evaluate the first N only.")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=256, show_default=True,
              help="Longest answer of each model.")  # fmt: skip
@_review_options(temperature=0.0, max_tokens=256)
def evaluate(model_dir: Path, output_dir: Path, baseline: str, eval_set: Path | None, max_examples: int | None,
             max_new_tokens: int, **settings: Any) -> None:  # fmt: skip
    """Pairwise win rate of MODEL_DIR against a baseline, judged by an LLM in both orders (AlpacaEval-style).

    --model names the judge. Writes answers.jsonl, judgements.jsonl, report.json and report.md to --output-dir;
    a re-run continues an interrupted evaluation without asking twice.
    """
    from pipeline.sft.evaluate import evaluate as run_evaluate

    def work(teacher: TeacherConfig, api_key: str, **options: Any) -> Any:
        return run_evaluate(model_dir, output_dir, teacher, api_key, baseline, eval_set, max_examples,
                            max_new_tokens, **options)  # fmt: skip

    report = _review("evaluate", model_dir, settings, work)
    low, high = report["ci95"]
    click.echo(f"Win rate {report['win_rate']:.1f}% (95% interval {low:.1f}-{high:.1f}; length-controlled "
               f"{report['length_controlled_win_rate']:.1f}%) against the {report['baseline']} over "
               f"{report['examples']} instructions: {report['wins']} wins, {report['ties']} ties, "
               f"{report['losses']} losses; judge {report['judge_model']}.")  # fmt: skip
    click.echo(f"Report: {(output_dir / 'report.json').resolve()} and {(output_dir / 'report.md').resolve()}")


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
    "--latency", type=FiniteFloat(min=0), default=0.0, show_default=True, help="Seconds of delay per answer."
)
@click.option("--rpm", type=click.IntRange(min=1), default=None, help="Requests per minute before answering 429.")
@click.option(
    "--api-key",
    "require_key",
    envvar="SIMULATOR_API_KEY",
    show_envvar=True,
    default=None,
    help="Answer 401 unless clients send this key.",
)
@click.option(
    "--slots",
    type=click.IntRange(min=1),
    default=None,
    help="Answers written at once; the others wait in line "
    "(1: like llama.cpp's server with one slot). Unset: no limit.",
)
@click.option(
    "--fault", "faults", multiple=True, metavar="KIND=RATE",
    help="Answer this share of requests with a fault (repeatable), e.g. --fault html=0.05. KIND: "
    "rate_limit, server_error, unavailable, hang, drop, garbage, truncate, not_json, html, empty_object, no_choices.",
)  # fmt: skip
def simulate(
    host: str, port: int, seed: int, latency: float, rpm: int | None, require_key: str | None, slots: int | None,
    faults: tuple[str, ...],
) -> None:  # fmt: skip
    """Serve the offline teacher: an OpenAI-compatible API on HOST:PORT that writes synthetic tasks."""
    from pipeline.simulator.server import SimulatorConfig, serve

    rates = {}
    for fault in faults:
        kind, _, rate = fault.partition("=")
        try:
            rates[kind] = float(rate)
        except ValueError:
            raise click.BadParameter(f"{fault!r}: expected KIND=RATE, e.g. html=0.05", param_hint="--fault") from None
    try:
        config = SimulatorConfig(seed=seed, latency_s=latency, rpm_limit=rpm, api_key=require_key, slots=slots,
                                 fault_rates=rates)  # fmt: skip
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--fault") from None
    serve(config, host=host, port=port)


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    required=True,
    help="Kept records: .json for an indented JSON list (alpaca_data.json layout), else JSONL.",
)
@ROUGE_OPTIONS
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def dedup(
    input_path: Path, output: Path, seed_tasks: Path | None, threshold: float, tokenizer: str, top_k: int,
    no_progress: bool,
) -> None:  # fmt: skip
    """Drop near-duplicate instructions from an Alpaca-format dataset (JSON list or JSONL), in file order."""
    from pipeline.quality.cleaning import dedup_file, sidecar_paths

    summary = dedup_file(input_path, output, seed_tasks, threshold, tokenizer, top_k, progress=not no_progress)
    rejected_path, summary_path = sidecar_paths(output)
    other = summary.rejected - summary.reasons.get("near_duplicate", 0)
    unusable = f"; {other} unusable records rejected" if other else ""
    click.echo(
        f"Kept {summary.kept} of {summary.records} records; {summary.reasons.get('near_duplicate', 0)} "
        f"near-duplicates dropped{unusable}."
    )
    click.echo(f"Kept: {output.resolve()}\nRejected: {rejected_path.resolve()}\nSummary: {summary_path.resolve()}")


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    required=True,
    help="Output folder: kept.jsonl, rejected.jsonl, alpaca_data.json, summary.json and report/ (replaced whole).",
)
@ROUGE_OPTIONS
@click.option("--no-dedup", is_flag=True, help="Skip the ROUGE-L near-duplicate rule (repairs and rules only).")
@click.option(
    "--rules",
    default=None,
    metavar="NAME,...",
    help="Apply only these quality rules (comma-separated; empty for none). Default: all of them: "
    + ", ".join(rule.__name__ for rule in RULES)
    + ".",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def clean(
    input_path: Path, output: Path, seed_tasks: Path | None, threshold: float, tokenizer: str, top_k: int,
    no_dedup: bool, rules: str | None, no_progress: bool,
) -> None:  # fmt: skip
    """Clean an Alpaca-format dataset (JSON list or JSONL): repair, reject by named rules, drop near-duplicates.

    Repairs "No input"-type inputs, control and zero-width characters and surrounding whitespace; rejects records
    with a missing, empty or wrongly typed field and those that break a quality rule, each with every reason;
    then applies the exact ROUGE-L rule in file order. See README, "Cleaning an existing dataset".
    """
    from pipeline.dataset.cleaned import write_clean_report
    from pipeline.quality.cleaning import REPORT_FOLDER, RULE_NAMES, CleanConfig, clean_file

    chosen = RULE_NAMES if rules is None else tuple(name.strip() for name in rules.split(",") if name.strip())
    try:
        config = CleanConfig(threshold=threshold, tokenizer=tokenizer, dedup=not no_dedup, rules=chosen, top_k=top_k)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--rules") from None

    def report(folder: Path, summary: Any, kept: list[dict[str, Any]], rejected: list[dict[str, Any]]) -> None:
        write_clean_report(folder / REPORT_FOLDER, summary, kept, rejected)

    summary = clean_file(input_path, output, seed_tasks, config, progress=not no_progress, finish=report)
    reasons = ", ".join(f"{name} {count:,}" for name, count in summary.reasons.items()) or "none"
    repairs = ", ".join(f"{name} {count:,}" for name, count in summary.repairs.items()) or "none"
    click.echo(f"Kept {summary.kept:,} of {summary.records:,} records in {summary.elapsed_s:.1f} s; "
               f"rejected {summary.rejected:,}.")  # fmt: skip
    click.echo(f"Rejected by reason: {reasons}.\nRepaired: {repairs}.")
    labels = {"kept": "Kept", "rejected": "Rejected", "alpaca_json": "Alpaca JSON", "summary": "Summary",
              "report": "Report"}  # fmt: skip
    click.echo("\n".join(f"{labels.get(name, name)}: {path}" for name, path in summary.files.items()))


@main.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@option(TrainConfig, "base_model", default=None, unset="base_model in --config")
@click.option("--output-dir", "-o", type=click.Path(path_type=Path), required=True, help="Where the model goes.")
@option(TrainConfig, "method")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None, help=TRAIN_CONFIG_HELP)
@option(TrainConfig, "epochs")
@option(TrainConfig, "learning_rate")
@option(TrainConfig, "max_steps")
@option(TrainConfig, "batch_size")
@option(TrainConfig, "grad_accum")
@option(TrainConfig, "max_length")
@option(TrainConfig, "dtype")
@option(TrainConfig, "lora_r")
@option(TrainConfig, "lora_alpha")
@option(TrainConfig, "lora_dropout")
@option(TrainConfig, "lora_target_modules")
@option(TrainConfig, "merge", "--merge/--no-merge")
@option(TrainConfig, "eval_samples")
@option(TrainConfig, "eval_records")
@option(TrainConfig, "max_new_tokens")
@option(TrainConfig, "seed")
@option(TrainConfig, "threads")
@option(TrainConfig, "save_steps")
@option(TrainConfig, "save_total_limit")
@click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
def train(dataset: Path, output_dir: Path, config_path: Path | None, overwrite: bool, **settings: object) -> None:
    """Fine-tune a LLaMA-family model on DATASET the Alpaca way, and compare it with the base model.

    DATASET is a run folder, its dataset/ folder, a `save_to_disk` folder, or an Alpaca .json/.jsonl file.
    The model, its card (README.md) and eval.json/eval.md go to --output-dir. After a crash or Ctrl-C, the same
    command resumes from the newest checkpoint. See docs/training.md.
    """
    from pipeline.sft.eval import render_eval
    from pipeline.sft.finetune import load_train_config
    from pipeline.sft.finetune import train as run_train

    config = load_train_config(config_path, _given(settings))
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
@option(DatasetConfig, "seed")
@DATASET_OPTIONS
@option(DatasetConfig, "min_score")
@option(DatasetConfig, "unjudged")
@option(DatasetConfig, "outputs")
@option(DatasetConfig, "rubric")
def dataset(
    run_dir: Path, validation_size: float, seed: int, license_id: str, repo_id: str | None, private: bool,
    min_score: float | None, unjudged: str, outputs: str, rubric: str,
) -> None:  # fmt: skip
    """Build RUN_DIR/dataset/: a Hugging Face DatasetDict, alpaca_data.json, parquet, JSONL, card and report."""
    from pipeline.dataset.build import build_dataset, push_to_hub
    from pipeline.dataset.report import review_text

    summary = build_dataset(run_dir, validation_size=validation_size, seed=seed, license_id=license_id,
                            min_score=min_score, unjudged=unjudged, outputs=outputs, rubric=rubric)  # fmt: skip
    if summary.selection.reviewed:
        click.echo(review_text(summary.selection))
    splits = ", ".join(f"{name} {count:,}" for name, count in summary.splits.items())
    click.echo(f"Built {splits} examples{f' ({len(summary.notes)} warnings above)' if summary.notes else ''}.")
    click.echo(f"Dataset: {summary.hf_dir.resolve()}")
    click.echo(f"Alpaca JSON: {summary.alpaca_json.resolve()}")
    click.echo(f"Card: {summary.card.resolve()}")
    click.echo(f"Report: {summary.report.resolve()}")
    if repo_id is not None:
        click.echo(f"Pushed: {push_to_hub(summary.dataset_dir, repo_id, private=private)}")


@main.command()
@option(GenerateConfig, "num_instructions", "--num-instructions", "-n", default=250)  # the offline demo's size
@RUN_FOLDER_OPTIONS
@TEACHER_OPTIONS
@GENERATION_OPTIONS
@click.option("--prices", type=click.Path(), default=None, help=PRICES_HELP)
@DATASET_OPTIONS
@option(DatasetConfig, "seed", "--split-seed", "split_seed")
@option(TrainConfig, "base_model", default=DEMO_TRAINING.base_model)
@option(TrainConfig, "method", default=DEMO_TRAINING.method)
@option(TrainConfig, "max_steps", "--train-steps", "max_steps", default=DEMO_TRAINING.max_steps)
@option(TrainConfig, "learning_rate")
@option(TrainConfig, "batch_size")
@option(TrainConfig, "grad_accum", default=DEMO_TRAINING.grad_accum)
@option(TrainConfig, "max_length")
@option(TrainConfig, "eval_samples", default=DEMO_TRAINING.eval_samples)
@option(TrainConfig, "save_steps")
@option(TrainConfig, "save_total_limit")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None, help=TRAIN_CONFIG_HELP)
@click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
@click.option("--skip-finetune", is_flag=True, help="Stop after the dataset.")
@click.option(
    "--dask-address",
    default=None,
    help="Run the generation's batch tasks on this Dask scheduler (tcp://host:8786), or `local` for a "
    "local cluster. Needs the dask extra: pip install -e '.[dask]'.",
)
def run(output_dir: Path | None, seed_tasks: Path | None, no_cache: bool, validation_size: float, split_seed: int,
        license_id: str, repo_id: str | None, private: bool, config_file: Path | None, overwrite: bool,
        skip_finetune: bool, dask_address: str | None, **settings: Any) -> None:  # fmt: skip
    """Run the whole pipeline once as a Prefect flow (a temporary local Prefect, no server needed).

    The fine-tune defaults to the offline CPU demo, a few LoRA steps on smollm2-135m. With --config, the file
    sets the training settings this command leaves at their defaults.
    """
    if dask_address:
        os.environ["ALPACA_PIPELINE_DASK_ADDRESS"] = dask_address
    from flows.alpaca import alpaca_pipeline
    from flows.params import TRAINING_FIELDS, DatasetParams, FinetuneParams, GenerateParams, PipelineParams

    run_dir = (output_dir or _default_run_dir()).absolute()  # the flows take relative folders under outputs root
    generation = {name: value for name, value in settings.items() if name in GenerateParams.model_fields}
    training = {name: settings[name] for name in TRAINING_FIELDS}
    if config_file is not None:
        training = dict.fromkeys(TRAINING_FIELDS) | _given(training)
    params = PipelineParams(
        generate=GenerateParams(output_dir=str(run_dir), seed_tasks=str(seed_tasks) if seed_tasks else None,
                                use_cache=not no_cache, **generation),
        dataset=DatasetParams(validation_size=validation_size, seed=split_seed, license=license_id,
                              push_to_hub=repo_id, private=private),
        finetune=None if skip_finetune else FinetuneParams(
            **training, config_file=str(config_file) if config_file else None, overwrite=overwrite),
    )  # fmt: skip
    result = alpaca_pipeline(params)
    dataset = result["dataset"]
    click.echo(f"Kept {result['generate']['kept']} examples in {result['generate']['run_dir']}")
    click.echo(f"Dataset: {dataset['dataset_dir']} (train {dataset.get('train_rows', 0)}, "
               f"validation {dataset.get('validation_rows', 0)})")  # fmt: skip
    click.echo(f"Alpaca JSON: {dataset['alpaca_json']}\nDataset card: {dataset['card']}\nReport: {dataset['report']}")
    if "hub_url" in dataset:
        click.echo(f"Pushed: {dataset['hub_url']}")
    if "finetune" in result:
        click.echo(f"Model: {result['finetune']['output_dir']}\nEvaluation: {result['finetune']['eval_md']}")


@main.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--prompt", default=None, help="Answer this one instruction and exit (else: an interactive loop).")
@click.option("--input", "task_input", default="", help="The input that goes with --prompt (Alpaca's second field).")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=None, help="Default: the model's own (512).")
@click.option(
    "--temperature", type=click.FloatRange(min=0), default=None, help="0: greedy. Default: the model's own (0.7)."
)
@click.option("--top-p", type=click.FloatRange(min=0, max=1, min_open=True), default=None, help="Default: 0.9.")
def chat(model_dir: Path, prompt: str | None, task_input: str, max_new_tokens: int | None,
         temperature: float | None, top_p: float | None) -> None:  # fmt: skip
    """Talk to a model `train` wrote (MODEL_DIR: its folder, or a run's models/ folder for the latest version),
    prompted the Alpaca way. Alpaca models are single-turn: each instruction is answered on its own."""
    from pipeline.sft.use import Sampling, find_model, load_for_chat, stream_answer

    sampling = Sampling(max_new_tokens, temperature, top_p)
    folder = find_model(model_dir)
    model, tokenizer = load_for_chat(folder)

    def answer(instruction: str, text: str) -> None:
        for piece in stream_answer(model, tokenizer, instruction, text, sampling):
            click.echo(piece, nl=False)
        click.echo()

    if prompt is not None:
        answer(prompt, task_input)
        return
    click.echo(f"Model: {folder}\nAn empty instruction or Ctrl-D ends.", err=True)
    while True:
        try:
            instruction = click.prompt("Instruction", default="", show_default=False, err=True)
            if not instruction.strip():
                return
            text = click.prompt("Input (Enter for none)", default="", show_default=False, err=True)
        except (EOFError, click.Abort):
            click.echo(err=True)
            return
        answer(instruction, text)


@main.command()
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option(
    "--format", "export_format", type=click.Choice(["ollama"]), default="ollama", show_default=True,
    help="ollama: a Modelfile for `ollama create`. For GGUF, see the README (llama.cpp's converter).",
)  # fmt: skip
@click.option("--output-dir", "-o", type=click.Path(path_type=Path), required=True, help="Where the export goes.")
def export(model_dir: Path, export_format: str, output_dir: Path) -> None:
    """Export a model `train` wrote (MODEL_DIR: its folder, or a run's models/ folder) for other runtimes."""
    from pipeline.sft.use import export_ollama

    modelfile = export_ollama(model_dir, output_dir)
    click.echo(f"Modelfile: {modelfile}\nCreate the model: ollama create my-alpaca -f {modelfile}")


@main.command()
@click.option("--generation-cron", default="0 2 * * *", show_default=True, help="Schedule of the nightly generation.")
@click.option("--pipeline-cron", default="0 4 * * 0", show_default=True, help="Schedule of the whole pipeline.")
@click.option("--outputs-root", type=click.Path(path_type=Path), default=None, help=OUTPUTS_ROOT_HELP)
@click.option(
    "--max-cost", type=click.FloatRange(min=0), default=SCHEDULED_MAX_COST, show_default=True,
    help="Per-run teacher budget in USD of the deployments that buy answers (the form shows it; edit it there).",
)  # fmt: skip
@click.option("--no-max-cost", is_flag=True,
              help="No per-run budget (for a local server, which has no price; a budget needs one).")  # fmt: skip
def serve(generation_cron: str, pipeline_cron: str, outputs_root: Path | None, max_cost: float,
          no_max_cost: bool) -> None:  # fmt: skip
    """Register the deployments with their schedules and run them as they come due (Ctrl-C stops)."""
    from flows.serve import main as serve_deployments

    serve_deployments(generation_cron, pipeline_cron, outputs_root, None if no_max_cost else max_cost)


if __name__ == "__main__":
    main()

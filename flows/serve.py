"""Deployments with schedules, served from this process: `alpaca-pipeline serve` or `python -m flows.serve`."""

# No `from __future__ import annotations`: flow.serve()/to_deployment() need the real annotations.

import logging
import os
from pathlib import Path

from prefect import serve
from prefect.deployments.runner import RunnerDeployment

from flows.alpaca import (
    alpaca_pipeline,
    build_dataset_flow,
    finetune,
    generate_instructions,
    judge_flow,
    reanswer_flow,
)
from flows.params import ROLLING_RUN_DIR, GenerateParams, PipelineParams
from flows.settings import OUTPUTS_ROOT_ENV, SCHEDULED_MAX_COST, outputs_root

NIGHTLY = "0 2 * * *"  # 02:00 every night: continue the rolling generation run
WEEKLY = "0 4 * * 0"  # 04:00 on Sundays: the whole pipeline, dataset and model included

log = logging.getLogger(__name__)


def build_deployments(
    generation_cron: str = NIGHTLY, pipeline_cron: str = WEEKLY, max_cost: float | None = SCHEDULED_MAX_COST
) -> list[RunnerDeployment]:
    """The project's deployments; the UI shows each flow's parameters as a validated form.

    Relative folders in their parameters resolve against the outputs root (`flows.settings.outputs_root`), which
    each description names; the deployments that buy teacher answers carry a per-run `max_cost`.
    """
    root = outputs_root()
    where = f"Outputs root: `{root}` (relative folders in the parameters are taken under it)."
    rolling = GenerateParams(output_dir=ROLLING_RUN_DIR, max_cost=max_cost)
    budget = f"Stops a run at ${max_cost:g} of teacher spend (`max_cost`)." if max_cost is not None else ""
    return [
        generate_instructions.to_deployment(
            name="nightly", cron=generation_cron, parameters={"params": rolling.model_dump()},
            description=f"Continues the rolling run `{root / ROLLING_RUN_DIR}` towards its target; resumable at any "
            f"point. {budget} {where}",
        ),
        alpaca_pipeline.to_deployment(
            name="weekly", cron=pipeline_cron, parameters={"params": PipelineParams(generate=rolling).model_dump()},
            description=f"Generation, dataset and fine-tuning end to end on the rolling run "
            f"`{root / ROLLING_RUN_DIR}`; each grown dataset gets a new model version in `models/` beside it. "
            f"{budget} {where}",
        ),
        build_dataset_flow.to_deployment(
            name="on-demand", description=f"Build and publish a run folder's dataset. {where}"
        ),
        finetune.to_deployment(
            name="on-demand", description=f"Fine-tune on the latest published dataset. {where}"
        ),
        judge_flow.to_deployment(
            name="on-demand", description=f"Score every kept example of a run 0-5 with an LLM judge. {where}"
        ),
        reanswer_flow.to_deployment(
            name="on-demand", description=f"Answer a run's kept instructions again with another teacher. {where}"
        ),
    ]  # fmt: skip


def main(
    generation_cron: str = NIGHTLY,
    pipeline_cron: str = WEEKLY,
    outputs: str | Path | None = None,
    max_cost: float | None = SCHEDULED_MAX_COST,
) -> None:
    """Serve the deployments; `outputs` (else $ALPACA_PIPELINE_OUTPUTS_ROOT, else ./outputs) is resolved once, here,
    and handed to every flow run this process starts, whatever directory it was started from."""
    if outputs is not None:
        os.environ[OUTPUTS_ROOT_ENV] = str(outputs)
    root = outputs_root()
    os.environ[OUTPUTS_ROOT_ENV] = str(root)  # the flow runs, started from this process, inherit it
    log.info("Outputs root: %s (relative folders in flow parameters resolve against it)", root)
    serve(*build_deployments(generation_cron, pipeline_cron, max_cost))


if __name__ == "__main__":
    main()

"""Deployments with schedules, served from this process: `alpaca-pipeline serve` or `python -m flows.serve`."""

# No `from __future__ import annotations`: flow.serve()/to_deployment() need the real annotations.

from prefect import serve
from prefect.deployments.runner import RunnerDeployment

from flows.alpaca import alpaca_pipeline, build_dataset_flow, finetune, generate_instructions
from flows.params import ROLLING_RUN_DIR, GenerateParams, PipelineParams

NIGHTLY = "0 2 * * *"  # 02:00 every night: continue the rolling generation run
WEEKLY = "0 4 * * 0"  # 04:00 on Sundays: the whole pipeline, dataset and model included


def build_deployments(generation_cron: str = NIGHTLY, pipeline_cron: str = WEEKLY) -> list[RunnerDeployment]:
    """The project's deployments; the UI shows each flow's parameters as a validated form."""
    rolling = GenerateParams(output_dir=ROLLING_RUN_DIR)
    return [
        generate_instructions.to_deployment(
            name="nightly", cron=generation_cron, parameters={"params": rolling.model_dump()},
            description=f"Continues the rolling run in {ROLLING_RUN_DIR} towards its target; resumable at any point.",
        ),
        alpaca_pipeline.to_deployment(
            name="weekly", cron=pipeline_cron, parameters={"params": PipelineParams(generate=rolling).model_dump()},
            description="Generation, dataset and fine-tuning end to end.",
        ),
        build_dataset_flow.to_deployment(name="on-demand", description="Build and publish a run folder's dataset."),
        finetune.to_deployment(name="on-demand", description="Fine-tune on the latest published dataset."),
    ]  # fmt: skip


def main(generation_cron: str = NIGHTLY, pipeline_cron: str = WEEKLY) -> None:
    serve(*build_deployments(generation_cron, pipeline_cron))


if __name__ == "__main__":
    main()

"""Dependencies point one way: the library loads without the orchestrator or the training stack."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from flows.cli import main

GENERATION = (
    "pipeline, pipeline.generate, pipeline.seeds, pipeline.prompts, pipeline.parse, pipeline.filters, pipeline.dedup, "
    "pipeline.teacher, pipeline.store, pipeline.endpoint, pipeline.simulator, pipeline.batches, pipeline.cleaning, "
    "pipeline.provenance, pipeline.processing"
)
TRAINING = (
    "pipeline.sft, pipeline.sft_config, pipeline.sft_data, pipeline.sft_eval, pipeline.sft_folder, pipeline.sft_model"
)
ORCHESTRATION_AND_TRAINING = ("prefect", "torch", "trl", "transformers", "peft")


@pytest.mark.parametrize(
    ("modules", "absent"),
    [
        (GENERATION, (*ORCHESTRATION_AND_TRAINING, "datasets")),
        (TRAINING, (*ORCHESTRATION_AND_TRAINING, "datasets")),  # the training stack loads when train() runs
        ("pipeline.dataset, pipeline.report", ORCHESTRATION_AND_TRAINING),
    ],
)
def test_library_modules_do_not_import_prefect_or_the_training_stack(modules: str, absent: tuple[str, ...]) -> None:
    code = f"import json, sys\nimport {modules}\nprint(json.dumps(sorted(m for m in {absent!r} if m in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize(
    ("command", "absent"),
    [
        ("generate", ("prefect", "torch", "openai", "datasets")),
        ("train", ("torch", "transformers", "trl", "datasets")),
    ],
)
def test_cli_help_does_not_import_heavy_modules(command: str, absent: tuple[str, ...]) -> None:
    code = (
        "import json, sys\nfrom click.testing import CliRunner\nfrom flows.cli import main\n"
        f"CliRunner().invoke(main, [{command!r}, '--help'])\n"
        f"print(json.dumps(sorted(m for m in {absent!r} if m in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize("command", [[], ["generate"], ["teacher"], ["teacher", "simulate"]])
def test_every_subcommand_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output

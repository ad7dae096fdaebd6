"""Dependencies point one way: stages import only the stages before them, and the library loads without the
orchestrator or the training stack."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main

PIPELINE = Path(__file__).resolve().parent.parent / "pipeline"
# Each stage may import `core` and the stages before it; the simulator may read generation's prompt format.
STAGES = ("core", "teacher", "generation", "simulator", "quality", "review", "dataset", "sft")
ORCHESTRATION_AND_TRAINING = ("prefect", "torch", "trl", "transformers", "peft")


def _imported_stages(path: Path) -> set[str]:
    stages = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            if node.module == "pipeline":  # `from pipeline import stage`; the package's own names are free
                names = [f"pipeline.{alias.name}" for alias in node.names if alias.name in STAGES]
        stages |= {name.split(".")[1] for name in names if name.startswith("pipeline.")}
    return stages


def test_stages_import_only_earlier_stages() -> None:
    modules = sorted(PIPELINE.glob("*/*.py"))
    assert {path.parent.name for path in modules} == set(STAGES), "a stage folder is missing or unknown"
    assert sorted(path.name for path in PIPELINE.glob("*.py")) == ["__init__.py"], "modules belong in a stage"
    wrong = []
    for path in modules:
        stage = path.parent.name
        allowed = set(STAGES[: STAGES.index(stage) + 1])
        wrong += [
            f"{path.relative_to(PIPELINE)} imports pipeline.{other}" for other in _imported_stages(path) - allowed
        ]
    assert wrong == []


def _loaded(modules: str, candidates: tuple[str, ...]) -> list[str]:
    code = (
        f"import json, sys\nimport {modules}\nprint(json.dumps(sorted(m for m in {candidates!r} if m in sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def _modules(*stages: str) -> str:
    paths = [path for stage in stages for path in sorted((PIPELINE / stage).glob("*.py"))]
    return ", ".join(f"pipeline.{path.parent.name}.{path.stem}" for path in paths if path.stem != "__init__")


@pytest.mark.parametrize(
    ("modules", "absent"),
    [
        (_modules("core", "teacher", "generation", "simulator", "quality"), (*ORCHESTRATION_AND_TRAINING, "datasets")),
        (_modules("sft"), (*ORCHESTRATION_AND_TRAINING, "datasets")),  # the training stack loads when train() runs
        (_modules("dataset"), ORCHESTRATION_AND_TRAINING),
        # Using answers is pure: the engine and its processing do not load the HTTP client.
        ("pipeline.generation.engine, pipeline.generation.processing", ("openai", "httpx")),
    ],
)
def test_library_modules_do_not_import_prefect_or_the_training_stack(modules: str, absent: tuple[str, ...]) -> None:
    assert _loaded(modules, absent) == []


def test_the_teacher_client_knows_nothing_of_the_simulator() -> None:
    assert _loaded("pipeline.teacher.client", ("pipeline.simulator", "pipeline.generation")) == []


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

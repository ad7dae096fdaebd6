"""The worked examples in the library's docstrings run as tests, so they stay true."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

PIPELINE = Path(__file__).resolve().parent.parent / "pipeline"
# Found by their text, and each imported only when its test runs: collecting this file imports nothing heavy.
WITH_EXAMPLES = sorted(
    ".".join(path.relative_to(PIPELINE.parent).with_suffix("").parts)
    for path in PIPELINE.rglob("*.py")
    if ">>> " in path.read_text(encoding="utf-8")
)


@pytest.mark.parametrize("module", WITH_EXAMPLES)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{module} has '>>> ' outside a docstring example"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {module} failed (report above)"

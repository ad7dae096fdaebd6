"""Parse and filter real teacher answers and count what comes of them: the README's "real teachers" figures.

    PYTHONPATH=. python benchmarks/real_answers.py ../shared/data/real-teacher/smollm2-llamacpp-chat.jsonl \
        tests/data/real_answers.jsonl

Takes answer files (JSON lines with `text` and `finish_reason`: the shared corpus, tests/data/real_answers.jsonl, or a
run folder's responses.jsonl) and prints, per file: answers, answers that gave at least one example, candidates,
candidates whose `raw` is not text of the answer (a header the parser made up), unparseable and truncated ones,
examples the quality rules keep, and the kept examples that still carry a defect
of tests/test_real_answers.py's audit (field header, placeholder, prompt echo, no-input marker with text, program
task). Novelty (ROUGE-L) is left out: it depends on the order and the seed tasks, not on the answer's format.

To compare with an older version, run the same command with PYTHONPATH pointing at a checkout of it (`git worktree
add /tmp/old <commit>`, then `PYTHONPATH=/tmp/old python benchmarks/real_answers.py ...`); the older parser took the
first task number as a third argument, which this script passes when it is asked for.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the audit is the test's

from test_real_answers import AUDIT, audit  # noqa: E402

from pipeline.generation.filters import check_example  # noqa: E402
from pipeline.generation.parse import TRUNCATED, UNPARSEABLE, parse_answer  # noqa: E402

FIRST_TASK = 4  # the bootstrap prompt shows 3 demonstrations; an older parser put this header back itself


def measure(path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    old_signature = len(inspect.signature(parse_answer).parameters) == 3
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            args = (row["text"], row["finish_reason"]) + ((FIRST_TASK,) if old_signature else ())
            items = parse_answer(*args)
            counts["answers"] += 1
            counts["answers with an example"] += any(item.example is not None for item in items)
            counts["candidates"] += len(items)
            for item in items:
                counts["raw the model did not write"] += item.raw not in row["text"]
                if item.reason in (UNPARSEABLE, TRUNCATED):
                    counts[item.reason] += 1
                    continue
                counts["parsed examples"] += 1
                if check_example(item.example) is None:
                    counts["kept by the rules"] += 1
                    defects = audit(item.example.to_dict())
                    counts["kept with a defect"] += bool(defects)
                    counts.update(f"  {name}" for name in defects)
    return counts


def main(paths: list[str]) -> None:
    import pipeline

    print(f"pipeline from {Path(pipeline.__file__).parent}")
    order = ["answers", "answers with an example", "candidates", "raw the model did not write", UNPARSEABLE, TRUNCATED,
             "parsed examples",
             "kept by the rules", "kept with a defect", *(f"  {name}" for name in AUDIT)]  # fmt: skip
    for path in paths:
        counts = measure(Path(path))
        print(f"\n{path}")
        for name in order:
            share = f" ({counts[name] / counts['answers']:.0%})" if name == "answers with an example" else ""
            print(f"  {name:<28} {counts[name]:>5}{share}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["tests/data/real_answers.jsonl"])

"""Benchmark: `clean` and `dedup` on a 52K-record file of the released alpaca_data.json's shape, as a JSON list and
as JSONL side by side, plus each quality rule's false-positive rate on the offline teacher's clean records.

The file: the offline teacher's grammar (pipeline/simulator/grammar.py) with every defect class injected at about
the released file's rates (pipeline/quality/defective.py), written as stanford_alpaca's jdump writes it (indent 4,
ASCII escapes) and as JSONL. Each command runs in its own process, as a user runs it; the ratios come from the
same run.

    python benchmarks/bench_clean.py                      # 52,002 records
    python benchmarks/bench_clean.py --size 5000 --skip-dedup --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from pipeline.core.datafile import read_records
from pipeline.core.records import Example
from pipeline.generation.filters import RULES, FilterConfig
from pipeline.quality.defective import make_dataset

ROOT = Path(__file__).resolve().parent.parent


def run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one CLI command in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", "from flows.cli import main; main()", *command], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def read_seconds(path: Path) -> float:
    started = time.perf_counter()
    for _ in read_records(path):
        pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=52_002)
    parser.add_argument("--skip-dedup", action="store_true", help="Time `clean --no-dedup` only, not the ROUGE rule.")
    parser.add_argument("--repeat", type=int, default=2, help="Runs per command and format, alternating; best kept.")
    parser.add_argument("--keep", action="store_true", help="Keep the files (printed) instead of deleting them.")
    args = parser.parse_args()

    started = time.perf_counter()
    made = make_dataset(args.size, seed=0, novel_base=False)
    folder = Path(tempfile.mkdtemp(prefix="bench-clean-"))
    listed, lines = folder / "alpaca_data.json", folder / "alpaca_data.jsonl"
    with open(listed, "w", encoding="utf-8") as handle:
        json.dump(made.records, handle, indent=4)  # stanford_alpaca's utils.jdump
    with open(lines, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record) + "\n" for record in made.records)
    print(f"{args.size:,} records ({listed.stat().st_size / 1e6:.1f} MB as a JSON list, "
          f"{lines.stat().st_size / 1e6:.1f} MB as JSONL), made in {time.perf_counter() - started:.1f} s; "
          f"{len(made.injected):,} injected defects and repairs")  # fmt: skip

    print("\n| step | JSON list | JSONL | ratio |\n|---|---|---|---|")
    listed_read, lines_read = read_seconds(listed), read_seconds(lines)
    ratio = listed_read / lines_read
    print(f"| read records (in process) | {listed_read:.2f} s | {lines_read:.2f} s | {ratio:.2f}× |", flush=True)
    commands = [("clean --no-dedup", ["clean", "--no-dedup"])]
    if not args.skip_dedup:
        commands += [("clean", ["clean"]), ("dedup", ["dedup"])]
    summaries = {}
    for label, command in commands:
        best = {listed: float("inf"), lines: float("inf")}
        for repeat in range(args.repeat):  # alternate the order, so a noisy neighbour hits both formats alike
            for source in (listed, lines) if repeat % 2 == 0 else (lines, listed):
                out = folder / f"{label.replace(' ', '_')}-{source.suffix[1:]}"
                target = [str(out)] if command[0] == "clean" else [str(out) + ".jsonl"]
                elapsed, _ = run([*command, str(source), "-o", *target, "--no-progress"])
                best[source] = min(best[source], elapsed)
                if command[0] == "clean":
                    summaries[label] = json.loads((out / "summary.json").read_text())
        seconds = [best[listed], best[lines]]
        ratio = seconds[0] / seconds[1]
        print(f"| `{label}` (whole command) | {seconds[0]:.1f} s | {seconds[1]:.1f} s | {ratio:.2f}× |", flush=True)

    summary = summaries.get("clean", summaries["clean --no-dedup"])
    print(f"\nKept {summary['kept']:,} of {summary['records']:,}. Per reason, reported / injected:")
    for reason, count in summary["reasons"].items():
        injected = made.reasons.get(reason, 0)
        note = " (injected copies plus the grammar's own near-duplicates)" if reason == "near_duplicate" else ""
        print(f"  {reason}: {count:,} / {injected:,}{note}")
    print("Per repair, reported / injected: " + ", ".join(
        f"{name} {summary['repairs'].get(name, 0)} / {count}" for name, count in made.repairs.items()))  # fmt: skip

    # False positives: the records the grammar wrote and nothing was injected into are clean by construction.
    clean_records = [record for number, record in enumerate(made.records) if number not in made.injected]
    config, flagged = FilterConfig(), Counter()
    for record in clean_records:
        if isinstance(record, dict) and record["input"] == record["output"]:
            continue  # the correct short echoes, kept on purpose
        example = Example(record["instruction"], record["input"], record["output"])
        flagged.update(reason for rule in RULES if (reason := rule(example, config)) is not None)
    print(f"\nFalse positives on {len(clean_records):,} clean grammar records, per rule: "
          + (", ".join(f"{name} {count} ({count / len(clean_records):.3%})" for name, count in flagged.items())
             or "none (0 of every rule)"))  # fmt: skip
    if args.keep:
        print(f"Files in {folder}")
    else:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()

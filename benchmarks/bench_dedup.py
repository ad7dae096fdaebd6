"""Benchmark: the exact ROUGE-L index against the reference rule (rouge_score, as Alpaca applies it).

Builds a realistic stream of candidate instructions (the offline teacher's answers to real bootstrap prompts,
parsed; near-duplicates included), runs both rules side by side on its first items, checks that every
keep/drop decision is identical, prints the speed ratio, then times the index alone on longer streams.

    python benchmarks/bench_dedup.py                       # reference on 4,000 items; index on 52K and 200K
    python benchmarks/bench_dedup.py --reference-items 500 --sizes 20000
"""

from __future__ import annotations

import argparse
import resource
import time

from rouge_score import rouge_scorer

from pipeline.generation.dedup import RougeIndex
from pipeline.generation.parse import parse_answer
from pipeline.generation.prompts import prompt_for_request
from pipeline.generation.seeds import default_seed_path, load_seed_tasks
from pipeline.simulator.server import DEFAULT_CONFIG, answer_rng, generate_answer


def candidate_stream(size: int, seeds: list) -> list[str]:
    """Instructions in the order a generation run would check them."""
    stream: list[str] = []
    request = 0
    while len(stream) < size:
        prompt = prompt_for_request(seeds, 0, request)
        text, finish_reason = generate_answer(prompt.text, answer_rng(prompt.text, request, 0), DEFAULT_CONFIG, True)
        items = parse_answer(text, finish_reason)
        stream += [item.example.instruction for item in items if item.example]
        request += 1
    return stream[:size]


def reference_rule(seeds: list[str], stream: list[str]) -> tuple[list[bool], list[float]]:
    """Alpaca's generate_instruction.py: score each candidate against every kept instruction with rouge_score.

    Alpaca maps `_score_lcs` over a multiprocessing pool; here it runs in one process, like the index.
    """
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pool = [scorer._tokenizer.tokenize(text) for text in seeds]
    decisions, seconds = [], []
    for text in stream:
        started = time.perf_counter()
        tokens = scorer._tokenizer.tokenize(text)
        scores = [rouge_scorer._score_lcs(tokens, kept).fmeasure for kept in pool]
        novel = max(scores, default=0.0) <= 0.7
        if novel:
            pool.append(tokens)
        seconds.append(time.perf_counter() - started)
        decisions.append(novel)
    return decisions, seconds


def index_rule(seeds: list[str], stream: list[str]) -> tuple[list[bool], list[float], RougeIndex]:
    index = RougeIndex()
    index.extend(seeds)
    decisions, seconds = [], []
    for text in stream:
        started = time.perf_counter()
        decisions.append(index.add_if_novel(text, top_k=10).is_novel)
        seconds.append(time.perf_counter() - started)
    return decisions, seconds, index


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference-items", type=int, default=4000, help="stream items both rules process")
    parser.add_argument("--sizes", type=int, nargs="*", default=[52_000, 200_000], help="index-only stream sizes")
    args = parser.parse_args()

    seeds = [task.instruction for task in load_seed_tasks(default_seed_path())]
    largest = max([args.reference_items, *args.sizes])
    started = time.perf_counter()
    stream = candidate_stream(largest, load_seed_tasks(default_seed_path()))
    elapsed = time.perf_counter() - started
    print(f"stream: {len(stream):,} candidate instructions from the offline teacher ({elapsed:.1f}s)")

    head = stream[: args.reference_items]
    reference, reference_seconds = reference_rule(seeds, head)
    ours, our_seconds, index = index_rule(seeds, head)
    assert ours == reference, "decisions differ from the reference"
    tail = max(1, len(head) // 4)  # the last quarter: the pool is largest there
    pool = len(index)
    ratio = sum(reference_seconds[-tail:]) / sum(our_seconds[-tail:])
    print(f"side by side on {len(head):,} items: identical decisions ({sum(ours):,} kept)")
    per_candidate = 1e3 * sum(reference_seconds[-tail:]) / tail
    print(
        f"  reference: {sum(reference_seconds):8.2f}s total, {per_candidate:8.3f} ms/candidate over the last {tail:,}"
    )
    print(f"  index:     {sum(our_seconds):8.2f}s total, {1e3 * sum(our_seconds[-tail:]) / tail:8.3f} ms/candidate")
    print(f"  speed-up over the last {tail:,} candidates (pool ~{pool:,} at the end): {ratio:,.0f}x")

    for size in args.sizes:
        rss_before = max_rss_mb()
        started = time.perf_counter()
        decisions, seconds, index = index_rule(seeds, stream[:size])
        elapsed = time.perf_counter() - started
        print(
            f"index alone, {size:,}-candidate stream: {elapsed:.1f}s ({1e3 * elapsed / size:.3f} ms/candidate), "
            f"{sum(decisions):,} kept, final pool {len(index):,}, max RSS {max_rss_mb():.0f} MB "
            f"(was {rss_before:.0f} MB before)"
        )


if __name__ == "__main__":
    main()

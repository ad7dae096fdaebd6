"""Benchmark: `--tokenizer unicode` on translated instruction pairs, against the English rule.

benchmarks/data/multilingual_pairs.json holds English instruction pairs (paraphrases and unrelated tasks of
similar form) with Chinese, Russian, German and Spanish translations. The truth for each pair is the English
rule's decision on its English pair (rouge_score's tokenizer, F > 0.7); a tokenizer's precision and recall are
those of its decisions on the translated pair. The previous release's tokenizer (per-character CJK, every accent
folded, no stemming) is copied below and measured in the same run.

    python benchmarks/bench_unicode.py
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

from rouge_score import rouge_scorer

from pipeline.generation.dedup import rouge_tokens, unicode_tokens

PAIRS = Path(__file__).resolve().parent / "data" / "multilingual_pairs.json"
LANGUAGES = ("zh", "ru", "de", "es")
THRESHOLD = 0.7


def previous_unicode_tokens(text: str) -> list[str]:
    """The unicode tokenizer as released before this benchmark: accents folded everywhere, CJK a character each."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(char for char in decomposed if not unicodedata.combining(char))
    unspaced = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u0e00-\u0e7f]"
    text = re.sub(unspaced, lambda match: f" {match.group()} ", unicodedata.normalize("NFC", text))
    return re.findall(r"[^\W_]+", text)


def score(tokenize: Callable[[str], list[str]], first: str, second: str) -> float:
    return rouge_scorer._score_lcs(tokenize(first), tokenize(second)).fmeasure


def precision_recall(truth: list[bool], decided: list[bool]) -> tuple[float, float, int, int]:
    hits = sum(t and d for t, d in zip(truth, decided, strict=True))
    flagged, positives = sum(decided), sum(truth)
    false_alarms = flagged - hits
    return hits / max(flagged, 1), hits / max(positives, 1), false_alarms, positives - hits


def main() -> None:
    pairs = json.loads(PAIRS.read_text(encoding="utf-8"))["pairs"]
    truth = [score(rouge_tokens, *pair["en"]) > THRESHOLD for pair in pairs]
    print(f"{len(pairs)} pairs, {sum(truth)} near-duplicates by the English rule (rouge_score's tokenizer > 0.7)\n")
    print("| language | tokenizer | precision | recall | false alarms | misses |\n|---|---|---|---|---|---|")
    for language in ("en", *LANGUAGES):
        for name, tokenize in (("previous unicode", previous_unicode_tokens), ("unicode", unicode_tokens)):
            decided = [score(tokenize, *pair[language]) > THRESHOLD for pair in pairs]
            precision, recall, false_alarms, misses = precision_recall(truth, decided)
            print(f"| {language} | {name} | {precision:.2f} | {recall:.2f} | {false_alarms} | {misses} |")
    print("\nPer pair, F by the English rule, then the unicode tokenizer (previous -> now) per language:")
    for pair, is_duplicate in zip(pairs, truth, strict=True):
        cells = [f"{language} {score(previous_unicode_tokens, *pair[language]):.2f}->"
                 f"{score(unicode_tokens, *pair[language]):.2f}" for language in LANGUAGES]  # fmt: skip
        print(f"  {pair['kind']:<10} en {score(rouge_tokens, *pair['en']):.2f} {'dup' if is_duplicate else '   '}  "
              + "  ".join(cells))  # fmt: skip
    texts = [text for pair in pairs for language in ("en", *LANGUAGES) for text in pair[language]] * 50
    for name, tokenize in (("rouge", rouge_tokens), ("previous unicode", previous_unicode_tokens),
                           ("unicode", unicode_tokens)):  # fmt: skip
        tokenize(texts[0])  # load models and dictionaries outside the timing
        started = time.perf_counter()
        for text in texts:
            tokenize(text)
        print(f"{name} tokenizer: {1e6 * (time.perf_counter() - started) / len(texts):.1f} µs a text "
              f"({len(texts):,} texts; repeated texts hit the unicode tokenizer's language cache)")  # fmt: skip


if __name__ == "__main__":
    main()

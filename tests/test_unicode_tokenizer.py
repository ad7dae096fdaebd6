"""The unicode tokenizer: inflections folded by Snowball stemmers, accents folded on Latin letters only."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.generation.dedup import RougeIndex, unicode_tokens

PAIRS = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "multilingual_pairs.json"


def test_cyrillic_letters_keep_their_marks_and_latin_ones_lose_them() -> None:
    assert unicode_tokens("Йогурт") == ["йогурт"]  # й is a letter of its own, not и with a breve
    assert unicode_tokens("Name a café in the old town.") == ["name", "a", "cafe", "in", "the", "old", "town"]
    english = "Write a short poem about the rain in spring."
    assert unicode_tokens(english) == english.lower().rstrip(".").split()  # English is not stemmed


def test_inflected_paraphrases_score_as_their_english_pair() -> None:
    """The Russian paraphrase of a pair the English rule drops (F 0.89) scored 0.67 before stemming."""
    pairs = json.loads(PAIRS.read_text(encoding="utf-8"))["pairs"]
    for language in ("ru", "de", "es"):
        index = RougeIndex(tokenizer="unicode")
        index.add(pairs[0][language][0])
        assert not index.check(pairs[0][language][1]).is_novel, language


def test_unrelated_tasks_stay_apart_in_every_language() -> None:
    pairs = [pair for pair in json.loads(PAIRS.read_text(encoding="utf-8"))["pairs"] if pair["kind"] == "unrelated"]
    for pair in pairs:
        for language in ("zh", "ru", "de", "es"):
            index = RougeIndex(tokenizer="unicode")
            index.add(pair[language][0])
            assert index.check(pair[language][1]).is_novel, (language, pair[language])


def test_a_score_a_rounding_error_above_the_threshold_is_the_threshold() -> None:
    """7 of 8 and 12 characters shared in order: F = 14/20 = 0.7 exactly, which floats compute as
    0.7000000000000001. Not above 0.7, so the unicode tokenizer keeps it (the rouge one stays bit-exact)."""
    index = RougeIndex(tokenizer="unicode")
    index.add("甲乙丙丁戊己庚辛")
    novelty = index.check("甲乙丙丁戊己庚子丑寅卯辰")
    assert novelty.max_score > 0.7 and novelty.is_novel

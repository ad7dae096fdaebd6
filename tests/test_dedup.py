"""The novelty check gives rouge_score's exact scores, ties at the threshold included."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer
from rouge_score.tokenize import tokenize

from pipeline.generation.dedup import RougeIndex, rouge_tokens

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def reference(new: str, kept: str) -> float:
    """Alpaca's computation: _score_lcs(new_tokens, kept_tokens).fmeasure."""
    return rouge_scorer._score_lcs(rouge_tokens(new), rouge_tokens(kept)).fmeasure


WORDS = st.sampled_from(["the", "a", "list", "write", "poem", "cat", "café", "x2", "Über", "--", "列表", ""])
TEXTS = st.lists(WORDS, max_size=80).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXTS, min_size=1, max_size=12), TEXTS)
def test_scores_equal_rouge_score_bit_for_bit(pool: list[str], new: str) -> None:
    index = RougeIndex()
    for text in pool:
        index.add(text)
    assert list(index.scores(new)) == [reference(new, text) for text in pool]
    # rouge_score's public API, which scores (target=new, prediction=kept) the same way
    assert [SCORER.score(new, text)["rougeL"].fmeasure for text in pool] == [reference(new, text) for text in pool]


def test_float_ties_at_the_threshold_follow_the_reference() -> None:
    # 20*LCS == 7*(la+lb): the rational F is exactly 0.7, the float is 0.7 or 0.7000000000000001.
    decided = set()
    for length_new in range(1, 40):
        for length_kept in range(1, 40):
            if (7 * (length_new + length_kept)) % 20:
                continue
            lcs = 7 * (length_new + length_kept) // 20
            if lcs > min(length_new, length_kept):
                continue
            common = [f"w{i}" for i in range(lcs)]
            new = " ".join(common + [f"n{i}" for i in range(length_new - lcs)])
            kept = " ".join(common + [f"k{i}" for i in range(length_kept - lcs)])
            index = RougeIndex(0.7)
            index.add(kept)
            novelty = index.check(new)
            expected = reference(new, kept)
            assert novelty.max_score == expected
            assert novelty.is_novel == (expected <= 0.7)
            decided.add(novelty.is_novel)
    assert decided == {True, False}  # both float outcomes occur, so the test means something


def test_greedy_decisions_equal_brute_force() -> None:
    rng = random.Random(3)
    vocabulary = "give list three ways to improve sleep write short poem about rain explain why sky blue".split()
    stream = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(3, 9))) for _ in range(3000)]
    index, kept_reference = RougeIndex(), []
    decisions = [index.add_if_novel(text).is_novel for text in stream]
    for text in stream:
        novel = all(reference(text, kept) <= 0.7 for kept in kept_reference)
        if novel:
            kept_reference.append(text)
    assert index.instructions == kept_reference
    assert 0 < sum(decisions) < len(stream)


def test_large_pool_top_k_equals_brute_force() -> None:
    # A pool big enough for flagged keys and short entries found by length; queries of every kind.
    rng = random.Random(11)
    common = "the a of to and in write give list explain describe".split()
    rare = [f"w{i}" for i in range(300)]

    def text() -> str:
        words = [rng.choice(common if rng.random() < 0.6 else rare) for _ in range(rng.choice([2, 3, 5, 8, 13, 21]))]
        return " ".join(words)

    pool = [text() for _ in range(1500)]
    index = RougeIndex()
    index.extend(pool)
    pool_tokens = [rouge_tokens(kept) for kept in pool]
    for _ in range(60):
        new = text()
        tokens = rouge_tokens(new)
        brute = [(rouge_scorer._score_lcs(tokens, kept).fmeasure, at) for at, kept in enumerate(pool_tokens)]
        ranked = sorted(brute, key=lambda item: (-item[0], item[1]))
        novelty = index.check(new, top_k=10)
        assert list(novelty.most_similar) == [(pool[position], score) for score, position in ranked[:10] if score > 0]
        assert novelty.max_score == ranked[0][0]
    assert index._flags  # the test went through flagged keys


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from("aZ09 _-.\n\tÉéßİı\u3000\u0130ǅﬁ北x"), max_size=40))
def test_rouge_tokens_equal_rouge_score_tokenize(text: str) -> None:
    assert rouge_tokens(text) == tokenize(text, None)


def test_most_similar_is_sorted_and_exact() -> None:
    index = RougeIndex()
    for text in ["write a poem about rain", "write a story about rain", "explain photosynthesis", "list ten birds"]:
        index.add(text)
    novelty = index.check("write a poem about snow", top_k=2)
    assert [text for text, _ in novelty.most_similar] == ["write a poem about rain", "write a story about rain"]
    assert novelty.max_score == reference("write a poem about snow", "write a poem about rain") > 0.7
    assert not novelty.is_novel


def test_empty_pool_and_non_latin_text_score_zero() -> None:
    index = RougeIndex()
    assert index.check("anything at all").is_novel
    index.add("列出三种水果")
    assert index.check("列出三种水果").max_score == 0.0  # the reference tokenizer drops non-Latin text


@settings(max_examples=500, deadline=None)
@given(
    st.lists(TEXTS, min_size=1, max_size=60), TEXTS, st.integers(min_value=1, max_value=12),
    st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 0.95, 1.0]), st.sampled_from([1, 2, 7, 10**9]),
)  # fmt: skip
def test_pruned_top_k_equals_brute_force(
    pool: list[str], new: str, top_k: int, floor_hint: float, reflag_at: int
) -> None:
    index = RougeIndex()
    # Where the search floor starts and which keys are flagged only change speed, never the answer.
    index._floor_hint, index._next_reflag = floor_hint, reflag_at
    index.extend(pool)
    brute = [(reference(new, text), position) for position, text in enumerate(pool)]
    expected = [(pool[position], score) for score, position in sorted(brute, key=lambda x: (-x[0], x[1])) if score > 0]
    novelty = index.check(new, top_k=top_k)
    assert list(novelty.most_similar) == expected[:top_k]
    assert novelty.max_score == max(score for score, _ in brute)
    assert novelty.is_novel == (novelty.max_score <= 0.7)


@pytest.mark.parametrize(
    ("kept", "new"),
    [
        ("列出三种常见的水果并说明它们的营养价值", "列出三种常见的水果并说明它们的营养"),
        ("Назовите три крупные реки Европы и их длину", "Назовите три крупные реки Европы и их протяжённость"),
        # the same German task typed with and without umlauts
        ("Nennen Sie drei Gründe für frühes Aufstehen", "Nennen Sie drei Grunde fur fruhes Aufstehen"),
    ],
)
def test_unicode_tokenizer_catches_non_latin_near_duplicates(kept: str, new: str) -> None:
    reference_index = RougeIndex()
    reference_index.add(kept)
    assert reference_index.check(new).max_score < 0.7  # the reference tokenizer lets these through
    index = RougeIndex(tokenizer="unicode")
    index.add(kept)
    assert not index.check(new).is_novel


def test_unicode_tokenizer_keeps_distinct_tasks_apart() -> None:
    index = RougeIndex(tokenizer="unicode")
    index.add("列出三种常见的水果")
    assert index.check("解释光合作用的过程").is_novel
    with pytest.raises(ValueError, match="tokenizer must be one of"):
        RougeIndex(tokenizer="words")  # type: ignore[arg-type]

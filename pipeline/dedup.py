"""Exact ROUGE-L novelty check: drop an instruction whose ROUGE-L F-measure to any kept one exceeds a threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq
from rouge_score.tokenize import tokenize

DEFAULT_THRESHOLD = 0.7  # Alpaca/self-instruct: keep only if ROUGE-L F < = 0.7 against every kept instruction


def rouge_tokens(text: str) -> list[str]:
    """rouge_score's default tokenizer without stemming: lower-case, runs of [^a-z0-9] split.

    >>> rouge_tokens("Café: 2 cups!")
    ['caf', '2', 'cups']
    """
    return tokenize(text, None)


@dataclass(frozen=True, slots=True)
class Novelty:
    """The verdict on one instruction: its max ROUGE-L F to the pool and its most similar pool entries."""

    is_novel: bool
    max_score: float
    most_similar: tuple[tuple[str, float], ...]  # (instruction, score), best first


class RougeIndex:
    """The pool of kept instructions, checked the way Alpaca's generate_instruction.py checks it.

    Scores are computed as rouge_score's `_score_lcs(new_tokens, pool_tokens)` does, with the same
    float operations, so ties at exactly the threshold fall the same way; only the LCS lengths come from
    rapidfuzz's exact LCS on token-id sequences instead of a Python DP table.
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self.instructions: list[str] = []
        self._vocabulary: dict[str, int] = {}
        self._sequences: list[list[int]] = []
        self._lengths: list[int] = []

    def __len__(self) -> int:
        return len(self.instructions)

    def _encode(self, text: str) -> list[int]:
        return [self._vocabulary.setdefault(token, len(self._vocabulary)) for token in rouge_tokens(text)]

    def add(self, instruction: str) -> None:
        """Put an instruction in the pool unconditionally (seed tasks go in this way)."""
        sequence = self._encode(instruction)
        self.instructions.append(instruction)
        self._sequences.append(sequence)
        self._lengths.append(len(sequence))

    def scores(self, instruction: str) -> np.ndarray:
        """ROUGE-L F-measure of `instruction` (as target) against every pool entry (as prediction)."""
        sequence = self._encode(instruction)
        if not self._sequences or not sequence:
            return np.zeros(len(self._sequences))
        lcs = process.cdist([sequence], self._sequences, scorer=LCSseq.similarity, dtype=np.int32, workers=1)[0]
        lcs = lcs.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = lcs / np.asarray(self._lengths, dtype=np.float64)
            recall = lcs / len(sequence)
            fmeasure = 2 * precision * recall / (precision + recall)
        return np.where((precision + recall) > 0, fmeasure, 0.0)

    def check(self, instruction: str, top_k: int = 10) -> Novelty:
        """Score an instruction against the pool without adding it."""
        scores = self.scores(instruction)
        if scores.size == 0:
            return Novelty(True, 0.0, ())
        best = np.argsort(-scores, kind="stable")[:top_k]
        max_score = float(scores[best[0]])
        most_similar = tuple((self.instructions[i], float(scores[i])) for i in best)
        return Novelty(max_score <= self.threshold, max_score, most_similar)

    def add_if_novel(self, instruction: str, top_k: int = 10) -> Novelty:
        """Check an instruction and, if it is novel, add it to the pool."""
        novelty = self.check(instruction, top_k)
        if novelty.is_novel:
            self.add(instruction)
        return novelty

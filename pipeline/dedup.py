"""Exact ROUGE-L novelty index: drop an instruction whose ROUGE-L F-measure to any kept one exceeds a threshold.

Decisions and scores equal the reference rule (Alpaca's generate_instruction.py: rouge_score's `_score_lcs`
of the new instruction's tokens against each pool entry's, dropped iff the max F-measure is > 0.7), and are
fast because most of the pool never reaches an LCS computation:

1. an inverted index of (token, k-th occurrence) gives, for every pool entry in one `np.bincount`, the
   multiset overlap of tokens with the query, an upper bound on their LCS;
2. the bound turned into an F-measure, 2*overlap/(len_a+len_b), selects the entries worth an exact LCS
   (rapidfuzz's bit-parallel LCS on token-id sequences): bands of falling bound, starting near the k-th
   best score of recent queries, until the k-th best exact score beats every unchecked entry's bound.
   Exact scores use the reference's own float operations, so ties at exactly 0.7 fall as they do there.

Entries that share no token with the query score exactly 0 and are never reported as similar.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq
from rouge_score.tokenize import tokenize

DEFAULT_THRESHOLD = 0.7  # Alpaca/self-instruct: keep only if ROUGE-L F <= 0.7 against every kept instruction
Tokenizer = Literal["rouge", "unicode"]
BAND_STEP = 0.05  # width of the bound bands checked exactly per round: narrow bands check few extra entries

# Scripts written without spaces: each character is a token, as CJK ROUGE implementations do.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u0e00-\u0e7f]")
_WORD = re.compile(r"[^\W_]+")


def rouge_tokens(text: str) -> list[str]:
    """rouge_score's default tokenizer without stemming: lower-case, runs of [^a-z0-9] split.

    >>> rouge_tokens("Café: 2 cups!")
    ['caf', '2', 'cups']
    """
    return tokenize(text, None)


def unicode_tokens(text: str) -> list[str]:
    """A tokenizer for any script: case-folded words without accents, CJK/Thai/Hangul one character each.

    >>> unicode_tokens("Café, 北京 Straße")
    ['cafe', '北', '京', 'strasse']
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(char for char in decomposed if not unicodedata.combining(char))
    text = _UNSPACED.sub(lambda match: f" {match.group()} ", unicodedata.normalize("NFC", text))
    return _WORD.findall(text)


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {"rouge": rouge_tokens, "unicode": unicode_tokens}
_SURROGATES = 0xD800 - 0x100  # ids from here on skip the UTF-16 surrogate block, which str cannot hold alone


def token_text(sequence: list[int]) -> str:
    """Token ids as one character each: rapidfuzz's LCS on strings is exact and ~3x faster than on lists.

    >>> token_text([0, 1, 0]) == chr(0x100) + chr(0x101) + chr(0x100)
    True
    """
    return "".join(chr(token + (0x100 if token < _SURROGATES else 0x900)) for token in sequence)


@dataclass(frozen=True, slots=True)
class Novelty:
    """The verdict on one instruction: its max ROUGE-L F to the pool and its most similar pool entries."""

    is_novel: bool
    max_score: float
    most_similar: tuple[tuple[str, float], ...]  # (instruction, score), best first, scores > 0 only


def fmeasure(lcs: np.ndarray, pool_lengths: np.ndarray, query_length: int) -> np.ndarray:
    """rouge_score's F-measure with its exact float operations (ties at 0.7 fall as they do there)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = lcs / pool_lengths
        recall = lcs / query_length
        score = 2 * precision * recall / (precision + recall)
    return np.where((precision + recall) > 0, score, 0.0)


class _Postings:
    """A growable int32 array of pool ids (amortised O(1) append, a zero-copy view for numpy)."""

    __slots__ = ("data", "size")

    def __init__(self) -> None:
        self.data = np.empty(4, dtype=np.int32)
        self.size = 0

    def append(self, value: int) -> None:
        if self.size == len(self.data):
            self.data = np.resize(self.data, 2 * self.size)
        self.data[self.size] = value
        self.size += 1

    def view(self) -> np.ndarray:
        return self.data[: self.size]


class RougeIndex:
    """The pool of kept instructions (seeds included), with exact incremental ROUGE-L queries."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, tokenizer: Tokenizer = "rouge") -> None:
        if tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {sorted(TOKENIZERS)}, got {tokenizer!r}")
        self.threshold = threshold
        self.tokenizer = tokenizer
        self._tokenize = TOKENIZERS[tokenizer]
        self.instructions: list[str] = []
        self._vocabulary: dict[str, int] = {}
        self._texts: list[str] = []  # each entry's token ids as characters, for rapidfuzz's string LCS
        self._lengths = _Postings()  # token count of each entry (reusing the growable array)
        self._postings: dict[tuple[int, int], _Postings] = {}
        self._band_start = 0.5  # first bound band searched; follows the k-th best score of recent queries

    def __len__(self) -> int:
        return len(self.instructions)

    def _encode(self, text: str) -> list[int]:
        vocabulary = self._vocabulary
        return [vocabulary.setdefault(token, len(vocabulary)) for token in self._tokenize(text)]

    @staticmethod
    def _occurrence_keys(sequence: list[int]) -> list[tuple[int, int]]:
        """(token, k) for the k-th occurrence of each token: shared keys count the multiset overlap."""
        return [(token, k) for token, count in Counter(sequence).items() for k in range(count)]

    def add(self, instruction: str) -> None:
        """Put an instruction in the pool unconditionally (seed tasks go in this way)."""
        sequence = self._encode(instruction)
        entry = len(self.instructions)
        self.instructions.append(instruction)
        self._texts.append(token_text(sequence))
        self._lengths.append(len(sequence))
        for key in self._occurrence_keys(sequence):
            postings = self._postings.get(key)
            if postings is None:
                postings = self._postings[key] = _Postings()
            postings.append(entry)

    def extend(self, instructions: Iterable[str]) -> None:
        """Bulk build: add every instruction unconditionally."""
        for instruction in instructions:
            self.add(instruction)

    def _exact(self, text: str, entries: np.ndarray) -> np.ndarray:
        choices = [self._texts[entry] for entry in entries]
        lcs = process.cdist([text], choices, scorer=LCSseq.similarity, dtype=np.int32, workers=1)[0]
        return fmeasure(lcs.astype(np.float64), self._lengths.view()[entries].astype(np.float64), len(text))

    def _exact_sharing(self, text: str, entries: np.ndarray) -> np.ndarray:
        """`_exact` for entries that share a token with the query (LCS >= 1, so no division by zero)."""
        choices = [self._texts[entry] for entry in entries]
        lcs = process.cdist([text], choices, scorer=LCSseq.similarity, dtype=np.float64, workers=1)[0]
        precision = lcs / self._lengths.view()[entries]
        recall = lcs / len(text)
        return 2 * precision * recall / (precision + recall)  # rouge_score's operations, in its order

    def scores(self, instruction: str) -> np.ndarray:
        """Exact F-measure against every pool entry, without pruning (for tests and small pools)."""
        sequence = self._encode(instruction)
        if not self._texts or not sequence:
            return np.zeros(len(self._texts))
        return self._exact(token_text(sequence), np.arange(len(self._texts)))

    def check(self, instruction: str, top_k: int = 10) -> Novelty:
        """Score an instruction against the pool without adding it; `most_similar` is exact for its k."""
        sequence = self._encode(instruction)
        keys = [self._postings[key].view() for key in self._occurrence_keys(sequence) if key in self._postings]
        if not keys:  # no shared token: every score is 0
            return Novelty(True, 0.0, ())
        overlap = np.bincount(np.concatenate(keys), minlength=len(self.instructions))
        # F = 2*LCS/(len_a+len_b) in exact arithmetic, and LCS <= overlap: an upper bound on every score.
        bound = 2.0 * overlap / (self._lengths.view() + len(sequence))
        wanted, text = max(top_k, 1), token_text(sequence)
        entries, scores = np.empty(0, dtype=np.int64), np.empty(0)
        # Check entries in bands of falling bound, starting from a guess of the k-th best score, until the k-th
        # best exact score beats every unchecked bound; the margin covers float rounding, so a tie is checked.
        lower, upper = self._band_start, np.inf
        while True:
            band = np.flatnonzero((bound >= lower) & (bound < upper)) if lower > 0 else np.flatnonzero(
                (bound > 0) & (bound < upper)
            )  # fmt: skip
            if band.size:
                entries = np.concatenate([entries, band])
                scores = np.concatenate([scores, self._exact_sharing(text, band)])
            ranking = np.lexsort((entries, -scores))[:wanted]  # score desc, then pool order
            kth_best = scores[ranking[-1]] if len(ranking) == wanted else 0.0
            if lower == 0 or kth_best > lower * (1 + 1e-9):
                break
            upper, lower = lower, (lower - BAND_STEP if lower > 2 * BAND_STEP else 0.0)
        if len(ranking) == wanted:  # start the next query's bands near this one's k-th best
            self._band_start = max(2 * BAND_STEP, float(kth_best) - BAND_STEP / 2)
        best = zip(entries[ranking][:top_k], scores[ranking][:top_k], strict=True)
        max_score = float(scores[ranking[0]]) if len(ranking) else 0.0
        most_similar = tuple((self.instructions[entry], float(score)) for entry, score in best if score > 0)
        return Novelty(max_score <= self.threshold, max_score, most_similar)

    def add_if_novel(self, instruction: str, top_k: int = 10) -> Novelty:
        """Check an instruction and, if it is novel, add it to the pool."""
        novelty = self.check(instruction, top_k)
        if novelty.is_novel:
            self.add(instruction)
        return novelty

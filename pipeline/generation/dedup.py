"""Exact ROUGE-L novelty index: drop an instruction whose ROUGE-L F-measure to any kept one exceeds a threshold.

Decisions and scores equal the reference rule (Alpaca's generate_instruction.py: rouge_score's `_score_lcs`
of the new instruction's tokens against each pool entry's, dropped iff the max F-measure is > 0.7), and are
fast because most of the pool never reaches an LCS computation. F = 2*LCS/(len_a+len_b), and the LCS is at
most the multiset overlap of tokens, so 2*overlap/(len_a+len_b) bounds every score:

1. a query searches above a floor, set a little below the k-th best score of recent queries. Its most
   frequent (token, k-th occurrence) keys are *flagged*, as many as keep 2*f/(f+len) under the floor, so an
   entry sharing nothing but flagged keys cannot reach it. Only the other keys' postings are counted (one
   `np.bincount`); entries whose count cannot reach the floor even with every flagged key are dropped, and
   the survivors' flagged keys are counted from a 64-bit mask of the pool's most frequent keys (popcount).
2. the remaining entries get exact LCS (rapidfuzz's bit-parallel LCS on token ids written as characters) in
   falling order of bound, in doubling chunks, until the k-th best exact score beats every unchecked bound.
   If the k-th best does not beat the floor, the search runs again with a lower floor (down to no pruning).
   Exact scores use the reference's own float operations, so ties at exactly 0.7 fall as they do there.

Entries that share no token with the query score exactly 0 and are never reported as similar.
"""

from __future__ import annotations

import math
import operator
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from pipeline.generation.config import DEFAULT_THRESHOLD, Tokenizer

FLOOR_SLACK = 0.15  # the search floor sits this far below recent k-th best scores: a miss costs a second search
RETRY_STEP = 0.2  # how far the floor drops when the k-th best score did not beat it
FLAGGED_KEYS = 64  # the pool's most frequent keys, one bit each in a per-entry mask (a uint64)

# Scripts written without spaces: each character is a token, as CJK ROUGE implementations do. (Cutting Chinese into
# words with jieba measured worse: recall 0.43 against 1.00 per character; benchmarks/bench_unicode.py.)
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u0e00-\u0e7f]")
_WORD = re.compile(r"[^\W_]+")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[a-z\u00c0-\u024f\u1e00-\u1eff]")
_LATIN_ACCENTED = re.compile(r"[\u00c0-\u024f\u1e00-\u1eff]")  # folded; Cyrillic й and ё keep their marks
# Languages whose inflections a Snowball stemmer folds (py3langid code -> PyStemmer name). English is not stemmed:
# English text then tokenizes as rouge_score's tokenizer does (up to accents), the rule the project is held to.
STEMMED_LANGUAGES = {
    "ca": "catalan", "da": "danish", "de": "german", "es": "spanish", "fi": "finnish", "fr": "french",
    "hu": "hungarian", "id": "indonesian", "it": "italian", "nl": "dutch", "no": "norwegian", "pt": "portuguese",
    "ro": "romanian", "sv": "swedish", "tr": "turkish",
}  # fmt: skip
_ROUGE_TOKEN = re.compile(r"[a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    """rouge_score's default tokenizer without stemming: lower-case, runs of [^a-z0-9] split.

    Its lower, substitute, split and filter steps leave exactly the runs of [a-z0-9] in the lower-cased text
    (a test holds it to `rouge_score.tokenize.tokenize`); one `findall` is ~5x faster.

    >>> rouge_tokens("Café: 2 cups!")
    ['caf', '2', 'cups']
    """
    return _ROUGE_TOKEN.findall(text.lower())


def unicode_tokens(text: str) -> list[str]:
    """A tokenizer for any script: case-folded words, stemmed by their language, Latin ones without accents.

    CJK, Thai and Hangul are a character a token; Cyrillic words get the Russian Snowball stemmer, Latin words that
    of their language (py3langid on the whole text) except English's, and then lose their accents (й stays й).

    >>> unicode_tokens("Напишите стихотворение о весеннем дожде, 北京 Café")
    ['напиш', 'стихотворен', 'о', 'весен', 'дожд', '北', '京', 'cafe']
    """
    text = _UNSPACED.sub(lambda match: f" {match.group()} ", unicodedata.normalize("NFC", text.casefold()))
    words = _WORD.findall(text)
    latin = _latin_stemmer(text) if any(_LATIN.match(word) for word in words) else None
    tokens = []
    for word in words:
        if _CYRILLIC.match(word):
            word = _stemmer("russian").stemWord(word)
        elif latin is not None and _LATIN.match(word):
            word = latin.stemWord(word)
        tokens.append(_LATIN_ACCENTED.sub(_fold, word) if _LATIN_ACCENTED.search(word) else word)
    return tokens


def _fold(match: re.Match[str]) -> str:
    """A Latin letter without its accents: é -> e (a letter without a decomposition stays as it is)."""
    return "".join(char for char in unicodedata.normalize("NFKD", match.group()) if not unicodedata.combining(char))


@cache
def _stemmer(language: str) -> Any:
    import Stemmer  # PyStemmer: Snowball's C stemmers; loaded only by the unicode tokenizer

    return Stemmer.Stemmer(language, 10_000)  # with a cache of the most recent words


@cache
def _language_identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)  # its own instance: set_languages is ours alone
    identifier.set_languages(["en", *STEMMED_LANGUAGES])  # the languages there is something to do for
    return identifier


@lru_cache(maxsize=4096)  # a check and the add that follows it tokenize the same text
def _latin_stemmer(text: str) -> Any:
    language, _ = _language_identifier().classify(text)
    return _stemmer(STEMMED_LANGUAGES[language]) if language in STEMMED_LANGUAGES else None


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


class _Growable:
    """A growable 1-D array (amortised O(1) append, a zero-copy view for numpy)."""

    __slots__ = ("data", "size")

    def __init__(self, dtype: type) -> None:
        self.data = np.zeros(4, dtype=dtype)
        self.size = 0

    def append(self, value: int) -> None:
        if self.size == len(self.data):
            self.data = np.concatenate([self.data, np.zeros_like(self.data)])
        self.data[self.size] = value
        self.size += 1

    def view(self) -> np.ndarray:
        return self.data[: self.size]


@dataclass(frozen=True, slots=True)
class _Query:
    text: str  # token ids as characters
    length: int
    found: list[tuple[int, tuple[int, int], _Growable]]  # (postings size, key, postings), most frequent first


ROUNDING = 1e-9  # far below the gap between two F-measures of token counts under a million


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
        self._lengths = _Growable(np.int32)  # token count of each entry
        self._max_length = 0
        self._by_length: dict[int, _Growable] = {}  # entries of each token count, ascending
        self._postings: dict[tuple[int, int], _Growable] = {}  # (token, k-th occurrence) -> entries, ascending
        self._masks = _Growable(np.uint64)  # per entry, the flagged keys it holds
        self._flags: dict[tuple[int, int], int] = {}  # flagged key -> its bit
        self._next_reflag = 256  # pool size at which the flagged keys are chosen again (doubling)
        self._floor_hint = 0.5  # the k-th best score of recent queries, less a margin
        self._required_cache: dict[tuple[int, int, float, int], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.instructions)

    def _encode(self, text: str) -> list[int]:
        vocabulary = self._vocabulary
        return [vocabulary.setdefault(token, len(vocabulary)) for token in self._tokenize(text)]

    @staticmethod
    def _occurrence_keys(sequence: list[int]) -> list[tuple[int, int]]:
        """(token, k) for the k-th occurrence of each token: shared keys count the multiset overlap."""
        seen: dict[int, int] = {}
        keys = []
        for token in sequence:
            k = seen.get(token, 0)
            seen[token] = k + 1
            keys.append((token, k))
        return keys

    def add(self, instruction: str) -> None:
        """Put an instruction in the pool unconditionally (seed tasks go in this way)."""
        sequence = self._encode(instruction)
        entry = len(self.instructions)
        self.instructions.append(instruction)
        self._texts.append(token_text(sequence))
        self._lengths.append(len(sequence))
        self._max_length = max(self._max_length, len(sequence))
        by_length = self._by_length.get(len(sequence))
        if by_length is None:
            by_length = self._by_length[len(sequence)] = _Growable(np.int32)
        by_length.append(entry)
        mask = 0
        for key in self._occurrence_keys(sequence):
            postings = self._postings.get(key)
            if postings is None:
                postings = self._postings[key] = _Growable(np.int32)
            postings.append(entry)
            mask |= self._flags.get(key, 0)
        self._masks.append(mask)
        if len(self.instructions) >= self._next_reflag:
            self._choose_flagged_keys()

    def _choose_flagged_keys(self) -> None:
        """Flag the keys with the longest postings; chosen again each time the pool doubles."""
        self._next_reflag = 2 * len(self.instructions)
        ranked = sorted(self._postings.items(), key=lambda item: item[1].size, reverse=True)[:FLAGGED_KEYS]
        masks = self._masks.view()
        masks[:] = 0
        self._flags = {}
        for bit, (key, postings) in enumerate(ranked):
            self._flags[key] = 1 << bit
            masks[postings.view()] |= np.uint64(1 << bit)

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
        picked = entries.tolist()
        choices = operator.itemgetter(*picked)(self._texts) if len(picked) > 1 else [self._texts[picked[0]]]
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
        postings = self._postings
        found = [(hit.size, key, hit) for key in self._occurrence_keys(sequence) if (hit := postings.get(key))]
        if not found:  # no shared token: every score is 0
            return Novelty(True, 0.0, ())
        found.sort(key=lambda item: item[0], reverse=True)
        query, wanted = _Query(token_text(sequence), len(sequence), found), max(top_k, 1)
        floor = math.floor(100 * max(self._floor_hint - FLOOR_SLACK, 0.0)) / 100  # few distinct floors: cacheable
        while True:
            entries, scores, ranking, settled = self._search(query, wanted, floor)
            if settled:
                break
            floor = round(floor - RETRY_STEP, 2) if floor > RETRY_STEP else 0.0
        if len(ranking) == wanted:
            self._floor_hint = float(scores[ranking[-1]])
        best = zip(entries[ranking][:top_k].tolist(), scores[ranking][:top_k].tolist(), strict=True)
        max_score = float(scores[ranking[0]]) if len(ranking) else 0.0
        most_similar = tuple((self.instructions[entry], score) for entry, score in best if score > 0)
        if self.tokenizer == "rouge":  # bit-exact with rouge_score, float rounding included
            return Novelty(max_score <= self.threshold, max_score, most_similar)
        # F = 2·LCS/(len_a + len_b) is a ratio of small integers: a score a rounding error above the threshold is
        # the threshold itself (10 of 20 Chinese characters shared in order gives 0.7000000000000001, not above 0.7)
        return Novelty(max_score <= self.threshold + ROUNDING, max_score, most_similar)

    def _required(self, length: int, flagged: int, floor: float) -> tuple[np.ndarray, list[int]]:
        """Per entry length, the fewest unflagged shared keys with which an entry can still reach the floor
        (the least of them appended), and the lengths that need just one."""
        cache_key = (length, flagged, floor, self._max_length)
        required = self._required_cache.get(cache_key)
        if required is None:
            if len(self._required_cache) >= 2048:  # ~1,200 at a 52K run; bounded for pools of long texts
                self._required_cache.clear()
            lengths = np.arange(self._max_length + 1)
            # count + flagged >= floor*(len_a+len_b)/2; the 1e-9 only keeps more entries than needed
            need = np.ceil(floor * (lengths + length) / 2 - flagged - 1e-9)
            need[2 * lengths < floor * (lengths + length)] = length + 1  # too short to reach the floor at all
            need = np.maximum(need, 1).astype(np.int32)
            short = np.flatnonzero(need == 1).tolist()
            required = self._required_cache[cache_key] = (np.append(need, need.min()), short)
        return required

    def _search(self, query: _Query, wanted: int, floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """Exact scores of the entries that may rank in the top `wanted` above `floor`; settled if certain."""
        found, length, flags = query.found, query.length, self._flags
        flagged, query_mask = 0, 0
        while flagged < len(found) and found[flagged][1] in flags:
            if 2.0 * (flagged + 1) / (flagged + 1 + length) >= floor:
                break
            query_mask |= flags[found[flagged][1]]
            flagged += 1
        rest = [hit.view() for _, _, hit in found[flagged:]]
        if rest:
            counts = np.bincount(np.concatenate(rest) if len(rest) > 1 else rest[0], minlength=len(self))
            required, short = self._required(length, flagged, floor)
            if flagged and short:  # most entries need 2+ shared keys; the short ones that need 1 come by length
                candidates = np.flatnonzero(counts >= 2)
                by_length = [self._by_length[size].view() for size in short if size in self._by_length]
                if by_length:
                    few = np.concatenate(by_length) if len(by_length) > 1 else by_length[0]
                    candidates = np.concatenate([candidates, few[counts[few] == 1]])
            else:
                candidates = np.flatnonzero(counts >= required[-1])
            counted, lengths = counts[candidates], self._lengths.view()[candidates]
            if flagged:
                keep = np.flatnonzero(counted >= required[lengths])
                candidates, counted, lengths = candidates[keep], counted[keep], lengths[keep]
                counted = counted + np.bitwise_count(self._masks.view()[candidates] & np.uint64(query_mask))
            bound = 2.0 * counted / (lengths + length)
        else:
            candidates, bound = np.empty(0, dtype=np.int64), np.empty(0)
        entries, scores, chunk = np.empty(0, dtype=np.int64), np.empty(0), 2 * wanted
        while True:  # exact scores in falling order of bound until the k-th best beats every unchecked bound
            if candidates.size > chunk:
                cut = np.partition(bound, candidates.size - chunk)[candidates.size - chunk]
                take = bound >= cut
                band, candidates, bound = candidates[take], candidates[~take], bound[~take]
            else:
                band, candidates, bound = candidates, candidates[:0], bound[:0]
            if band.size:
                entries = np.concatenate([entries, band])
                scores = np.concatenate([scores, self._exact_sharing(query.text, band)])
            ranking = np.lexsort((entries, -scores))[:wanted]  # score desc, then pool order
            kth_best = scores[ranking[-1]] if len(ranking) == wanted else 0.0
            unchecked = max(float(bound.max()) if bound.size else 0.0, floor)  # below the floor: pruned entries
            # the margin covers float rounding, so an unchecked entry can never tie the k-th best
            if kth_best > unchecked * (1 + 1e-9) or (floor == 0 and not bound.size):
                return entries, scores, ranking, True
            if not bound.size:
                return entries, scores, ranking, False
            chunk *= 2

    def add_if_novel(self, instruction: str, top_k: int = 10) -> Novelty:
        """Check an instruction and, if it is novel, add it to the pool."""
        novelty = self.check(instruction, top_k)
        if novelty.is_novel:
            self.add(instruction)
        return novelty

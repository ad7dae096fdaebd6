"""Answers into records, strictly in request order: parse, filter, check novelty, journal, and count.

A `Processor` is the state of one run between answers (counts, the novelty pool, where the next answer starts), so
a run checkpoints and resumes it the same way whoever fetched the answers. It is pure of I/O but the run's own
files: it never talks to the teacher.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.core.errors import PipelineError
from pipeline.core.records import SeedTask, TeacherResponse
from pipeline.core.runfiles import KEPT, REJECTED
from pipeline.generation.config import GenerateConfig
from pipeline.generation.dedup import RougeIndex
from pipeline.generation.filters import check_example
from pipeline.generation.parse import ParsedItem, parse_answer
from pipeline.generation.prompts import PROMPT_VERSION
from pipeline.generation.provenance import UNPRICED
from pipeline.generation.store import RunStore

NEAR_DUPLICATE = "near_duplicate"
# What a checkpoint saves; the rest (payments, this session's counts) is rebuilt from the journal or starts at 0.
_PROCESSING_COUNTS = ("answers", "candidates", "kept", "prompt_tokens", "completion_tokens")


@dataclass(slots=True)
class GenerateStats:
    """Every counter of a run, written to stats.json; the same whichever driver fetched the answers."""

    answers: int = 0  # answers used, in request order
    candidates: int = 0
    kept: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0  # of the answers used
    completion_tokens: int = 0
    teacher_models: Counter[str] = field(default_factory=Counter)  # as the server reported them, per answer used
    received: int = 0  # answers journaled in any session, used or not (answers in flight at the end are kept)
    paid_requests: int = 0  # of those, the ones that came from the network (not the response cache)
    paid_prompt_tokens: int = 0  # of the paid answers, used or not: what the provider bills
    paid_completion_tokens: int = 0
    cost_usd: float | None = None  # of the paid answers; None: no price known for the model
    new_requests: int = 0  # answers fetched in this session (network or cache)
    cache_hits: int = 0  # of those, served by the response cache
    added: int = 0  # examples kept in this session
    retries: int = 0  # in this session
    malformed_answers: int = 0  # HTTP 200 answers that were no completion (HTML, broken JSON...), retried; session
    elapsed_s: float = 0.0  # of this session
    processing_s: float = 0.0  # time spent parsing, filtering, checking novelty and journaling, not waiting
    stopped: str = ""  # "target", "max_cost", "max_requests"; "" while running or after a failure
    pricing: dict[str, Any] | str = UNPRICED  # the teacher's price per 1M tokens, or "unpriced"
    projected: dict[str, Any] = field(default_factory=dict)  # requests, tokens, cost re-estimated from the run so far

    @property
    def finished(self) -> bool:
        return self.stopped == "target"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejected"] = dict(sorted(self.rejected.items()))
        data["teacher_models"] = dict(self.teacher_models)
        data["keep_rate"] = self.kept / self.candidates if self.candidates else 0.0
        data["finished"] = self.finished
        return data


class Processor:
    """State of one run while answers are used in request order; the target may cut an answer short."""

    def __init__(self, config: GenerateConfig, seeds: Sequence[SeedTask], store: RunStore, stats: GenerateStats):
        self.config = config
        self.store = store
        self.stats = stats
        self.index = RougeIndex(config.rouge_threshold, config.tokenizer)
        self.index.extend(seed.instruction for seed in seeds)  # a task too close to a seed is not new
        self.unproductive = 0  # answers in a row that kept nothing
        self.next_index = 0  # the first request whose answer is not wholly used yet
        self.next_position = 0  # where in that answer to go on: > 0 when the target cut it short

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from a checkpoint: counts as they were, and the pool rebuilt from the kept examples (unless
        the target is reached, when no answer will be used)."""
        saved, stats = checkpoint["stats"], self.stats
        for name in _PROCESSING_COUNTS:
            setattr(stats, name, saved[name])
        stats.rejected = Counter(saved["rejected"])
        stats.teacher_models = Counter(saved["teacher_models"])
        self.unproductive = checkpoint["unproductive"]
        self.next_index = checkpoint["next_index"]
        self.next_position = checkpoint.get("next_position", 0)
        if stats.kept < self.config.num_instructions:  # a finished run uses no answer: its pool is not needed
            with open(self.store.root / KEPT, encoding="utf-8") as kept:  # streamed: 52K records with neighbours
                self.index.extend(json.loads(line)["instruction"] for line in kept)

    def checkpoint(self) -> None:
        """Record the state after the answers used so far, with the derived files made durable."""
        stats = self.stats
        saved = {name: getattr(stats, name) for name in _PROCESSING_COUNTS}
        saved |= {"rejected": dict(stats.rejected), "teacher_models": dict(stats.teacher_models)}
        state = {"next_index": self.next_index, "next_position": self.next_position, "unproductive": self.unproductive}
        self.store.write_checkpoint({**state, "stats": saved})

    def process(self, request_index: int, response: TeacherResponse) -> None:
        """Use answer `request_index` (which must be `next_index`) from `next_position` on, until the target."""
        stats, config = self.stats, self.config
        start = self.next_position if request_index == self.next_index else 0
        if start == 0:  # an answer cut short was counted when it was started
            stats.answers += 1
            stats.prompt_tokens += response.prompt_tokens
            stats.completion_tokens += response.completion_tokens
            stats.teacher_models[response.model] += 1
        productive = start > 0  # an answer is only ever cut short after it kept something
        items = parse_answer(response.text, response.finish_reason)
        for position in range(start, len(items)):
            if stats.kept >= config.num_instructions:
                self.next_index, self.next_position = request_index, position
                self.unproductive = 0
                self.store.sync()
                return
            productive |= self._use(items[position], request_index, position, response.model)
        self.unproductive = 0 if productive else self.unproductive + 1
        self.next_index, self.next_position = request_index + 1, 0
        self.store.sync()

    def _use(self, item: ParsedItem, request_index: int, position: int, model: str) -> bool:
        """Filter one parsed candidate and check its novelty; True when it is kept."""
        stats, config = self.stats, self.config
        stats.candidates += 1
        where = {"request_index": request_index, "position": position}
        example = item.example
        reason = item.reason or check_example(example, config.filters)
        if reason is not None:
            self._reject(reason, item.raw, where, example.to_dict() if example else {})
            return False
        novelty = self.index.add_if_novel(example.instruction, config.top_k_similar)
        similar = [{"instruction": text, "score": score} for text, score in novelty.most_similar]
        annotated = {**example.to_dict(), "max_rouge_l": novelty.max_score, "most_similar_instructions": similar}
        if not novelty.is_novel:
            self._reject(NEAR_DUPLICATE, item.raw, where, annotated)
            return False
        stats.kept += 1
        stats.added += 1
        provenance = {"teacher_model": model, "prompt_version": PROMPT_VERSION}
        self.store.append(KEPT, {**annotated, **where, **provenance})
        return True

    def check_stall(self) -> None:
        if self.unproductive >= self.config.stall_requests:
            raise PipelineError(
                f"the last {self.unproductive} answers kept nothing: the teacher's output is not usable "
                f"(see the reasons in {self.store.root / REJECTED})"
            )

    def _reject(self, reason: str, raw: str, where: dict[str, int], fields: dict[str, Any]) -> None:
        self.stats.rejected[reason] += 1
        self.store.append(REJECTED, {"reason": reason, **where, **fields, "raw": raw})

"""Answers into records, strictly in request order: parse, filter, check novelty, journal, and count.

A `Processor` is the state of one run between answers (counts, the novelty pool, the next request to use), so
`generate` and the flows' batch tasks process answers the same way and checkpoint the same state.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.core.errors import PipelineError
from pipeline.core.records import SeedTask, TeacherResponse
from pipeline.core.runfiles import KEPT, REJECTED
from pipeline.generation.dedup import RougeIndex
from pipeline.generation.filters import check_example
from pipeline.generation.parse import parse_answer
from pipeline.generation.prompts import PROMPT_VERSION, BootstrapPrompt, prompt_for_request
from pipeline.generation.store import RunStore
from pipeline.teacher.client import TeacherConfig
from pipeline.teacher.cost import cost_usd

if TYPE_CHECKING:
    from pipeline.generation.config import GenerateConfig

NEAR_DUPLICATE = "near_duplicate"
_PROCESSING_COUNTS = ("answers", "candidates", "kept", "prompt_tokens", "completion_tokens")  # in checkpoints


@dataclass(slots=True)
class GenerateStats:
    """Counts of a run, written to stats.json after every answer."""

    answers: int = 0  # answers processed, in request order
    candidates: int = 0
    kept: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0  # of the answers processed
    completion_tokens: int = 0
    cost_usd: float | None = None  # of every answer paid for in any session of this run; None: no price known
    paid_requests: int = 0  # answers that came from the network, in any session
    new_requests: int = 0  # answers fetched in this session (network or cache)
    cache_hits: int = 0  # of those, served by the response cache
    retries: int = 0
    teacher_models: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    processing_s: float = 0.0  # time spent parsing, filtering, checking novelty and journaling, not waiting
    stopped: str = ""  # "target", "max_cost", "max_requests"

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
    """State of one run while answers are processed in request order."""

    def __init__(
        self,
        config: GenerateConfig,
        teacher_config: TeacherConfig,
        seeds: Sequence[SeedTask],
        store: RunStore,
        prices: dict[str, tuple[float, float]],
    ) -> None:
        self.config = config
        self.teacher_config = teacher_config
        self.seeds = seeds
        self.store = store
        self.prices = prices
        self.stats = GenerateStats()
        self.index = RougeIndex(config.rouge_threshold, config.tokenizer)
        self.index.extend(seed.instruction for seed in seeds)  # a task too close to a seed is not new
        self.unproductive = 0
        self.next_index = 0  # the first request whose answer is not processed yet
        self.cut_short = False  # the last answer was only partly used because the target was reached

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from a checkpoint: counts as they were, and the pool rebuilt from the kept examples."""
        saved = checkpoint["stats"]
        stats = self.stats
        for name in _PROCESSING_COUNTS:
            setattr(stats, name, saved[name])
        stats.rejected = Counter(saved["rejected"])
        stats.teacher_models = Counter(saved["teacher_models"])
        self.unproductive = checkpoint["unproductive"]
        self.next_index = checkpoint["next_index"]
        with open(self.store.root / KEPT, encoding="utf-8") as kept:  # streamed: 52K records with neighbours
            self.index.extend(json.loads(line)["instruction"] for line in kept)

    def checkpoint(self) -> None:
        """Record the state after the answers before `next_index` (only at a whole-answer boundary)."""
        if self.cut_short:
            return
        stats = self.stats
        saved = {name: getattr(stats, name) for name in _PROCESSING_COUNTS}
        saved |= {"rejected": dict(stats.rejected), "teacher_models": dict(stats.teacher_models)}
        self.store.write_checkpoint({"next_index": self.next_index, "unproductive": self.unproductive, "stats": saved})

    def prompt(self, request_index: int) -> BootstrapPrompt:
        config = self.config
        return prompt_for_request(
            self.seeds, config.run_seed, request_index, config.num_demonstrations, config.tasks_per_request
        )

    def absorb(self, records: Iterable[dict[str, Any]], answers: dict[int, TeacherResponse], seen: set[int]) -> int:
        """Take journaled answers: charge each once, and keep in `answers` those not processed yet."""
        count = 0
        for record in records:
            index = record["request_index"]
            if index in seen:
                continue
            seen.add(index)
            count += 1
            fields = {name: value for name, value in record.items() if name != "request_index"}
            self.count_payment(TeacherResponse(**fields))  # as first received: paid unless it came from the cache
            if index >= self.next_index:
                answers[index] = TeacherResponse.from_dict(fields, cached=True)
        return count

    def check_stall(self) -> None:
        if self.unproductive >= self.config.stall_requests:
            raise PipelineError(
                f"the last {self.unproductive} answers kept nothing: the teacher's output is not usable "
                f"(see the reasons in {self.store.root / REJECTED})"
            )

    def count_payment(self, response: TeacherResponse) -> None:
        """Charge an answer that came from the network (in this session or an earlier one)."""
        if response.cached:
            return
        self.stats.paid_requests += 1
        cost = cost_usd(self.prices, self.teacher_config.model, response.prompt_tokens, response.completion_tokens)
        if cost is not None:
            self.stats.cost_usd = (self.stats.cost_usd or 0.0) + cost

    def process(self, request_index: int, prompt: BootstrapPrompt, response: TeacherResponse) -> None:
        stats, config = self.stats, self.config
        stats.answers += 1
        stats.prompt_tokens += response.prompt_tokens
        stats.completion_tokens += response.completion_tokens
        stats.teacher_models[response.model] += 1
        kept_before = stats.kept
        items = parse_answer(response.text, response.finish_reason, prompt.first_index)
        for position, item in enumerate(items):
            if stats.kept >= config.num_instructions:
                self.cut_short = True
                break
            stats.candidates += 1
            where = {"request_index": request_index, "position": position}
            example = item.example
            reason = item.reason or check_example(example, config.filters)
            if reason is not None:
                self.reject(reason, item.raw, where, example.to_dict() if example else {})
                continue
            novelty = self.index.add_if_novel(example.instruction, config.top_k_similar)
            similar = [{"instruction": text, "score": score} for text, score in novelty.most_similar]
            annotated = {**example.to_dict(), "max_rouge_l": novelty.max_score, "most_similar_instructions": similar}
            if not novelty.is_novel:
                self.reject(NEAR_DUPLICATE, item.raw, where, annotated)
                continue
            stats.kept += 1
            provenance = {"teacher_model": response.model, "prompt_version": PROMPT_VERSION}
            self.store.append(KEPT, {**annotated, **where, **provenance})
        self.unproductive = 0 if stats.kept > kept_before else self.unproductive + 1
        self.next_index = request_index + 1
        self.store.sync()

    def reject(self, reason: str, raw: str, where: dict[str, int], fields: dict[str, Any]) -> None:
        self.stats.rejected[reason] += 1
        self.store.append(REJECTED, {"reason": reason, **where, **fields, "raw": raw})

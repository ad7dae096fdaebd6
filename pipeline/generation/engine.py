"""The one generation engine: a run folder, the answers not used yet, their use in request order, the stop rules
and every counter.

Drivers only decide which requests to fetch and when: the CLI keeps a sliding window of requests in flight
(`pipeline/generation/generate.py`), the flows fetch rounds of batch tasks into journal parts (`flows/alpaca.py`).
Whoever fetched them, answers are used strictly in request order, so a run folder, its counters and its result
are the same.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.core.errors import PipelineError
from pipeline.core.records import SeedTask, TeacherResponse
from pipeline.core.runfiles import CHECKPOINT, KEPT
from pipeline.generation.config import GenerateConfig
from pipeline.generation.processing import GenerateStats, Processor
from pipeline.generation.prompts import request_prompt
from pipeline.generation.provenance import build_manifest, pricing, project_from_run, run_identity
from pipeline.generation.store import RunStore
from pipeline.teacher.cost import cost_usd, require_price, worst_case_usd

if TYPE_CHECKING:  # the engine never talks to the teacher: it does not load the HTTP client
    from pipeline.teacher.client import TeacherConfig

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_S = 1.0  # how often the processing state and stats.json are written during a run
ASSUMED_TASKS_KEPT = 0.5  # share of a prompt's new tasks expected to be kept before any answer is used
SAFETY = 1.1  # ask for 10% more answers than the keep rate so far says the target needs


class Engine:
    """One generation run, opened (or continued) in `run_dir`; `close()` it when done."""

    def __init__(
        self,
        config: GenerateConfig,
        teacher: TeacherConfig,
        seed_path: Path,
        seeds: Sequence[SeedTask],
        run_dir: str | Path,
        prices: dict[str, tuple[float, float]] | None = None,
        price_factor: float = 1.0,  # 0.5 through the Batch API
    ) -> None:
        self.config = config
        self.teacher = teacher
        self.prices = prices or {}
        self.price_factor = price_factor
        self.seeds = seeds
        require_price(self.prices, teacher.model, config.max_cost_usd)  # before the folder is touched
        self._in_flight: set[int] = set()  # requests a driver has in flight: their worst case is reserved
        self._broken = False  # a write failed mid-answer: the state in memory is not what the files say
        self.store = RunStore(run_dir)
        manifest = build_manifest(config, teacher, Path(seed_path), seeds)
        manifest["pricing"] = self._pricing = pricing(self.prices, teacher.model)
        checkpoint = self.store.open(manifest, run_identity(config, teacher, manifest["seed_tasks"]["sha256"]))
        try:
            self._resume(checkpoint)
        except BaseException:
            self.store.close()  # release the folder's lock: nothing was used
            raise

    def _resume(self, checkpoint: dict[str, Any] | None) -> None:
        """Read the journal, then continue from the checkpoint when it agrees with it, else replay from the start.

        The derived files are cut back only after the whole journal was read: a damaged line stops the run with
        nothing changed.
        """
        config = self.config
        self._read_journal(checkpoint)
        if checkpoint is not None and (missing := self._unjournaled(checkpoint)) is not None:
            log.warning("%s says request %d was used, but the journal has no answer to it; replaying the journal",
                        self.store.root / CHECKPOINT, missing)  # fmt: skip
            checkpoint = None
            self._read_journal(None)
        self.store.start_derived(checkpoint)
        if checkpoint is not None:
            try:
                self.processor.restore(checkpoint)
            except (OSError, ValueError, KeyError, TypeError) as error:  # kept.jsonl damaged under the checkpoint
                log.warning("%s cannot be read back (%s); rebuilding it from the journal", self.store.root / KEPT,
                            error)  # fmt: skip
                self._read_journal(None)
                self.store.start_derived(None)
        self._started = self._checkpointed = time.perf_counter()
        if self.stats.kept < config.num_instructions and (self.processor.next_index or self._pending):
            log.info("continuing %s at request %d with %d examples kept; %d journaled answers to use first",
                     self.store.root, self.processor.next_index, self.stats.kept, len(self._pending))  # fmt: skip
        self.advance()

    def _read_journal(self, checkpoint: dict[str, Any] | None) -> None:
        """Fresh counters, and the journaled answers the run has not used yet (past the checkpoint, if any)."""
        self.stats = GenerateStats(pricing=self._pricing)
        if cost_usd(self.prices, self.teacher.model, 0, 0) is not None:  # a known price: nothing paid yet is $0
            self.stats.cost_usd = 0.0
        self.processor = Processor(self.config, self.seeds, self.store, self.stats)
        if checkpoint is not None:
            self.processor.next_index = checkpoint["next_index"]  # answers before it were used: not kept in memory
        self._pending: dict[int, TeacherResponse] = {}  # journaled answers not used yet
        self._seen: set[int] = set()
        self._part_offsets: dict[str, int] = {}
        for record in self.store.iter_responses():
            self._take(record, new=False)

    def _unjournaled(self, checkpoint: dict[str, Any]) -> int | None:
        """The first request the checkpoint counts as used that has no answer in the journal; None when it agrees."""
        for index in range(checkpoint["next_index"] + (checkpoint.get("next_position", 0) > 0)):
            if index not in self._seen:
                return index
        return None

    # Answers in

    def receive(self, request_index: int, response: TeacherResponse) -> None:
        """Journal an answer fetched in this process (durably, first) and count it."""
        record = {"request_index": request_index, **response.to_dict()}
        try:
            self.store.journal_response(record)
        except BaseException:
            self._broken = True  # the journal's torn line is cut at the next start; this state is not saved
            raise
        self._take(record, new=True)

    @property
    def context_max_tokens(self) -> int | None:
        """The max_tokens the teacher's context forced on this run in an earlier session (None: none forced)."""
        return self.store.context_max_tokens

    def note_context_max_tokens(self, max_tokens: int | None) -> None:
        """The teacher's context only fits answers of `max_tokens` tokens: recorded in the manifest for later
        sessions (each answer's own length is in the journal)."""
        if max_tokens is not None and max_tokens != self.store.context_max_tokens:
            self.store.note_context_max_tokens(max_tokens)

    def add_retries(self, retries: int, malformed: int = 0) -> None:
        """Count the teacher's retries, and the malformed answers among their causes, in this session's stats."""
        self.stats.retries += retries
        self.stats.malformed_answers += malformed

    def _take(self, record: dict[str, Any], new: bool) -> None:
        """Count a journaled answer once (paid, tokens, dollars) and keep it until it is used."""
        index = record["request_index"]
        self._in_flight.discard(index)  # arrived (from this process or a batch part): settled at its real cost
        if index in self._seen:  # a batch retried after part of it was journaled
            return
        self._seen.add(index)
        response = TeacherResponse(**{name: value for name, value in record.items() if name != "request_index"})
        stats = self.stats
        stats.received += 1
        if new:
            stats.new_requests += 1
            stats.cache_hits += response.cached
        if not response.cached:
            stats.paid_requests += 1
            stats.paid_prompt_tokens += response.prompt_tokens
            stats.paid_completion_tokens += response.completion_tokens
            cost = cost_usd(self.prices, self.teacher.model, response.prompt_tokens, response.completion_tokens)
            if cost is not None:
                stats.cost_usd = (stats.cost_usd or 0.0) + cost * self.price_factor
        if index >= self.processor.next_index:
            self._pending[index] = response

    # Using answers, and when to stop

    def advance(self) -> GenerateStats:
        """Use the answers that arrived (batch parts included), in request order up to the first gap; then apply
        the stop rules. Returns the stats, whose `stopped` says whether the run is over."""
        try:
            return self._advance()
        except PipelineError:
            raise  # a stop rule (the teacher stalled), between answers: the state is whole
        except BaseException:
            self._broken = True  # a failed write (a full disk) or an interrupt mid-answer: do not checkpoint it
            raise

    def _advance(self) -> GenerateStats:
        for record in self.store.read_parts(self._part_offsets):
            self._take(record, new=True)
        stats, processor, config = self.stats, self.processor, self.config
        started = time.perf_counter()
        while stats.kept < config.num_instructions and processor.next_index in self._pending:
            if time.perf_counter() - self._checkpointed >= CHECKPOINT_EVERY_S:  # a long replay checkpoints too
                self._checkpoint()
            index = processor.next_index
            processor.process(index, self._pending[index])
            if processor.next_index != index:  # wholly used; an answer cut short stays for an extension
                del self._pending[index]
            processor.check_stall()
        price = self.prices.get(self.teacher.model)
        stats.projected = project_from_run(
            config.num_instructions, stats.kept, stats.answers, stats.prompt_tokens, stats.completion_tokens, price
        )
        now = time.perf_counter()
        stats.processing_s += now - started
        stats.elapsed_s = now - self._started
        if stats.kept >= config.num_instructions:
            stats.stopped = "target"
        elif config.max_requests is not None and processor.next_index >= config.max_requests:
            stats.stopped = "max_requests"
        elif not self._in_flight and self._budget_left(()) < self._worst_cost(self._next_to_fetch(())):
            stats.stopped = "max_cost"  # the answers already paid for were used; the next might cross the budget
        if now - self._checkpointed >= CHECKPOINT_EVERY_S:
            self._checkpoint()
        return stats

    def _worst_cost(self, index: int) -> float:
        """The most request `index` can cost (0 without a budget): what is reserved while it is in flight."""
        if self.config.max_cost_usd is None:
            return 0.0
        prompt = request_prompt(self.seeds, self.config, index)
        chars = max(len(prompt.text), sum(len(message["content"]) for message in prompt.messages))
        return worst_case_usd(self.prices, self.teacher.model, chars, self.teacher.max_tokens)

    def _budget_left(self, busy: Collection[int]) -> float:
        """Dollars not spent and not reserved by the requests in flight; infinite without a budget."""
        if self.config.max_cost_usd is None:
            return math.inf
        reserved = sum(self._worst_cost(index) for index in busy)
        return self.config.max_cost_usd - (self.stats.cost_usd or 0.0) - reserved

    def _next_to_fetch(self, busy: Collection[int]) -> int:
        index = self.processor.next_index
        while index in self._pending or index in busy:
            index += 1
        return index

    def wanted(self, limit: int, busy: Collection[int] = (), probe_first: bool = True) -> list[int]:
        """The next requests to fetch, at most `limit`: those without an answer (and not `busy`, in flight) among
        as many as the target probably still needs, judged by the answers used so far (by the first answer, in
        a session that has none yet: its first request goes alone, unless `probe_first` is off, as in batches)."""
        stats, config, processor = self.stats, self.config, self.processor
        if probe_first and not stats.new_requests:  # the first request of a session goes alone: a bad key fails once
            limit = min(limit, 1 - len(busy))
        if stats.stopped or limit < 1:
            return []
        left = self._budget_left(busy)
        if stats.answers:
            per_answer = stats.kept / stats.answers
        else:
            per_answer = (config.tasks_per_request - config.num_demonstrations) * ASSUMED_TASKS_KEPT
        needed = math.ceil((config.num_instructions - stats.kept) / max(per_answer, 0.5) * SAFETY)
        end = processor.next_index + needed
        if config.max_requests is not None:
            end = min(end, config.max_requests)
        indices = []
        for index in range(processor.next_index, end):
            if index not in self._pending and index not in busy:
                if (worst := self._worst_cost(index)) > left:
                    break  # its worst case would cross the budget: wait for the answers in flight to settle
                left -= worst
                indices.append(index)
                if len(indices) == limit:
                    break
        if not indices and not busy and processor.next_index not in self._pending and left == math.inf:
            raise RuntimeError(f"no request to fetch, yet request {processor.next_index} has no answer")
        self._in_flight = set(busy) | set(indices)
        return indices

    # Saving

    def _checkpoint(self) -> None:
        self.processor.checkpoint()
        self.store.write_stats(self.stats.to_dict())
        self._checkpointed = time.perf_counter()

    def close(self) -> None:
        """Checkpoint, gather the batch parts into the journal, and write the final stats; after a failed write, only
        let go of the folder (the next start goes on from the last good checkpoint)."""
        self.stats.elapsed_s = time.perf_counter() - self._started
        try:
            if self._broken:
                return
            self.processor.checkpoint()
            if self.stats.stopped:  # no batch task of this run may still be writing a part
                self.store.fold_parts()
            self.store.write_stats(self.stats.to_dict())
        finally:
            self.store.close()

"""The scheduler: which requests run, decided again before every decode step (continuous batching).

It runs on the worker's generation thread, in a loop of: drop the cancelled, admit, step.

- **An idle worker** starts when MAX_BATCH_SIZE requests wait or BATCH_WAIT_MS after the first
  arrived (the service's own background work, which no one waits for, gathers longer:
  inbox.BACKGROUND_WAIT_S). A busy one admits arrivals at the next step: no one waits for the
  running batch.
- **Lanes.** Interactive requests take free rows first. When none is free, an interactive arrival
  takes the row of a bulk request that has run at least PREEMPT_MIN_STEPS steps; that request is
  parked with its tokens and cache and resumes exactly where it stopped when a row frees up
  (vLLM's preemption by swapping, in host memory). While bulk work waits, BULK_MIN_SHARE of the
  rows stay open to it, so a Batch API batch moves even under interactive saturation. While
  interactive requests keep coming (one in the last INTERACTIVE_RECENT_S), bulk work fills at most
  half the rows: the other half is free for the next arrival at once, and every step stays short.
  A batch alone gets every row.
- **Cancellation.** A revoked request (a DELETEd job, a stream whose client left) leaves the batch
  before the next step, and its row is free for the next arrival.
- **Failures.** A step that raises is retried with each of its rows alone, so only the culprit
  fails; a request that cannot be stored goes back to the broker.
- **Warm shutdown.** Once the inbox is stopped nothing is admitted; the running rows finish and
  are stored and acked. Waiting and parked requests stay unacked and return to the queue.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, deque
from typing import Any

from model_worker.engine import Engine
from model_worker.inbox import BULK, INTERACTIVE, Inbox, Pending
from model_worker.lifecycle import Lifecycle
from model_worker.sequence import Sequence
from tasks.errors import GenerationFailed

log = logging.getLogger(__name__)

#: A bulk row runs at least this many decode steps before an interactive request may take its
#: place: each resume costs a prefill, so a trickle of interactive requests cannot stall it.
PREEMPT_MIN_STEPS = 8
#: Bulk work fills at most half the rows while an interactive request came this recently.
INTERACTIVE_RECENT_S = 10.0
#: How often the per-step figures (batch sizes, preemptions) are sent to the metrics.
METRICS_EVERY_S = 1.0


class Scheduler:
    """Feeds the engine from the inbox, one step at a time."""

    def __init__(
        self, engine: Engine, lifecycle: Lifecycle, inbox: Inbox, wait_s: float, bulk_min_share: float = 0.0
    ) -> None:
        self.engine, self.lifecycle, self.inbox, self.wait_s = engine, lifecycle, inbox, wait_s
        rows = engine.max_rows
        self.bulk_reserve = min(rows, max(1, math.ceil(bulk_min_share * rows))) if bulk_min_share > 0 else 0
        self.bulk_cap_beside_interactive = max(self.bulk_reserve, rows // 2)
        self._interactive_at = -math.inf  # when an interactive request last waited or ran
        self.parked: deque[Sequence] = deque()  # out of the batch: preempted bulk rows, rows to run alone
        self._step_sizes: Counter[int] = Counter()
        self._preempted = 0
        self._flushed = time.monotonic()

    def run(self) -> None:
        """Serve until the inbox is stopped, then finish the rows already running."""
        while True:
            if (
                not self.engine.rows
                and not self.parked
                and not self.inbox.wait_for_work(self.engine.max_rows, self.wait_s)
            ):
                break
            try:
                if not self.tick() and self.inbox.stopped:
                    break
            except Exception:  # a bug, or Redis lost outside generation: give the work back, go on
                log.exception("scheduling failed; the running requests go back to the queue")
                self._give_back_all()
        self._flush_metrics(force=True)

    def tick(self) -> bool:
        """Drop what was cancelled, admit, and run one step; False when there was nothing to run."""
        self._drop_cancelled()
        if not self.inbox.stopped:
            self._admit()
        if not self.engine.rows:
            return False
        self._step()
        return True

    # Admission -----------------------------------------------------------------------------

    def _admit(self) -> None:
        engine = self.engine
        if any(seq.alone for seq in engine.rows):
            return  # a row suspected of failing a step runs by itself
        if self.parked and self.parked[0].alone:
            if not engine.rows:
                self._add([self.parked.popleft()])
            return
        self._admit_interactive()
        room = self._bulk_room()
        resumed = [self.parked.popleft() for _ in range(min(room, len(self.parked)))]
        self._add(resumed)
        if room > len(resumed):
            self._add_pending(self.inbox.take(BULK, room - len(resumed)), BULK)

    def _bulk_room(self) -> int:
        """Rows bulk work may take now: the free ones, or, beside recent interactive work, up to half."""
        now = time.monotonic()
        if self.inbox.waiting(INTERACTIVE) or any(seq.lane == INTERACTIVE for seq in self.engine.rows):
            self._interactive_at = now
        if now - self._interactive_at >= INTERACTIVE_RECENT_S:
            return self.engine.free
        bulk_rows = sum(seq.lane == BULK for seq in self.engine.rows)
        return max(0, min(self.engine.free, self.bulk_cap_beside_interactive - bulk_rows))

    def _admit_interactive(self) -> None:
        """Interactive arrivals take free rows, then preemptible bulk rows, up to their share."""
        waiting = self.inbox.waiting(INTERACTIVE)
        if not waiting:
            return
        bulk_rows = [seq for seq in self.engine.rows if seq.lane == BULK]
        bulk_demand = len(bulk_rows) + len(self.parked) + self.inbox.waiting(BULK)
        cap = self.engine.max_rows - min(self.bulk_reserve, bulk_demand)
        room = max(0, cap - (len(self.engine.rows) - len(bulk_rows)))  # interactive rows it may still add
        wanted = min(waiting, room)
        if wanted > self.engine.free:
            keep = min(self.bulk_reserve, bulk_demand)
            preemptible = sorted(
                (seq for seq in bulk_rows if seq.steps >= PREEMPT_MIN_STEPS), key=lambda seq: seq.computed
            )
            for seq in preemptible[: min(wanted - self.engine.free, len(bulk_rows) - keep)]:
                self.engine.remove(seq, keep=True)
                self.parked.appendleft(seq)
                self._preempted += 1
        self._add_pending(self.inbox.take(INTERACTIVE, min(wanted, self.engine.free)), INTERACTIVE)

    def _add_pending(self, pending: list[Pending], lane: int) -> None:
        if not pending:
            return
        requests = [p.item for p in pending]
        try:
            seqs = self.lifecycle.admit(requests, len(self.engine.rows) + len(requests))
        except Exception:  # Redis away, say: nothing was claimed for sure; let the broker keep them
            log.exception("could not admit %d requests; they go back to the queue", len(requests))
            for request in requests:
                self.lifecycle.requeue(request)
            return
        for seq in seqs:
            seq.lane = lane
        self._add(seqs)

    def _add(self, seqs: list[Sequence]) -> None:
        for seq in seqs:
            self.engine.add(seq)

    # Running -------------------------------------------------------------------------------

    def _drop_cancelled(self) -> None:
        for seq in [seq for seq in self.engine.rows if self.lifecycle.cancelled(seq)]:
            self.engine.remove(seq)
            self.lifecycle.cancel(seq)
        for seq in [seq for seq in self.parked if self.lifecycle.cancelled(seq)]:
            self.parked.remove(seq)
            self.lifecycle.cancel(seq)

    def _step(self) -> None:
        rows = len(self.engine.rows)
        started = time.monotonic()
        try:
            step = self.engine.step()
        except Exception as exc:
            self._isolate(exc)
            return
        ran_s = time.monotonic() - started
        self._step_sizes[rows] += 1
        self.lifecycle.publish(step.deltas)
        self.lifecycle.finish([(seq.key, outcome) for seq, outcome in step.finished])
        self._flush_metrics(force=not self.engine.rows)  # and at once when the worker goes idle
        if step.background and self.engine.rows:
            # The service's own work alone on the CPU (cache verifications) takes at most half a
            # core: it rests as long as it ran, unless an interactive request arrives (the API
            # answering cache hits shares these cores; README: "Verified hits").
            self.inbox.wait_for(INTERACTIVE, ran_s)

    def _isolate(self, exc: Exception) -> None:
        """A step failed: run each of its rows alone; a row that fails alone fails for good."""
        rows = list(self.engine.rows)
        for seq in rows:
            self.engine.remove(seq, keep=len(rows) > 1)
        if len(rows) == 1:
            log.exception("generation failed for one request")
            failure = GenerationFailed(f"generation failed: {type(exc).__name__}: {exc}")
            self.lifecycle.finish([(rows[0].key, failure)])
            return
        log.warning("a step of %d rows failed (%s); running each alone", len(rows), exc)
        for seq in reversed(rows):
            seq.alone = True
            self.parked.appendleft(seq)

    def _give_back_all(self) -> None:
        seqs = [*self.engine.rows, *self.parked]
        for seq in list(self.engine.rows):
            self.engine.remove(seq)
        self.parked.clear()
        self.lifecycle.give_back(seqs)

    def _flush_metrics(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._flushed < METRICS_EVERY_S:
            return
        if self._step_sizes or self._preempted:
            self.lifecycle.record_steps(dict(self._step_sizes), self._preempted)
        self._step_sizes.clear()
        self._preempted = 0
        self._flushed = time.monotonic()

    def state(self) -> dict[str, Any]:
        """What is running and waiting (for logs and tests)."""
        lanes = Counter(seq.lane for seq in self.engine.rows)
        return {
            "rows": len(self.engine.rows),
            "interactive_rows": lanes[INTERACTIVE],
            "bulk_rows": lanes[BULK],
            "parked": len(self.parked),
        }

"""A request's life around generation: skip, claim, stream, store, ack; Celery's side of the engine.

Runs on the generation thread. Broker work (task events, acks, worker bookkeeping) goes through
LoopCalls to the event loop thread; results, job records and streams use this thread's own Redis
clients. A message is acked only after its own result or failure is stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from celery.utils.time import maybe_make_aware
from celery.worker.state import revoked as revoked_ids
from celery.worker.state import task_accepted, task_ready

from model_worker.consumer import LoopCalls, connection_lost, lane_of
from model_worker.engine import Engine
from model_worker.inbox import LANE_NAMES
from model_worker.sequence import Completion, Sequence
from model_worker.stream_writer import StreamPublisher
from tasks import metrics
from tasks.contract import GenerationRequest, Limits
from tasks.errors import InferenceError, error_from_exception
from tasks.job_record import CANCELLED, DONE, JobStore

log = logging.getLogger(__name__)


class Lifecycle:
    """Turns Celery Requests into sequences for the engine, and the engine's outcomes into stored results."""

    def __init__(
        self,
        engine: Engine,
        jobs: JobStore,
        limits: Limits,
        streams: StreamPublisher,
        loop: LoopCalls,
        requeue: Callable[[Any], None],
        model: str,
    ) -> None:
        self.engine, self.jobs, self.limits, self.streams, self.loop = engine, jobs, limits, streams, loop
        self.requeue = requeue
        self.metrics = metrics.Recorder(jobs.redis, model=model)  # every figure broken down by model
        #: job id -> (submitted, started: time.time(); started: time.monotonic()) of running requests
        self._started: dict[str, tuple[float | None, float, float]] = {}

    def admit(self, requests: list[Any], batch_size: int) -> list[Sequence]:
        """Sequences for the requests that should run; the others are skipped, failed or acked here.

        `batch_size`: the rows the batch will hold once these join (kept on each job record).
        """
        live = [req for req in requests if not self._skipped_as_revoked(req)]
        if not live:
            return []
        claims = self.jobs.claim([req.id for req in live], [batch_size] * len(live), live[0].hostname)
        seqs: list[Sequence] = []
        for req, (before, submitted) in zip(live, claims, strict=True):
            if before == CANCELLED:
                self._revoke(req, "cancelled", expired=False)
                continue
            if before == DONE:  # redelivered after its result was stored: nothing to redo
                self.loop.call(_ack_ready, req)
                continue
            self.loop.call(_start, req)
            self._started[req.id] = (submitted, time.time(), time.monotonic())
            try:
                request = GenerationRequest.from_json(req.kwargs.get("request"), self.limits)
                seq = self.engine.prepare(request, key=req, stream=req.kwargs.get("stream") is True)
                seq.background = req.kwargs.get("background") is True
                seqs.append(seq)
            except InferenceError as exc:  # a bad message, a prompt too long: it fails alone
                self.finish([(req, exc)])
        return seqs

    def publish(self, deltas: list[tuple[Sequence, int, str]]) -> None:
        """Append streamed text to the jobs' streams (one round trip).

        If Redis fails, those sequences stop streaming: their text arrives whole with the result.
        """
        if not deltas:
            return
        try:
            self.streams.publish((seq.key.id, offset, text) for seq, offset, text in deltas)
        except Exception:
            log.exception("streaming failed; these answers arrive whole")
            for seq, _, _ in deltas:
                seq.stream = False

    def finish(self, outcomes: list[tuple[Any, Completion | InferenceError]]) -> None:
        """Store each request's result or failure, then ack it: never ack before storing."""
        if not outcomes:
            return
        now = time.monotonic()
        inference_ms = {req.id: (now - self._started.get(req.id, (None, 0.0, now))[2]) * 1000 for req, _ in outcomes}
        try:
            self.jobs.record_timings(inference_ms)
            for req, outcome in outcomes:
                if isinstance(outcome, Completion):
                    req.task.backend.mark_as_done(req.id, outcome.to_json())
                else:
                    req.task.backend.mark_as_failure(req.id, outcome)
            self.jobs.mark_done([req.id for req, _ in outcomes])
        except Exception:
            log.exception("could not store %d results; their messages go back to the queue", len(outcomes))
            for req, _ in outcomes:
                self._started.pop(req.id, None)
                self.requeue(req)
            return
        self._end_streams([req for req, _ in outcomes])
        for req, outcome in outcomes:
            self.loop.call(_finished, req, outcome)
        self._record(outcomes, inference_ms)

    def cancelled(self, seq: Sequence) -> bool:
        """The request was revoked (DELETE of a running job, or a stream's client went away)."""
        return seq.key.id in revoked_ids

    def cancel(self, seq: Sequence) -> None:
        """Store a running request as revoked and ack it; its row has left the batch."""
        self._started.pop(seq.key.id, None)
        self._revoke(seq.key, "revoked", expired=False)
        self._end_streams([seq.key])

    def give_back(self, seqs: list[Sequence]) -> None:
        """Return requests that cannot run now to the broker (generation failed outside the model)."""
        for seq in seqs:
            self._started.pop(seq.key.id, None)
            self.requeue(seq.key)

    def record_steps(self, rows: dict[int, int], preempted: int) -> None:
        """Batch sizes seen per step since the last call ({rows: steps}), and preemptions."""
        with self.metrics.pipeline() as rec:
            for size, steps in rows.items():
                rec.observe(metrics.BATCH_SIZE, size, count=steps)
            if preempted:
                rec.add(metrics.PREEMPTIONS, preempted)

    def _record(self, outcomes: list[tuple[Any, Completion | InferenceError]], inference_ms: dict[str, float]) -> None:
        """Per-request figures for /metrics (never fails a request)."""
        with self.metrics.pipeline() as rec:
            for req, outcome in outcomes:
                submitted, started_at, _ = self._started.pop(req.id, (None, None, None))
                if not isinstance(outcome, Completion):
                    rec.add(metrics.REQUEST_OUTCOMES, finished_reason="error")
                    continue
                lane = LANE_NAMES[lane_of(req)]
                inference_s = inference_ms[req.id] / 1000
                rec.add(metrics.REQUEST_OUTCOMES, finished_reason=outcome.finish_reason)
                rec.add(metrics.GENERATION_TOKENS, outcome.completion_tokens, lane=lane)
                rec.add(metrics.PROMPT_TOKENS, outcome.prompt_tokens, lane=lane)
                rec.observe(metrics.INFERENCE_TIME, inference_s, lane=lane)
                rec.observe(metrics.TIME_PER_OUTPUT_TOKEN, inference_s / max(outcome.completion_tokens, 1), lane=lane)
                if submitted is not None and started_at is not None:
                    rec.observe(metrics.QUEUE_TIME, max(started_at - submitted, 0), lane=lane)
                    rec.observe(metrics.E2E_LATENCY, max(time.time() - submitted, 0), lane=lane)

    def _skipped_as_revoked(self, req: Any) -> bool:
        expired = req.expires is not None and maybe_make_aware(req.expires) < datetime.now(UTC)
        if expired or req.id in revoked_ids:
            self._revoke(req, "expired" if expired else "revoked", expired=expired)
            return True
        return False

    def _revoke(self, req: Any, reason: str, expired: bool) -> None:
        req.task.backend.mark_as_revoked(req.id, reason)
        self.jobs.mark_done([req.id])
        self.loop.call(_revoked, req, expired)

    def _end_streams(self, requests: list[Any]) -> None:
        try:
            self.streams.end(req.id for req in requests if req.kwargs.get("stream") is True)
        except Exception:  # a reader also looks at the job itself every second: it still finishes
            log.exception("could not mark streams finished")


# Event-loop side: Celery's worker bookkeeping, task events and acks.


def _start(req: Any) -> None:
    req.time_start = time.time()
    task_accepted(req)
    req.send_event("task-started")


def _finished(req: Any, outcome: Completion | InferenceError) -> None:
    runtime = time.time() - (req.time_start or time.time())
    if isinstance(outcome, Completion):
        req.send_event("task-succeeded", result=repr(outcome.text[:200]), runtime=runtime)
    else:
        error = error_from_exception(outcome)
        req.send_event("task-failed", exception=f"{error['type']}: {error['message']}", traceback="")
    _ack_ready(req, isinstance(outcome, Completion))


def _revoked(req: Any, expired: bool) -> None:
    req.send_event("task-revoked", terminated=False, signum=None, expired=expired)
    _ack_ready(req)


def _ack_ready(req: Any, successful: bool = False) -> None:
    task_ready(req, successful)
    if connection_lost(req):
        # Its connection was lost since it arrived: an ack cannot reach the broker any more.
        # The message returns after the visibility timeout, and its stored result is reused.
        log.warning("not acking %s: its broker connection is gone", req.id)
        return
    if not req.acknowledged:
        req.acknowledge()

"""What happens to one flushed batch: skip, claim, generate, store each result, then ack.

Runs on the batch thread. Broker work (task events, acks, worker bookkeeping) goes through
LoopCalls to the event loop thread; result storage and job records use this thread's own Redis
clients. A message is acked only after its own result or failure is stored.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from celery.utils.time import maybe_make_aware
from celery.worker.state import revoked as revoked_ids
from celery.worker.state import task_accepted, task_ready

from model_worker.consumer import LoopCalls, connection_lost, is_bulk, requeue
from model_worker.runner import Completion, ModelRunner, Preempted, TextDelta
from model_worker.streaming import StreamPublisher
from tasks import metrics
from tasks.contract import GenerationRequest, Limits
from tasks.errors import InferenceError, error_from_exception
from tasks.jobs import CANCELLED, DONE, JobStore

log = logging.getLogger(__name__)


class BatchProcessor:
    """Turns a list of Celery Requests into stored results."""

    def __init__(self, runner: ModelRunner, jobs: JobStore, limits: Limits, streams: StreamPublisher) -> None:
        self.runner, self.jobs, self.limits, self.streams = runner, jobs, limits, streams
        self.metrics = metrics.Recorder(jobs.redis)

    def __call__(self, batch: list[Any], loop: LoopCalls, preempt: Callable[[], bool] | None = None) -> None:
        """Process one flushed batch of Requests; `preempt` may stop it for more urgent work."""
        live = [req for req in batch if not self._skipped_as_revoked(req, loop)]
        if not live:
            return
        parsed = [self._parse(req) for req in live]
        group_size = Counter(p.sampling_key() for p in parsed if isinstance(p, GenerationRequest))
        sizes = [group_size[p.sampling_key()] if isinstance(p, GenerationRequest) else 1 for p in parsed]
        runnable: list[tuple[Any, GenerationRequest | InferenceError]] = []
        claims = self.jobs.claim([req.id for req in live], sizes, live[0].hostname)
        for req, request, before in zip(live, parsed, claims, strict=True):
            if before == CANCELLED:
                self._revoke(req, loop, "cancelled", expired=False)
            elif before == DONE:  # redelivered after its result was stored: nothing to redo
                loop.call(_ack_ready, req)
            else:
                runnable.append((req, request))
                loop.call(_start, req)
        generating = [(req, r) for req, r in runnable if isinstance(r, GenerationRequest)]
        requests = [r for _, r in generating]
        streamed = {i: req.id for i, (req, _) in enumerate(generating) if _streamed(req)}

        def on_text(deltas: list[TextDelta]) -> None:
            self.streams.publish((streamed[i], offset, text) for i, offset, text in deltas)

        partials = self.jobs.partials([req.id for req, _ in generating])
        resume = {i: tokens for i, tokens in enumerate(partials) if tokens}
        delivered: dict[int, float] = {}  # request index -> its inference ms, for results stored early
        started_at, started = time.time(), time.monotonic()

        def on_done(i: int, completion: Completion) -> None:
            """Store a request's result as soon as its row finishes; longer rows go on."""
            if i not in delivered:
                inference_ms = (time.monotonic() - started) * 1000
                self._store([generating[i]], [completion], inference_ms, loop)
                delivered[i] = inference_ms

        outcomes_of_generated = (
            self.runner.generate(requests, streamed, on_text, resume, preempt, on_done) if requests else []
        )
        inference_ms = (time.monotonic() - started) * 1000
        completions = iter(outcomes_of_generated)
        outcomes = [next(completions) if isinstance(r, GenerationRequest) else r for _, r in runnable]
        preempted = [(req, o) for (req, _), o in zip(runnable, outcomes, strict=True) if isinstance(o, Preempted)]
        for req, outcome in preempted:  # back to the queue, to go on where it stopped
            self.jobs.save_partial(req.id, outcome.token_ids)
            loop.call(requeue, req)
        position = {req.id: i for i, (req, _) in enumerate(generating)}
        finished = [(pair, o) for pair, o in zip(runnable, outcomes, strict=True) if not isinstance(o, Preempted)]
        late = [(pair, o) for pair, o in finished if position.get(pair[0].id) not in delivered]
        if late:
            self._store([pair for pair, _ in late], [o for _, o in late], inference_ms, loop)
        lane = "bulk" if is_bulk(live[0]) else "interactive"
        timed = [(req, o, delivered.get(position.get(req.id, -1), inference_ms)) for (req, _), o in finished]
        self._record(lane, timed, len(requests), len(preempted), started_at)
        log.info(
            "batch of %d done in %.0f ms (%d stored before the end, %d preempted)",
            len(requests),
            inference_ms,
            len(delivered),
            len(preempted),
        )

    def _record(
        self, lane: str, finished: list[tuple[Any, Any, float]], size: int, preempted: int, started_at: float
    ) -> None:
        """Batch and per-request figures for /metrics (never fails the batch).

        `finished`: (request, outcome, its inference ms) of each request that ended in this batch.
        """
        now = time.time()
        with self.metrics.batch() as rec:
            created = self.jobs.created_at([req.id for req, _, _ in finished])
            if size:
                rec.observe(metrics.BATCH_SIZE, size, lane=lane)
            if preempted:
                rec.add(metrics.PREEMPTIONS, preempted)
            for (_, outcome, inference_ms), submitted in zip(finished, created, strict=True):
                inference_s = inference_ms / 1000
                if not isinstance(outcome, Completion):
                    rec.add(metrics.REQUEST_OUTCOMES, finished_reason="error")
                    continue
                rec.add(metrics.REQUEST_OUTCOMES, finished_reason=outcome.finish_reason)
                rec.add(metrics.GENERATION_TOKENS, outcome.completion_tokens, lane=lane)
                rec.add(metrics.PROMPT_TOKENS, outcome.prompt_tokens, lane=lane)
                rec.observe(metrics.INFERENCE_TIME, inference_s, lane=lane)
                rec.observe(metrics.TIME_PER_OUTPUT_TOKEN, inference_s / max(outcome.completion_tokens, 1), lane=lane)
                if submitted is not None:
                    rec.observe(metrics.QUEUE_TIME, max(started_at - submitted, 0), lane=lane)
                    finished_at = started_at + inference_s
                    rec.observe(metrics.E2E_LATENCY, max(min(now, finished_at) - submitted, 0), lane=lane)

    def _parse(self, req: Any) -> GenerationRequest | InferenceError:
        try:
            return GenerationRequest.from_json(req.kwargs.get("request"), self.limits)
        except InferenceError as exc:
            return exc

    def _skipped_as_revoked(self, req: Any, loop: LoopCalls) -> bool:
        expired = req.expires is not None and maybe_make_aware(req.expires) < datetime.now(UTC)
        if expired or req.id in revoked_ids:
            self._revoke(req, loop, "expired" if expired else "revoked", expired=expired)
            return True
        return False

    def _revoke(self, req: Any, loop: LoopCalls, reason: str, expired: bool) -> None:
        req.task.backend.mark_as_revoked(req.id, reason)
        self.jobs.mark_done([req.id])
        loop.call(_revoked, req, expired)

    def _store(
        self,
        runnable: list[tuple[Any, Any]],
        outcomes: list[Any],
        inference_ms: float,
        loop: LoopCalls,
    ) -> None:
        """Store each request's own result or failure, then ack it: never ack before storing."""
        job_ids = [req.id for req, _ in runnable]
        self.jobs.record_timings(job_ids, inference_ms)
        for (req, _), outcome in zip(runnable, outcomes, strict=True):
            if isinstance(outcome, Completion):
                req.task.backend.mark_as_done(req.id, asdict(outcome))
            else:
                req.task.backend.mark_as_failure(req.id, outcome)
        self.jobs.mark_done(job_ids)
        try:
            self.streams.end(req.id for req, _ in runnable if _streamed(req))
        except Exception:  # a reader also looks at the job itself every second: it still finishes
            log.exception("could not mark streams finished")
        for (req, _), outcome in zip(runnable, outcomes, strict=True):
            loop.call(_finished, req, outcome)


def _streamed(req: Any) -> bool:
    return req.kwargs.get("stream") is True


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
    req.acknowledge()

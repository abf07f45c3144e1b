"""Submitting a request: answer it from the cache, follow an identical one, or enqueue it.

Three kinds of job record come out of here (tasks/job_record.py):

- a cache hit: done at once, its answer copied into the record;
- a follower (single flight): an identical request is generating; this job shows its outcome;
- a generated job: recorded, then published to the worker. If the cache may keep its answer,
  the record carries the cache keys, and the cache learner stores the answer when it ends.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import replace
from typing import Any, NamedTuple

from celery import Celery
from redis import Redis

from tasks import metrics
from tasks.contract import TASK_NAME, GenerationRequest, model_queues
from tasks.errors import InvalidRequest, Overloaded
from tasks.job_record import DONE, QUEUED, CacheHit, CacheKeys, JobRecord, JobStore
from webapi.cache import keys
from webapi.cache.semantic_cache import Probe, SemanticCache
from webapi.cache.verify import Verifier
from webapi.services.models import ModelRegistry
from webapi.services.tenant_jobs import TenantJobs

log = logging.getLogger(__name__)

CACHE_MODES = ("auto", "bypass", "refresh")
#: How long an identical request waits for its leader's message to be published before it gives
#: up on the leader (an API process that died in between) and generates its own answer.
PUBLISH_WAIT_S = 2.0


class Route(NamedTuple):
    """Where a job's message goes, and what the worker needs to know of it beyond the request:
    whether to stream its text, whose it is and how urgent (its draw order, model_worker/inbox.py),
    and whether it is the service's own background work (model_worker/engine.py: on one thread)."""

    model: str
    stream: bool
    queue: str
    interactive: bool
    tenant: str
    priority: int
    background: bool = False


def cache_mode(body: dict[str, Any]) -> str:
    """The request's `cache` field: how it may use the cache (default auto)."""
    mode = body.get("cache", "auto")
    if mode not in CACHE_MODES:
        raise InvalidRequest(f"cache must be one of {', '.join(CACHE_MODES)}", "cache", "invalid_value")
    return mode


def priority(body: dict[str, Any], most: int) -> int:
    """The request's `priority` field: 0 (the default) up to `most` (TENANT_MAX_PRIORITY)."""
    value = body.get("priority", 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= most:
        raise InvalidRequest(f"priority must be an integer from 0 to {most}", "priority", "invalid_value")
    return value


class Submitter:
    """Admission, the cache, single flight and publishing, for every request the API accepts."""

    def __init__(
        self,
        celery: Celery,
        redis: Redis,
        store: JobStore,
        models: ModelRegistry,
        cache: SemanticCache | None,
        max_queue_depth: int,
        tenant_jobs: TenantJobs,
    ) -> None:
        self.celery, self.redis, self.store, self.models, self.cache = celery, redis, store, models, cache
        self.max_queue_depth, self.tenant_jobs = max_queue_depth, tenant_jobs
        self.metrics = metrics.Recorder(redis)
        self.verifier: Verifier | None = None  # checks a sample of semantic hits (cache/verify.py)

    def submit(
        self,
        request: GenerationRequest,
        model: str,
        cache_mode: str = "auto",
        tenant: str = "",
        *,
        stream: bool = False,
        user: str | None = None,
        bulk: bool = False,
        priority: int = 0,
        background: bool = False,
    ) -> tuple[str, str]:
        """Answer from the cache or enqueue on `model`'s queues; returns the job id and the X-Cache verdict.

        `stream`: the worker publishes the text as it generates it (services/text_stream.py).
        `user`: the caller's end-user id (OpenAI's `user`), kept on the job record for audits.
        `bulk`: Batch API work, on the bulk queue; its driver bounds how much it queues, so the
        MAX_QUEUE_DEPTH backpressure and TENANT_MAX_JOBS are for interactive requests only.
        `priority`: the worker draws higher priorities first (checked against TENANT_MAX_PRIORITY by the route).
        `background`: the service's own work (a cache verification), which no one waits for.
        """
        queues = model_queues(model)
        queue = queues.bulk if bulk else queues.interactive
        route = Route(model, stream, queue, not bulk, tenant, priority, background)
        record = JobRecord(QUEUED, model, time.time(), tenant, user)
        job_id, verdict, lookup = self._submit(request, cache_mode, record, route)
        with self.metrics.pipeline() as rec:
            rec.add(metrics.CACHE_LOOKUPS, result=lookup)
        return job_id, verdict

    def answered(self, result: dict[str, Any], model: str, tenant: str) -> str:
        """Record a job the API process answered itself (a Batch API embeddings line); its id."""
        job_id = str(uuid.uuid4())
        now = time.time()
        self.store.create(job_id, JobRecord(DONE, model, now, tenant, finished_at=now, result=result))
        return job_id

    def _submit(
        self, request: GenerationRequest, cache_mode: str, record: JobRecord, route: Route
    ) -> tuple[str, str, str]:
        """(job id, X-Cache verdict, cache lookup result for the metrics)."""
        job_id = str(uuid.uuid4())
        if self.cache is None or cache_mode == "bypass" or not keys.cacheable(request):
            return self._enqueue(request, job_id, record, route), "BYPASS", "bypass"
        probe = self.cache.probe(request, route.model, record.tenant, read=cache_mode == "auto")
        if probe.hit is not None:
            hit = CacheHit(probe.hit.kind, probe.hit.source_id, probe.hit.similarity)
            answered = replace(record, state=DONE, finished_at=time.time(), hit=hit, result=probe.hit.result)
            self.store.create(job_id, answered)
            self._verify(request, route.model, record.tenant, probe)
            return job_id, "HIT", f"{probe.hit.kind}_hit"
        vector = probe.vector.tobytes() if probe.vector is not None else None
        pending = replace(record, cache=CacheKeys(probe.scope, probe.exact, probe.text, cache_mode, vector))
        lookup = "guard_refused" if probe.refused else "miss"
        if cache_mode != "auto":
            return self._enqueue(request, job_id, pending, route), "MISS", lookup
        # The record exists before the job can be anyone's leader, so a follower always finds it;
        # it is followed only once enqueued (tasks/job_record.py: a crash may come in between).
        self.store.create(job_id, pending)
        leader = self.cache.store.start_flight(probe.exact, job_id)
        if leader is not None and self._follow(leader):
            self.store.create(job_id, replace(record, follows=leader, hit=CacheHit("exact", leader)))
            return job_id, "HIT", "exact_hit"
        try:
            self._admit(route, job_id)  # a follower above is never refused: it adds no work
            return self._publish(request, job_id, route), "MISS", lookup
        except Exception:  # not enqueued: it must not lead anyone, nor leave a record behind
            self.store.delete(job_id)
            self.cache.store.end_flight(probe.exact, job_id)
            raise

    def _follow(self, leader: str) -> bool:
        """Follow the leader once its message is published (a leader published this very moment
        is waited for; one whose API process died before publishing never will be)."""
        deadline = time.monotonic() + PUBLISH_WAIT_S
        while (followed := self.store.follow(leader)) is None and time.monotonic() < deadline:
            time.sleep(0.002)
        return bool(followed)

    def _verify(self, request: GenerationRequest, model: str, tenant: str, probe: Probe) -> None:
        """Maybe start a verification of this hit; the hit is served whatever happens here."""
        if self.verifier is None or probe.hit is None:
            return
        try:
            self.verifier.consider(request, model, tenant, probe, probe.hit)
        except Exception as exc:
            log.warning("could not start a cache verification (%s)", exc)

    def _admit(self, route: Route, job_id: str) -> None:
        """Refuse a job no live worker would take (ServiceUnavailable), and an interactive one once
        MAX_QUEUE_DEPTH of its model's interactive jobs are waiting (Overloaded) or its tenant has
        TENANT_MAX_JOBS queued or running (RateLimited)."""
        self.models.require_worker(route.model)
        if not route.interactive:
            return
        depth = self.redis.llen(route.queue)
        if depth >= self.max_queue_depth:
            raise Overloaded(f"{depth} jobs are waiting, the limit is {self.max_queue_depth}; retry shortly")
        self.tenant_jobs.admit(route.tenant, job_id)

    def _enqueue(self, request: GenerationRequest, job_id: str, record: JobRecord, route: Route) -> str:
        """Admit, record and publish a job."""
        self._admit(route, job_id)
        self.store.create(job_id, record)
        return self._publish(request, job_id, route)

    def _publish(self, request: GenerationRequest, job_id: str, route: Route) -> str:
        """Send a recorded job's task; if that fails, forget the record."""
        try:
            kwargs = {"request": request.to_json(), "stream": route.stream, "tenant": route.tenant}
            if route.priority:
                kwargs["priority"] = route.priority
            if route.background:
                kwargs["background"] = True
            self.celery.send_task(TASK_NAME, kwargs=kwargs, task_id=job_id, queue=route.queue)
        except Exception:
            self.store.delete(job_id)  # never leave a record for a job that was not enqueued
            raise
        try:
            self.store.enqueued(job_id, kwargs, route.queue)
        except Exception as exc:  # it runs all the same; identical requests just do not follow it
            log.warning("could not mark job %s enqueued (%s)", job_id, exc)
        return job_id

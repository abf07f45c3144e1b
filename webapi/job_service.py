"""Submitting, describing, waiting for and cancelling jobs: what the views call.

A job is a job record (tasks/jobs.py) plus, once the worker has stored it, a result in Celery's
result backend. Three kinds of job record:

- a generated job: queued -> running -> done; its result is in the result backend;
- a cache hit: done at once, its result copied into the record;
- a follower (single flight): an identical request arrived while a job for it was generating;
  it shows that job's outcome instead of generating again.

A generated job that the cache may keep carries its cache keys until its result is first
learned (by a waiting request or a poll); whoever takes them first stores the answer, once.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from typing import Any, NamedTuple

import numpy as np
from celery import Celery, states
from redis import Redis

from tasks import metrics
from tasks.contract import BULK_QUEUE, QUEUE, TASK_NAME, WORKER_ALIVE_S, WORKERS_KEY, GenerationRequest
from tasks.errors import Conflict, InferenceError, InvalidRequest, NotFound, Overloaded, error_from_exception
from tasks.jobs import CANCELLED, DONE, FOLLOWED, QUEUED, RUNNING, JobStore
from webapi.cache import keys
from webapi.cache.semantic_cache import Probe, SemanticCache
from webapi.cache.verify import Verifier

log = logging.getLogger(__name__)

TERMINAL = {"succeeded", "failed", "cancelled"}
CACHE_MODES = ("auto", "bypass", "refresh")
#: A waiting request looks at its job this often even without news (cancellations publish nothing).
RECHECK_S = 5.0
#: How long DELETE of a running job waits for the worker to confirm it stopped.
CANCEL_WAIT_S = 5.0


class Route(NamedTuple):
    """Where a job's message goes and whether the worker streams its text."""

    stream: bool
    queue: str


def cache_mode(body: dict[str, Any]) -> str:
    """The request's `cache` field: how it may use the cache (default auto)."""
    mode = body.get("cache", "auto")
    if mode not in CACHE_MODES:
        raise InvalidRequest(f"cache must be one of {', '.join(CACHE_MODES)}", "cache", "invalid_value")
    return mode


class JobService:
    """The API's view of jobs, over Redis, the Celery app and the cache."""

    def __init__(
        self, celery: Celery, redis: Redis, model: str, ttl_s: int, cache: SemanticCache | None, max_queue_depth: int
    ) -> None:
        self.celery, self.redis, self.model, self.cache = celery, redis, model, cache
        self.max_queue_depth = max_queue_depth
        self.jobs = JobStore(redis, ttl_s)
        self.metrics = metrics.Recorder(redis)
        self.verifier: Verifier | None = None  # checks a sample of semantic hits (cache/verify.py)

    def submit(
        self,
        request: GenerationRequest,
        cache_mode: str = "auto",
        tenant: str = "",
        *,
        stream: bool = False,
        user: str | None = None,
        bulk: bool = False,
    ) -> tuple[str, str]:
        """Answer from the cache or enqueue; returns the job id and the X-Cache verdict.

        `stream`: the worker publishes the text as it generates it (see job_text in streaming.py).
        `user`: the caller's end-user id (OpenAI's `user`), kept on the job record for audits.
        `bulk`: Batch API work, on the bulk queue; its driver bounds how much it queues, so the
        MAX_QUEUE_DEPTH backpressure is for interactive requests only.
        """
        route = Route(stream, BULK_QUEUE if bulk else QUEUE)
        owner = {"tenant": tenant, **({"user": user} if user else {})}
        job_id, verdict, lookup = self._submit(request, cache_mode, tenant, owner, route)
        self._count_lookup(lookup)
        return job_id, verdict

    def _submit(
        self, request: GenerationRequest, cache_mode: str, tenant: str, owner: dict[str, str], route: Route
    ) -> tuple[str, str, str]:
        """(job id, X-Cache verdict, cache lookup result for the metrics)."""
        if self.cache is None or cache_mode == "bypass" or not keys.cacheable(request):
            return self._enqueue(request, str(uuid.uuid4()), owner, route), "BYPASS", "bypass"
        probe = self.cache.probe(request, tenant, read=cache_mode == "auto")
        job_id = str(uuid.uuid4())
        if probe.hit is not None:
            hit = probe.hit
            fields = {
                **owner,
                "state": DONE,
                "result": json.dumps(hit.result),
                "cache_kind": hit.kind,
                "cache_source": hit.source_id,
                "finished_at": repr(time.time()),
            }
            if hit.similarity is not None:
                fields["cache_similarity"] = repr(hit.similarity)
            self.jobs.create(job_id, self.model, **fields)
            if self.verifier is not None:
                self._verify(request, tenant, probe)
            return job_id, "HIT", f"{hit.kind}_hit"
        pending = {
            **owner,
            "cache_scope": probe.scope,
            "cache_exact": probe.exact,
            "cache_text": probe.text,
            "cache_mode": cache_mode,
        }
        if probe.vector is not None:
            pending["cache_vector"] = base64.b64encode(probe.vector.tobytes()).decode()
        lookup = "guard_refused" if probe.refused else "miss"
        if cache_mode != "auto":
            return self._enqueue(request, job_id, pending, route), "MISS", lookup
        # The record exists before the job can be anyone's leader, so a follower always finds it.
        self.jobs.create(job_id, self.model, **pending)
        leader = self.cache.store.start_flight(probe.exact, job_id)
        if leader is not None and self.jobs.follow(leader):
            self.jobs.delete(job_id)
            self.jobs.create(job_id, self.model, **owner, follows=leader, cache_kind="exact", cache_source=leader)
            return job_id, "HIT", "exact_hit"
        try:
            self._admit(route)  # a follower above is never refused: it adds no work
            return self._publish(request, job_id, route), "MISS", lookup
        except Exception:  # not enqueued: it must not lead anyone
            self.jobs.delete(job_id)
            self.cache.store.end_flight(probe.exact, job_id)
            raise

    def _verify(self, request: GenerationRequest, tenant: str, probe: Probe) -> None:
        """Maybe start a verification of this hit; the hit is served whatever happens here."""
        assert self.verifier is not None and probe.hit is not None
        try:
            self.verifier.consider(request, tenant, probe, probe.hit)
        except Exception as exc:
            log.warning("could not start a cache verification (%s)", exc)

    def _count_lookup(self, result: str) -> None:
        with self.metrics.batch() as rec:
            rec.add(metrics.CACHE_LOOKUPS, result=result)

    def _enqueue(self, request: GenerationRequest, job_id: str, fields: dict[str, str], route: Route) -> str:
        """Record and publish a job."""
        self._admit(route)
        self.jobs.create(job_id, self.model, **fields)
        return self._publish(request, job_id, route)

    def _admit(self, route: Route) -> None:
        """Refuse (Overloaded) once MAX_QUEUE_DEPTH interactive jobs are waiting."""
        depth = self.redis.llen(QUEUE) if route.queue == QUEUE else 0
        if depth >= self.max_queue_depth:
            raise Overloaded(f"{depth} jobs are waiting, the limit is {self.max_queue_depth}; retry shortly")

    def _publish(self, request: GenerationRequest, job_id: str, route: Route) -> str:
        """Send a recorded job's task; if that fails, forget the record."""
        try:
            kwargs = {"request": request.to_json(), "stream": route.stream}
            self.celery.send_task(TASK_NAME, kwargs=kwargs, task_id=job_id, queue=route.queue)
        except Exception:
            self.jobs.delete(job_id)  # never leave a record for a job that was not enqueued
            raise
        return job_id

    def describe(self, job_id: str, tenant: str | None = None) -> dict[str, Any]:
        """The job object; NotFound for ids never submitted, or another tenant's (None: any)."""
        record = self.jobs.get(job_id)
        if record is None or "created_at" not in record:  # none, or only what a worker wrote for a hand-sent task
            raise NotFound(f"no job with id {job_id!r}", "id")
        if tenant is not None and record.get("tenant", "") != tenant:
            raise NotFound(f"no job with id {job_id!r}", "id")
        if "follows" in record:
            job = self._follower(job_id, record)
        elif "result" in record:
            job = _job_object(job_id, record, {"status": states.SUCCESS, "result": json.loads(record["result"])})
        else:
            job = _job_object(job_id, record, self.celery.backend.get_task_meta(job_id))
            if job["status"] in TERMINAL and "cache_exact" in record:
                self._learn(job_id, record, job)
        job["cache"] = _cache_info(record)
        return job

    def _follower(self, job_id: str, record: dict[str, str]) -> dict[str, Any]:
        job = {**self.describe(record["follows"]), "id": job_id, "created_at": float(record["created_at"])}
        if record.get("state") == CANCELLED:
            job.update(status="cancelled", result=None, error=None)
        return job

    def _learn(self, job_id: str, record: dict[str, str], job: dict[str, Any]) -> None:
        """The first reader of a finished job stores its answer in the cache, once."""
        if self.cache is None or not self.jobs.take_field(job_id, "cache_exact"):
            return
        if job["status"] == "succeeded":  # failures are never cached
            vector = record.get("cache_vector")
            probe = Probe(
                record["cache_scope"],
                record["cache_exact"],
                record["cache_text"],
                np.frombuffer(base64.b64decode(vector), dtype=np.float32) if vector else None,
            )
            self.cache.store_result(probe, job["result"], job_id, replace=record.get("cache_mode") == "refresh")
        self.cache.store.end_flight(record["cache_exact"], job_id)

    def wait(self, job_id: str, timeout_s: float) -> dict[str, Any]:
        """The job object once it finishes, or as it stands after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        job = self.describe(job_id)
        if job["status"] in TERMINAL:
            return job
        source = self.source_of(job_id)
        # The Redis result backend publishes each stored result on the channel named by its key;
        # subscribe first, then look, so a result stored in between is not missed.
        with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            pubsub.subscribe(self.celery.backend.get_key_for_task(source))
            job = self.describe(job_id)
            while job["status"] not in TERMINAL and (remaining := deadline - time.monotonic()) > 0:
                # Woken by the result; a cancellation publishes nothing, so look again now and then.
                pubsub.get_message(timeout=min(remaining, RECHECK_S))
                job = self.describe(job_id)
        return job

    def source_of(self, job_id: str) -> str:
        """The job that generates this one's answer: itself, or the leader a follower waits on."""
        return (self.jobs.get(job_id) or {}).get("follows", job_id)

    def cancel(self, job_id: str, tenant: str) -> dict[str, Any]:
        """Cancel a job: a queued one at once, a running one within a decode step.

        Conflict once it has finished, or while identical requests wait for its answer (single
        flight). A running job whose worker has not confirmed within CANCEL_WAIT_S is returned
        as it stands (still running, its cancellation asked for).
        """
        self.describe(job_id, tenant)  # 404 for another tenant's job
        before = self.stop(job_id)
        if before == "":
            raise NotFound(f"no job with id {job_id!r}", "id")
        if before == DONE:
            raise Conflict(f"job {job_id} has already finished", "id")
        if before == FOLLOWED:
            raise Conflict(f"job {job_id} is also answering identical requests that wait for it; it will finish", "id")
        if before == RUNNING:
            job = self.wait(job_id, CANCEL_WAIT_S)
            if job["status"] in ("succeeded", "failed"):
                raise Conflict(f"job {job_id} finished before it could be cancelled", "id")
            return job
        return self.describe(job_id)

    def stop(self, job_id: str) -> str:
        """Cancel a queued job, or tell the workers to stop a running one; returns its state before.

        A running job's worker drops it before its next decode step (a Celery revoke), unless
        single-flight followers wait for its answer ("followed": it goes on).
        """
        before = self.jobs.cancel(job_id)
        if before == RUNNING:
            self.celery.control.revoke(job_id)
        return before

    def workers_alive(self) -> int:
        """Workers whose heartbeat is recent."""
        return int(self.redis.zcount(WORKERS_KEY, time.time() - WORKER_ALIVE_S, "+inf"))


def _job_object(job_id: str, record: dict[str, str], meta: dict[str, Any]) -> dict[str, Any]:
    status, result, error = _status(record, meta)
    created = float(record["created_at"])
    started, finished = _float(record.get("started_at")), _float(record.get("finished_at"))
    return {
        "id": job_id,
        "object": "job",
        "status": status,
        "model": record.get("model"),
        "created_at": created,
        "result": result,
        "error": error,
        "batch": {"size": int(record["batch_size"])} if "batch_size" in record else None,
        "worker": record.get("worker"),
        "attempts": int(record.get("attempts", 0)),
        "timings": {
            "queue_ms": _ms(started, created),
            "inference_ms": _float(record.get("inference_ms")),
            "total_ms": _ms(finished, created) if status in TERMINAL else None,
        },
    }


def _status(record: dict[str, str], meta: dict[str, Any]) -> tuple[str, Any, Any]:
    """(status, result, error) from the backend's state, else from the job record."""
    state, value = meta.get("status"), meta.get("result")
    if state == states.SUCCESS:
        return "succeeded", value, None
    if state == states.REVOKED:
        if str(value) == "expired":
            return "failed", None, {"type": "expired", "message": "the job expired before a worker reached it"}
        return "cancelled", None, None
    if state == states.FAILURE:
        exc = value if isinstance(value, BaseException) else InferenceError(str(value))
        return "failed", None, error_from_exception(exc)
    job_state = record.get("state")
    if job_state == CANCELLED:
        return "cancelled", None, None
    if job_state == DONE:  # the record outlived its result
        return "failed", None, {"type": "result_expired", "message": "the result has expired"}
    return (RUNNING if job_state == RUNNING else QUEUED), None, None


def _cache_info(record: dict[str, str]) -> dict[str, Any]:
    kind = record.get("cache_kind")
    return {
        "hit": kind is not None,
        "kind": kind,
        "similarity": _float(record.get("cache_similarity")),
        "source_id": record.get("cache_source"),
    }


def _float(value: str | None) -> float | None:
    return float(value) if value is not None else None


def _ms(end: float | None, start: float) -> float | None:
    return round((end - start) * 1000, 1) if end is not None else None

"""Submitting, describing, waiting for and cancelling jobs: what the views call.

A job is a job record (tasks/jobs.py) plus, once the worker has stored it, a result in Celery's
result backend. The job object clients see is assembled here from both.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from celery import Celery, states
from redis import Redis

from tasks.contract import QUEUE, TASK_NAME, WORKER_ALIVE_S, WORKERS_KEY, GenerationRequest
from tasks.errors import InferenceError, JobConflict, JobNotFound, error_from_exception
from tasks.jobs import CANCELLED, DONE, QUEUED, RUNNING, JobStore

TERMINAL = {"succeeded", "failed", "cancelled"}


class JobService:
    """The API's view of jobs, over Redis and the Celery app."""

    def __init__(self, celery: Celery, redis: Redis, model: str, ttl_s: int) -> None:
        self.celery, self.redis, self.model = celery, redis, model
        self.jobs = JobStore(redis, ttl_s)

    def submit(self, request: GenerationRequest) -> str:
        """Record and enqueue a request; return its job id."""
        job_id = str(uuid.uuid4())
        self.jobs.create(job_id, self.model)
        try:
            self.celery.send_task(TASK_NAME, kwargs={"request": request.to_json()}, task_id=job_id, queue=QUEUE)
        except Exception:
            self.jobs.delete(job_id)  # never leave a record for a job that was not enqueued
            raise
        return job_id

    def describe(self, job_id: str) -> dict[str, Any]:
        """The job object; JobNotFound for ids never submitted."""
        record = self.jobs.get(job_id)
        if record is None:
            raise JobNotFound(f"no job with id {job_id!r}", "id")
        meta = self.celery.backend.get_task_meta(job_id)
        return _job_object(job_id, record, meta)

    def wait(self, job_id: str, timeout_s: float) -> dict[str, Any]:
        """The job object once it finishes, or as it stands after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        # The Redis result backend publishes each stored result on the channel named by its key;
        # subscribe first, then look, so a result stored in between is not missed.
        with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            pubsub.subscribe(self.celery.backend.get_key_for_task(job_id))
            job = self.describe(job_id)
            while job["status"] not in TERMINAL and (remaining := deadline - time.monotonic()) > 0:
                pubsub.get_message(timeout=min(remaining, 1.0))  # woken by the result, or look again
                job = self.describe(job_id)
        return job

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a job that has not started; JobConflict once it has."""
        before = self.jobs.cancel(job_id)
        if before == "":
            raise JobNotFound(f"no job with id {job_id!r}", "id")
        if before in (RUNNING, DONE):
            raise JobConflict(f"job {job_id} has already {'started' if before == RUNNING else 'finished'}", "id")
        return self.describe(job_id)

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


def _float(value: str | None) -> float | None:
    return float(value) if value is not None else None


def _ms(end: float | None, start: float) -> float | None:
    return round((end - start) * 1000, 1) if end is not None else None

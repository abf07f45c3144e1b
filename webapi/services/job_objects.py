"""The job object the API shows: a job record and its result-backend entry, as one JSON document.

Pure functions, no I/O: what a client sees for each combination of record and result.
"""

from __future__ import annotations

from typing import Any

from celery import states

from tasks.errors import InferenceError, error_from_exception
from tasks.job_record import CANCELLED, DONE, RUNNING, JobRecord

#: Job statuses that do not change any more.
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
QUEUED_STATUS, RUNNING_STATUS = "queued", "running"


def job_object(job_id: str, record: JobRecord, meta: dict[str, Any]) -> dict[str, Any]:
    """The job as a client sees it; `meta` is the result backend's entry ({} when there is none)."""
    if record.result is not None:  # a cache hit: its answer was copied at submission
        meta = {"status": states.SUCCESS, "result": record.result}
    status, result, error = _status(record, meta)
    created = record.created_at or 0.0
    return {
        "id": job_id,
        "object": "job",
        "status": status,
        "model": record.model,
        "created_at": created,
        "result": result,
        "error": error,
        "batch": {"size": record.batch_size} if record.batch_size is not None else None,
        "worker": record.worker,
        "attempts": record.attempts,
        "timings": {
            "queue_ms": _ms(record.started_at, created),
            "inference_ms": record.inference_ms,
            "total_ms": _ms(record.finished_at, created) if status in TERMINAL else None,
        },
        "cache": cache_info(record),
    }


def cache_info(record: JobRecord) -> dict[str, Any]:
    """The job's `cache` member: whether (and how) it was answered from the cache."""
    hit = record.hit
    return {
        "hit": hit is not None,
        "kind": hit.kind if hit else None,
        "similarity": hit.similarity if hit else None,
        "source_id": hit.source if hit else None,
    }


def _status(record: JobRecord, meta: dict[str, Any]) -> tuple[str, Any, Any]:
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
    if record.state == CANCELLED:
        return "cancelled", None, None
    if record.state == DONE:  # the record outlived its result
        return "failed", None, {"type": "result_expired", "message": "the result has expired"}
    return (RUNNING_STATUS if record.state == RUNNING else QUEUED_STATUS), None, None


def _ms(end: float | None, start: float) -> float | None:
    return round((end - start) * 1000, 1) if end is not None else None

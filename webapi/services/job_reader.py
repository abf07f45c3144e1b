"""Reading jobs: the job object for an id, waiting for it to finish. Nothing here writes state.

A job is a job record (tasks/job_record.py) plus, once the worker has stored it, a result in
Celery's result backend. A follower (single flight) shows its leader's outcome.
"""

from __future__ import annotations

import time
from typing import Any

from celery import Celery, states
from redis import Redis

from tasks.contract import WORKER_ALIVE_S, WORKERS_KEY
from tasks.errors import NotFound
from tasks.job_record import CANCELLED, DONE, JobStore
from webapi.services.job_objects import TERMINAL, cache_info, job_object

#: A waiting request looks at its job this often even without news (cancellations publish nothing).
RECHECK_S = 5.0
#: How long a finished synchronous request waits, at most, for the cache learner to store its answer.
LEARN_WAIT_S = 1.0


class JobReader:
    """Job objects from the records and the result backend."""

    def __init__(self, celery: Celery, redis: Redis, store: JobStore) -> None:
        self.celery, self.redis, self.store = celery, redis, store

    def describe(self, job_id: str, tenant: str | None = None) -> dict[str, Any]:
        """The job object; NotFound for ids never submitted, or another tenant's (None: any)."""
        record = self.store.get(job_id)
        # None, or only what a worker wrote for a hand-sent task: never submitted here.
        if record is None or record.created_at is None or (tenant is not None and record.tenant != tenant):
            raise NotFound(f"no job with id {job_id!r}", "id")
        if record.follows is not None:
            job = {**self.describe(record.follows), "id": job_id, "created_at": record.created_at}
            if record.state == CANCELLED:
                job.update(status="cancelled", result=None, error=None)
            job["cache"] = cache_info(record)
            return job
        if record.result is not None:  # a cache hit: its answer was copied at submission
            return job_object(job_id, record, {})
        meta = self.celery.backend.get_task_meta(job_id)
        if meta.get("status") in states.READY_STATES and record.state != DONE:
            # It ended between the two reads. A worker writes a job's start and timings before its
            # result, so the record read again is as new as the result ("succeeded" has a start).
            record = self.store.get(job_id) or record
        return job_object(job_id, record, meta)

    def wait(self, job_id: str, timeout_s: float) -> dict[str, Any]:
        """The job object once it finishes, or as it stands after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        job = self.describe(job_id)
        if job["status"] in TERMINAL:
            return job
        # The Redis result backend publishes each stored result on the channel named by its key;
        # subscribe first, then look, so a result stored in between is not missed.
        with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            pubsub.subscribe(self.celery.backend.get_key_for_task(self.source_of(job_id)))
            job = self.describe(job_id)
            while job["status"] not in TERMINAL and (remaining := deadline - time.monotonic()) > 0:
                # Woken by the result; a cancellation publishes nothing, so look again now and then.
                pubsub.get_message(timeout=min(remaining, RECHECK_S))
                job = self.describe(job_id)
        if job["status"] == "succeeded":
            self._until_learned(job_id)
        return job

    def _until_learned(self, job_id: str) -> None:
        """Wait (briefly) until the learner has cached this job's answer, so the caller's next
        identical request is a hit: read-your-writes, as when the answer was cached before replying."""
        deadline = time.monotonic() + LEARN_WAIT_S
        while self.store.has_cache_keys(job_id) and time.monotonic() < deadline:
            time.sleep(0.002)

    def source_of(self, job_id: str) -> str:
        """The job that generates this one's answer: itself, or the leader a follower waits on."""
        record = self.store.get(job_id)
        return record.follows if record is not None and record.follows is not None else job_id

    def workers_alive(self) -> int:
        """Workers whose heartbeat is recent."""
        return int(self.redis.zcount(WORKERS_KEY, time.time() - WORKER_ALIVE_S, "+inf"))

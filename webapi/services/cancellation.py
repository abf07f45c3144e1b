"""Cancelling jobs: DELETE of a job, a stream whose client went away, a cancelled batch."""

from __future__ import annotations

from typing import Any

from celery import Celery

from tasks.errors import Conflict, NotFound
from tasks.job_record import DONE, FOLLOWED, RUNNING, JobStore
from webapi.services.job_reader import JobReader

#: How long DELETE of a running job waits for the worker to confirm it stopped.
CANCEL_WAIT_S = 5.0


class Canceller:
    """Stops queued and running jobs."""

    def __init__(self, celery: Celery, store: JobStore, reader: JobReader) -> None:
        self.celery, self.store, self.reader = celery, store, reader

    def cancel(self, job_id: str, tenant: str) -> dict[str, Any]:
        """Cancel a job: a queued one at once, a running one within a decode step.

        Conflict once it has finished, or while identical requests wait for its answer (single
        flight). A running job whose worker has not confirmed within CANCEL_WAIT_S is returned
        as it stands (still running, its cancellation asked for).
        """
        self.reader.describe(job_id, tenant)  # 404 for another tenant's job
        before = self.stop(job_id)
        if before == "":
            raise NotFound(f"no job with id {job_id!r}", "id")
        if before == DONE:
            raise Conflict(f"job {job_id} has already finished", "id")
        if before == FOLLOWED:
            raise Conflict(f"job {job_id} is also answering identical requests that wait for it; it will finish", "id")
        if before == RUNNING:
            job = self.reader.wait(job_id, CANCEL_WAIT_S)
            if job["status"] in ("succeeded", "failed"):
                raise Conflict(f"job {job_id} finished before it could be cancelled", "id")
            return job
        return self.reader.describe(job_id)

    def stop(self, job_id: str) -> str:
        """Cancel a queued job, or tell the workers to stop a running one; returns its state before.

        A running job's worker drops it before its next decode step (a Celery revoke), unless
        single-flight followers wait for its answer ("followed": it goes on).
        """
        before = self.store.cancel(job_id)
        if before == RUNNING:
            self.celery.control.revoke(job_id)
        return before

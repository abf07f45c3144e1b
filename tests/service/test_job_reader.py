"""Reading a job against a real Redis and Celery's result backend while its worker finishes it."""

from __future__ import annotations

import time

from tasks.celery_app import make_celery
from tasks.job_record import QUEUED, JobRecord, JobStore
from tasks.settings import Settings
from webapi.services.job_reader import JobReader


def test_a_job_read_as_its_worker_finishes_it_is_never_succeeded_without_its_start(redis_client):
    """The worker claims a job (its start), records its timings, stores its result and marks it
    done while a reader is between its two reads (the record, the result): the job the reader
    shows is never "succeeded" without its start."""
    url = redis_client.get_connection_kwargs()
    celery = make_celery(Settings.from_env({"REDIS_URL": f"redis://{url['host']}:{url['port']}/{url['db']}"}))
    jobs = JobStore(redis_client, ttl_s=60)
    jobs.create("job-1", JobRecord(QUEUED, "m", time.time()))
    read_result = celery.backend.get_task_meta

    def worker_finishes_first(job_id, *args, **kwargs):
        if jobs.get(job_id).state == QUEUED:
            jobs.claim([job_id], [1])
            jobs.record_timings({job_id: 12.0})
            celery.backend.mark_as_done(job_id, {"text": "Paris."})
            jobs.mark_done([job_id])
        return read_result(job_id, *args, **kwargs)

    celery.backend.get_task_meta = worker_finishes_first
    job = JobReader(celery, redis_client, jobs).describe("job-1")
    assert job["status"] == "succeeded" and job["timings"]["queue_ms"] is not None
    celery.close()

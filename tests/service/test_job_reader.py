"""Reading a job against a real Redis and Celery's result backend while its worker finishes it."""

from __future__ import annotations

import time

import pytest

from tasks.celery_app import make_celery
from tasks.job_record import QUEUED, JobRecord, JobStore
from tasks.settings import Settings
from webapi.services.job_reader import JobReader


@pytest.fixture
def parts(redis_client):
    """A job store with one queued job, Celery's result backend, and a reader of both."""
    url = redis_client.get_connection_kwargs()
    celery = make_celery(Settings.from_env({"REDIS_URL": f"redis://{url['host']}:{url['port']}/{url['db']}"}))
    jobs = JobStore(redis_client, ttl_s=60)
    jobs.create("job-1", JobRecord(QUEUED, "m", time.time()))
    yield jobs, celery, JobReader(celery, redis_client, jobs)
    celery.close()


def test_a_job_read_as_its_worker_finishes_it_is_never_succeeded_without_its_start(parts):
    """The worker claims a job (its start), records its timings, stores its result and marks it
    done while a reader is between its two reads: the job the reader shows is never "succeeded"
    without its start."""
    jobs, celery, reader = parts
    read_result = celery.backend.get_task_meta

    def worker_finishes_first(job_id, *args, **kwargs):
        if jobs.get(job_id).state == QUEUED:
            jobs.claim([job_id], [1])
            jobs.record_timings({job_id: 12.0})
            celery.backend.mark_as_done(job_id, {"text": "Paris."})
            jobs.mark_done([job_id])
        return read_result(job_id, *args, **kwargs)

    celery.backend.get_task_meta = worker_finishes_first
    job = reader.describe("job-1")
    assert job["status"] == "succeeded" and job["timings"]["queue_ms"] is not None


def test_a_result_stored_between_the_reads_is_not_taken_for_an_expired_one(parts):
    """The result is stored and the record marked done between the reader's two reads."""
    jobs, celery, reader = parts
    jobs.claim(["job-1"], [1])
    jobs.record_timings({"job-1": 12.0})
    read_record, finished = jobs.get, []

    def worker_finishes_between(job_id):  # the result was read (absent) just before
        if not finished:
            celery.backend.mark_as_done(job_id, {"text": "Paris."})
            jobs.mark_done([job_id])
            finished.append(job_id)
        return read_record(job_id)

    jobs.get = worker_finishes_between
    assert reader.describe("job-1")["status"] == "succeeded"

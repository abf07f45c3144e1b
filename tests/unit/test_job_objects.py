"""What a client sees of a job for each combination of its record and its result-backend entry."""

import pytest
from celery import states

from tasks.errors import GenerationFailed
from tasks.job_record import CANCELLED, DONE, QUEUED, RUNNING, CacheHit, JobRecord
from webapi.services.job_objects import job_object

ANSWER = {"text": "hi", "finish_reason": "stop", "prompt_tokens": 1, "completion_tokens": 1}


@pytest.mark.parametrize(
    ("state", "meta", "status"),
    [
        (QUEUED, {}, "queued"),
        (RUNNING, {}, "running"),
        (CANCELLED, {}, "cancelled"),
        (DONE, {}, "failed"),  # the record outlived its result
        (RUNNING, {"status": states.SUCCESS, "result": ANSWER}, "succeeded"),
        (DONE, {"status": states.REVOKED, "result": "revoked"}, "cancelled"),
        (DONE, {"status": states.REVOKED, "result": "expired"}, "failed"),
        (DONE, {"status": states.FAILURE, "result": GenerationFailed("boom")}, "failed"),
    ],
)
def test_the_status_comes_from_the_result_first_then_the_record(state, meta, status):
    job = job_object("j", JobRecord(state, "m", 10.0), meta)
    assert job["status"] == status
    assert (job["result"] is not None) == (status == "succeeded")
    assert (job["error"] is not None) == (status == "failed")


def test_timings_are_milliseconds_from_submission():
    record = JobRecord(DONE, "m", 10.0, started_at=10.25, finished_at=11.0, inference_ms=700.0, batch_size=4)
    job = job_object("j", record, {"status": states.SUCCESS, "result": ANSWER})
    assert job["timings"] == {"queue_ms": 250.0, "inference_ms": 700.0, "total_ms": 1000.0}
    assert job["batch"] == {"size": 4}


def test_a_cache_hit_shows_its_copied_answer_and_its_source():
    record = JobRecord(DONE, "m", 10.0, hit=CacheHit("semantic", "src", 0.9), result=ANSWER)
    job = job_object("j", record, {})
    assert (job["status"], job["result"]) == ("succeeded", ANSWER)
    assert job["cache"] == {"hit": True, "kind": "semantic", "similarity": 0.9, "source_id": "src"}
    assert job["timings"]["total_ms"] is None and job["batch"] is None

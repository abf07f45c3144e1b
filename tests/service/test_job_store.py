"""Job records in Redis: every transition is atomic and tells the state it found."""

import time

from tasks.job_record import CANCELLED, DONE, FOLLOWED, QUEUED, RUNNING, JobRecord, JobStore


def _queued() -> JobRecord:
    return JobRecord(QUEUED, "m", time.time(), tenant="t")


def _states(claims: list[tuple[str, float | None]]) -> list[str]:
    return [state for state, _ in claims]


def test_a_job_moves_from_queued_to_running_to_done(redis_client):
    jobs = JobStore(redis_client, ttl_s=60)
    created = float(jobs.create("a", _queued()).created_at)
    assert jobs.get("a").state == QUEUED
    assert jobs.claim(["a"], [3]) == [(QUEUED, created)]  # the claim tells when it was submitted
    record = jobs.get("a")
    assert (record.state, record.batch_size) == (RUNNING, 3)
    jobs.record_timings({"a": 12.5})
    jobs.mark_done(["a"])
    assert jobs.get("a").state == DONE
    assert jobs.get("a").inference_ms == 12.5
    assert 0 < redis_client.ttl("llm:job:a") <= 60


def test_cancel_stops_a_queued_job_and_marks_a_running_one(redis_client):
    jobs = JobStore(redis_client, ttl_s=60)
    jobs.create("waiting", _queued())
    jobs.create("started", _queued())
    jobs.claim(["started"], [1])
    assert jobs.cancel("waiting") == QUEUED
    assert jobs.cancel("started") == RUNNING  # its worker is told separately (a Celery revoke)
    assert jobs.get("started").cancel_requested_at is not None
    assert jobs.cancel("never") == ""
    # A worker that reaches a cancelled job learns it from its claim and leaves it alone.
    assert _states(jobs.claim(["waiting", "started", "never"], [1, 1, 1])) == [CANCELLED, RUNNING, ""]
    assert jobs.get("waiting").state == CANCELLED
    assert jobs.get("never") is None


def test_a_job_that_followers_wait_for_is_not_cancelled_and_a_cancelled_one_is_not_followed(redis_client):
    jobs = JobStore(redis_client, ttl_s=60)
    jobs.create("leader", _queued())
    jobs.enqueued("leader", {}, "q")
    jobs.claim(["leader"], [1])
    assert jobs.follow("leader")
    assert jobs.cancel("leader") == FOLLOWED
    assert jobs.get("leader").cancel_requested_at is None
    jobs.create("alone", _queued())
    jobs.enqueued("alone", {}, "q")
    jobs.claim(["alone"], [1])
    assert jobs.cancel("alone") == RUNNING
    assert jobs.follow("alone") is False  # being cancelled: a new identical request must not wait for it
    assert jobs.follow("never") is False


def test_a_redelivery_after_a_crash_is_claimed_again_and_counted(redis_client):
    jobs = JobStore(redis_client, ttl_s=60)
    jobs.create("a", _queued())
    assert _states(jobs.claim(["a"], [8], worker="w1")) == [QUEUED]
    assert _states(jobs.claim(["a"], [2], worker="w2")) == [RUNNING]  # w1 died holding it
    record = jobs.get("a")
    assert (record.worker, record.batch_size, record.attempts) == ("w2", 2, 2)


def test_a_redelivered_done_job_is_not_claimed_again(redis_client):
    jobs = JobStore(redis_client, ttl_s=60)
    jobs.create("a", _queued())
    jobs.claim(["a"], [1])
    jobs.mark_done(["a"])
    assert _states(jobs.claim(["a"], [1])) == [DONE]
    assert jobs.get("a").state == DONE


def test_a_job_is_followed_only_once_its_message_is_published(redis_client):
    jobs = JobStore(redis_client, ttl_s=60)
    jobs.create("orphan", _queued())  # its API process died before publishing it
    assert jobs.follow("orphan") is None  # not yet: a follower would wait for an answer never coming
    jobs.enqueued("orphan", {}, "q")
    assert jobs.follow("orphan") and jobs.get("orphan").followers == 1

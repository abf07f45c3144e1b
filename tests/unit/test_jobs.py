from tasks.jobs import CANCELLED, DONE, QUEUED, RUNNING, JobStore


def test_a_job_moves_from_queued_to_running_to_done(redis_client):
    jobs = JobStore(redis_client, ttl_s=60)
    jobs.create("a", "m")
    assert jobs.get("a")["state"] == QUEUED
    assert jobs.claim(["a"], [3]) == [QUEUED]
    record = jobs.get("a")
    assert (record["state"], record["batch_size"]) == (RUNNING, "3")
    jobs.record_timings(["a"], 12.5)
    jobs.mark_done(["a"])
    assert jobs.get("a")["state"] == DONE
    assert jobs.get("a")["inference_ms"] == "12.5"
    assert 0 < redis_client.ttl("llm:job:a") <= 60


def test_cancel_wins_only_while_queued(redis_client):
    jobs = JobStore(redis_client, ttl_s=60)
    jobs.create("waiting", "m")
    jobs.create("started", "m")
    jobs.claim(["started"], [1])
    assert jobs.cancel("waiting") == QUEUED
    assert jobs.cancel("started") == RUNNING
    assert jobs.cancel("never") == ""
    # A worker that reaches a cancelled job learns it from its claim and leaves it alone.
    assert jobs.claim(["waiting", "started", "never"], [1, 1, 1]) == [CANCELLED, RUNNING, ""]
    assert jobs.get("waiting")["state"] == CANCELLED
    assert jobs.get("never") is None


def test_a_redelivery_after_a_crash_is_claimed_again_and_counted(redis_client):
    jobs = JobStore(redis_client, ttl_s=60)
    jobs.create("a", "m")
    assert jobs.claim(["a"], [8], worker="w1") == [QUEUED]
    assert jobs.claim(["a"], [2], worker="w2") == [RUNNING]  # w1 died holding it
    record = jobs.get("a")
    assert (record["worker"], record["batch_size"], record["attempts"]) == ("w2", "2", "2")


def test_a_redelivered_done_job_is_not_claimed_again(redis_client):
    jobs = JobStore(redis_client, ttl_s=60)
    jobs.create("a", "m")
    jobs.claim(["a"], [1])
    jobs.mark_done(["a"])
    assert jobs.claim(["a"], [1]) == [DONE]
    assert jobs.get("a")["state"] == DONE

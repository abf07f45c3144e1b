"""The cache learns an answer when its job ends, once, whoever reads it; reading a job writes nothing."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tasks.celery_app import make_celery
from tasks.contract import LEARN_QUEUE
from tasks.job_record import QUEUED, CacheKeys, JobRecord, JobStore
from tasks.settings import Settings
from webapi.cache.embedder import Embedder
from webapi.cache.learner import Learner
from webapi.cache.semantic_cache import SemanticCache
from webapi.cache.store import CacheStore
from webapi.services.job_reader import JobReader

ANSWER = {"text": "Paris.", "finish_reason": "stop", "prompt_tokens": 5, "completion_tokens": 2}


@pytest.fixture
def parts(redis_client):
    """A job store, a cache (its embedder never loads: the keys carry the vector) and a learner."""
    url = redis_client.get_connection_kwargs()
    celery = make_celery(Settings.from_env({"REDIS_URL": f"redis://{url['host']}:{url['port']}/{url['db']}"}))
    jobs = JobStore(redis_client, ttl_s=60)
    cache = SemanticCache(CacheStore(redis_client, 60, 100, 60), Embedder(), 0.8)

    def result_of(job_id: str) -> dict | None:
        meta = celery.backend.get_task_meta(job_id)
        return meta["result"] if meta["status"] == "SUCCESS" else None

    yield jobs, cache, Learner(redis_client, cache, jobs, result_of), celery
    celery.close()


def _pending(jobs: JobStore, cache: SemanticCache, job_id: str, exact: str) -> None:
    vector = np.ones(384, dtype=np.float32) / np.sqrt(384)
    keys = CacheKeys("scope", exact, "What is the capital of France?", "auto", vector.tobytes())
    jobs.create(job_id, JobRecord(QUEUED, "m", time.time(), cache=keys))
    assert cache.store.start_flight(exact, job_id) is None


def test_a_finished_answer_is_learned_once_without_anyone_reading_it(parts, redis_client):
    jobs, cache, learner, celery = parts
    _pending(jobs, cache, "job-1", "exact-1")
    jobs.claim(["job-1"], [1])
    celery.backend.mark_as_done("job-1", ANSWER)
    jobs.mark_done(["job-1"])
    assert redis_client.lrange(LEARN_QUEUE, 0, -1) == [b"job-1"]
    assert learner.run_once(timeout_s=1)
    entry = cache.store.exact("exact-1")
    assert entry is not None and entry.source_id == "job-1" and entry.text == "What is the capital of France?"
    assert cache.store.start_flight("exact-1", "job-2") is None  # the flight ended with the job
    assert not jobs.has_cache_keys("job-1") and not learner.learn("job-1")  # once
    assert not learner.run_once(timeout_s=0.1)


def test_a_failure_is_never_cached_but_its_flight_ends(parts):
    jobs, cache, learner, celery = parts
    _pending(jobs, cache, "job-1", "exact-1")
    celery.backend.mark_as_failure("job-1", RuntimeError("boom"))
    jobs.mark_done(["job-1"])
    assert learner.run_once(timeout_s=1)
    assert cache.store.exact("exact-1") is None
    assert cache.store.start_flight("exact-1", "job-2") is None


def test_a_job_cancelled_while_queued_ends_its_flight(parts):
    jobs, cache, learner, _ = parts
    _pending(jobs, cache, "job-1", "exact-1")
    jobs.cancel("job-1")
    assert learner.run_once(timeout_s=1)
    assert cache.store.exact("exact-1") is None
    assert cache.store.start_flight("exact-1", "job-2") is None


def test_reading_a_job_writes_nothing(parts, redis_client):
    jobs, cache, _, celery = parts
    _pending(jobs, cache, "job-1", "exact-1")
    celery.backend.mark_as_done("job-1", ANSWER)
    jobs.mark_done(["job-1"])
    reader = JobReader(celery, redis_client, jobs)

    def snapshot() -> dict[bytes, bytes]:
        return {key: redis_client.dump(key) for key in redis_client.scan_iter()}

    before = snapshot()
    assert reader.describe("job-1")["result"] == ANSWER
    assert reader.wait("job-1", 1)["status"] == "succeeded"
    assert snapshot() == before

"""Per-tenant job limits against a real Redis: ended jobs free their place, tenants stay apart."""

from __future__ import annotations

import time

import pytest

from tasks.errors import RateLimited
from tasks.job_record import QUEUED, RUNNING, JobRecord, JobStore
from webapi.services.tenant_jobs import PREFIX, RECORD_GRACE_S, TenantJobs


def _job(jobs: JobStore, job_id: str, tenant: str, state: str = QUEUED) -> None:
    jobs.create(job_id, JobRecord(state, "m", time.time(), tenant))


def test_a_tenant_at_its_limit_is_refused_until_one_of_its_jobs_ends(redis_client):
    jobs, limits = JobStore(redis_client, ttl_s=60), TenantJobs(redis_client, 2)
    for job_id, state in (("a1", QUEUED), ("a2", RUNNING)):
        limits.admit("alice", job_id)
        _job(jobs, job_id, "alice", state)
    with pytest.raises(RateLimited) as refused:
        limits.admit("alice", "a3")
    assert refused.value.headers["Retry-After"] == "1" and refused.value.headers["x-ratelimit-limit-jobs"] == "2"
    limits.admit("bob", "b1")  # another tenant is not held back
    jobs.mark_done(["a1"])
    limits.admit("alice", "a3")  # a1 ended: its place is free, and it is dropped from the set
    assert {m.decode() for m in redis_client.zrange(PREFIX + "alice", 0, -1)} == {"a2", "a3"}


def test_a_job_admitted_but_never_recorded_counts_only_for_the_grace_period(redis_client):
    limits = TenantJobs(redis_client, 1)
    limits.admit("alice", "published-a-moment-ago")  # its record is written right after admission
    with pytest.raises(RateLimited):
        limits.admit("alice", "next")
    redis_client.zadd(PREFIX + "alice", {"published-a-moment-ago": time.time() - RECORD_GRACE_S - 1})
    limits.admit("alice", "next")  # an API that died before recording it does not hold the place forever


def test_no_limit_admits_everything_and_writes_nothing(redis_client):
    limits = TenantJobs(redis_client, 0)
    for i in range(5):
        limits.admit("alice", f"j{i}")
    assert redis_client.exists(PREFIX + "alice") == 0

"""Per-tenant concurrency: at most TENANT_MAX_JOBS interactive jobs queued or running per tenant.

A request over the limit is answered 429 at once, so one tenant's burst cannot fill the queue in
front of everyone else's requests; with the worker's round-robin draw across tenants
(model_worker/inbox.py), another tenant's request waits behind at most one of the burst's.

Each tenant's admitted jobs are a sorted set (job id -> when admitted). Admission counts the ones
still queued or running by their job records, drops the ended ones, and adds the new job, all in
one Lua call, so every API process agrees and an ended job frees its place without any hook in the
worker. A job admitted moments ago whose record is not written yet counts as running.
"""

from __future__ import annotations

import time

from redis import Redis

from tasks.contract import JOB_KEY_PREFIX
from tasks.errors import RateLimited

PREFIX = "llm:tenant-jobs:"
#: Seconds an admitted job counts before its record exists (it is written right after admission).
RECORD_GRACE_S = 30
#: The set lives as long as a job may (an idle tenant's set expires).
SET_TTL_S = 7 * 86_400

# KEYS: the tenant's set. ARGV: job id, now, limit, job key prefix, grace, ttl.
# Returns the number of the tenant's jobs still queued or running (the new one included when admitted),
# negated when refused.
_ADMIT = """
local now, limit, grace = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local active = 0
for i = 1, #entries, 2 do
  local state = redis.call('HGET', ARGV[4] .. entries[i], 'state')
  if state == 'queued' or state == 'running' or (not state and now - tonumber(entries[i + 1]) < grace) then
    active = active + 1
  else
    redis.call('ZREM', KEYS[1], entries[i])
  end
end
if active >= limit then
  return -active
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
return active + 1
"""


class TenantJobs:
    """Admits a tenant's interactive job while it has fewer than `limit` queued or running (0: no limit)."""

    def __init__(self, redis: Redis, limit: int) -> None:
        self.redis, self.limit = redis, limit
        self._admit = redis.register_script(_ADMIT)

    def admit(self, tenant: str, job_id: str) -> None:
        """Count `job_id` as one of `tenant`'s jobs, or raise RateLimited (429) at the limit."""
        if not self.limit:
            return
        args = [job_id, time.time(), self.limit, JOB_KEY_PREFIX, RECORD_GRACE_S, SET_TTL_S]
        active = int(self._admit(keys=[PREFIX + tenant], args=args))
        if active < 0:
            raise RateLimited(
                f"{-active} of your jobs are queued or running, the limit is {self.limit}; retry when one ends",
                {"Retry-After": "1", "x-ratelimit-limit-jobs": str(self.limit), "x-ratelimit-remaining-jobs": "0"},
            )

"""Job records: one Redis hash per submitted request, the source of truth for its lifecycle.

Celery's result backend knows nothing of a task id until a result is stored, so an unknown id would
look "pending" forever. A record written at submission lets the API answer 404 for ids never
submitted, and gives cancellation and the worker's claim one atomic place to meet.

States: queued -> running -> done, or queued -> cancelled. The result itself lives in the result
backend; the record keeps timings and the batch the request ran in.
"""

from __future__ import annotations

import time
from typing import Any

from redis import Redis

from tasks.contract import JOB_KEY_PREFIX

QUEUED, RUNNING, DONE, CANCELLED = "queued", "running", "done", "cancelled"
#: What cancel() answers for a running job that single-flight followers wait for.
FOLLOWED = "followed"
#: A running job whose cancellation was asked for (the worker is told by a Celery revoke).
CANCEL_REQUESTED = "cancel_requested_at"
#: How many single-flight followers wait for a job's answer (a job others wait for is not cancelled).
FOLLOWERS = "followers"

# Claim each job: queued (or running: redelivered after a crash) -> running.
# ARGV: the start time, the worker's name, then each job's batch size. `attempts` counts the
# runs (more than one: a redelivery after a crash). Returns each job's state before the claim
# ("" when there is no record: run it anyway) and its submission time, flattened.
_CLAIM = """
local out = {}
for i, key in ipairs(KEYS) do
  local state = redis.call('HGET', key, 'state') or ''
  if state == 'queued' or state == 'running' then
    redis.call('HSET', key, 'state', 'running', 'started_at', ARGV[1], 'batch_size', ARGV[i + 2], 'worker', ARGV[2])
    redis.call('HINCRBY', key, 'attempts', 1)
  end
  out[2 * i - 1] = state
  out[2 * i] = redis.call('HGET', key, 'created_at') or ''
end
return out
"""

# Cancel a job: a queued one at once; a running one is marked for the worker to stop, unless a
# single-flight follower waits for its answer. Returns the state before the call ("" when
# unknown, "followed" when others wait for it).
_CANCEL = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return '' end
if state == 'queued' then redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished_at', ARGV[1]) end
if state == 'running' then
  if tonumber(redis.call('HGET', KEYS[1], 'followers') or '0') > 0 then return 'followed' end
  redis.call('HSET', KEYS[1], 'cancel_requested_at', ARGV[1])
end
return state
"""

# Follow a job's answer (single flight), unless it is cancelled or being cancelled.
# Returns 1 when followed, 0 when not.
_FOLLOW = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'cancelled' or redis.call('HEXISTS', KEYS[1], 'cancel_requested_at') == 1 then
  return 0
end
redis.call('HINCRBY', KEYS[1], 'followers', 1)
return 1
"""


def job_key(job_id: str) -> str:
    """The Redis key of a job's record."""
    return JOB_KEY_PREFIX + job_id


class JobStore:
    """Reads and moves job records; every transition is one atomic Redis call."""

    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self._claim = redis.register_script(_CLAIM)
        self._cancel = redis.register_script(_CANCEL)
        self._follow = redis.register_script(_FOLLOW)

    def create(self, job_id: str, model: str, **fields: str) -> dict[str, Any]:
        """Record a job (queued unless `fields` say otherwise) before its message is published."""
        record = {"state": QUEUED, "model": model, "created_at": repr(time.time()), **fields}
        with self.redis.pipeline() as pipe:
            pipe.hset(job_key(job_id), mapping=record)
            pipe.expire(job_key(job_id), self.ttl_s)
            pipe.execute()
        return record

    def delete(self, job_id: str) -> None:
        """Forget a job (one whose message could not be published)."""
        self.redis.delete(job_key(job_id))

    def get(self, job_id: str) -> dict[str, str] | None:
        """The job's record, or None if it was never submitted or has expired."""
        record = self.redis.hgetall(job_key(job_id))
        return {k.decode(): v.decode() for k, v in record.items()} if record else None

    def cancel(self, job_id: str) -> str:
        """Cancel a queued job, or mark a running one; return the state it had (see _CANCEL)."""
        return _text(self._cancel(keys=[job_key(job_id)], args=[repr(time.time())]))

    def follow(self, job_id: str) -> bool:
        """Count one more request waiting for this job's answer; False if it is being cancelled."""
        return bool(self._follow(keys=[job_key(job_id)]))

    def claim(self, job_ids: list[str], batch_sizes: list[int], worker: str = "") -> list[tuple[str, float | None]]:
        """Mark jobs as running on `worker`, each in a batch of the given size.

        Returns each job's state before the claim and when it was submitted (None: no record).
        """
        args = [repr(time.time()), worker, *batch_sizes]
        flat = [_text(v) for v in self._claim(keys=[job_key(j) for j in job_ids], args=args)]
        return [
            (state, float(created) if created else None) for state, created in zip(flat[::2], flat[1::2], strict=True)
        ]

    def take_field(self, job_id: str, field: str) -> bool:
        """Remove `field` from the record; True for exactly one caller (a once-only claim)."""
        return bool(self.redis.hdel(job_key(job_id), field))

    def record_timings(self, inference_ms: dict[str, float]) -> None:
        """Note when each job's generation ended and how long it took, before its result is stored."""
        finished = repr(time.time())
        with self.redis.pipeline() as pipe:
            for job_id, ms in inference_ms.items():
                pipe.hset(job_key(job_id), mapping={"finished_at": finished, "inference_ms": f"{ms:.1f}"})
            pipe.execute()

    def mark_done(self, job_ids: list[str]) -> None:
        """Mark jobs done once their results (or failures) are stored."""
        with self.redis.pipeline() as pipe:
            for job_id in job_ids:
                pipe.hset(job_key(job_id), "state", DONE)
                pipe.expire(job_key(job_id), self.ttl_s)  # kept as long as the result it describes
            pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

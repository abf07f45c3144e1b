"""Job records: one Redis hash per submitted request, the source of truth for its lifecycle.

Celery's result backend knows nothing of a task id until a result is stored, so an unknown id would
look "pending" forever. A record written at submission lets the API answer 404 for ids never
submitted, and gives cancellation and the worker's claim one atomic place to meet.

States: queued -> running -> done, or queued -> cancelled. The result itself lives in the result
backend; the record keeps timings and the batch the request ran in.
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis import Redis

from tasks.contract import JOB_KEY_PREFIX

QUEUED, RUNNING, DONE, CANCELLED = "queued", "running", "done", "cancelled"
#: The field holding a preempted job's generated tokens (JSON), until it is done.
PARTIAL = "partial_ids"

# Claim each job of a batch: queued (or running: redelivered after a crash) -> running.
# ARGV: the start time, the worker's name, then each job's batch size. `attempts` counts the
# runs (more than one: a redelivery after a crash). Returns each job's state before the claim
# ("" when there is no record: run it anyway).
_CLAIM = """
local out = {}
for i, key in ipairs(KEYS) do
  local state = redis.call('HGET', key, 'state') or ''
  if state == 'queued' or state == 'running' then
    redis.call('HSET', key, 'state', 'running', 'started_at', ARGV[1], 'batch_size', ARGV[i + 2], 'worker', ARGV[2])
    redis.call('HINCRBY', key, 'attempts', 1)
  end
  out[i] = state
end
return out
"""

# Cancel a job only while it waits: returns its state before the call ("" when unknown).
_CANCEL = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return '' end
if state == 'queued' then redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished_at', ARGV[1]) end
return state
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
        """Cancel a queued job; return the state it had ('' if unknown)."""
        return _text(self._cancel(keys=[job_key(job_id)], args=[repr(time.time())]))

    def claim(self, job_ids: list[str], batch_sizes: list[int], worker: str = "") -> list[str]:
        """Mark jobs as running on `worker`, each in a batch of the given size; return their previous states."""
        args = [repr(time.time()), worker, *batch_sizes]
        states = self._claim(keys=[job_key(j) for j in job_ids], args=args)
        return [_text(s) for s in states]

    def take_field(self, job_id: str, field: str) -> bool:
        """Remove `field` from the record; True for exactly one caller (a once-only claim)."""
        return bool(self.redis.hdel(job_key(job_id), field))

    def record_timings(self, job_ids: list[str], inference_ms: float) -> None:
        """Note when generation ended, before the results are stored (so readers see both)."""
        fields = {"finished_at": repr(time.time()), "inference_ms": f"{inference_ms:.1f}"}
        with self.redis.pipeline() as pipe:
            for job_id in job_ids:
                pipe.hset(job_key(job_id), mapping=fields)
            pipe.execute()

    def created_at(self, job_ids: list[str]) -> list[float | None]:
        """When each job was submitted (None: no record)."""
        with self.redis.pipeline() as pipe:
            for job_id in job_ids:
                pipe.hget(job_key(job_id), "created_at")
            return [float(v) if v else None for v in pipe.execute()]

    def save_partial(self, job_id: str, token_ids: list[int]) -> None:
        """Keep the tokens a preempted job generated, for its next run to continue from."""
        self.redis.hset(job_key(job_id), PARTIAL, json.dumps(token_ids))

    def partials(self, job_ids: list[str]) -> list[list[int]]:
        """Each job's saved tokens ([] for none)."""
        with self.redis.pipeline() as pipe:
            for job_id in job_ids:
                pipe.hget(job_key(job_id), PARTIAL)
            return [json.loads(v) if v else [] for v in pipe.execute()]

    def mark_done(self, job_ids: list[str]) -> None:
        """Mark jobs done once their results (or failures) are stored."""
        with self.redis.pipeline() as pipe:
            for job_id in job_ids:
                pipe.hdel(job_key(job_id), PARTIAL)
                pipe.hset(job_key(job_id), "state", DONE)
                pipe.expire(job_key(job_id), self.ttl_s)  # kept as long as the result it describes
            pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

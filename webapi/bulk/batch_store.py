"""Batch records in Redis: the batch object's fields, its submitted lines and its open ones.

Every change a driver makes is a small atomic step (a transaction or a Lua script), so a driver
that dies between two steps leaves a state the next driver simply continues from.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from redis import Redis

from tasks.contract import ACTIVE_BATCHES_KEY, BATCH_KEY_PREFIX, BATCHES_KEY
from tasks.errors import Conflict, NotFound

COMPLETION_WINDOWS = {"24h": 24 * 3600}
#: Statuses a batch can still be cancelled in; a cancel of a cancelling/cancelled batch is a no-op.
CANCELLABLE = ("validating", "in_progress")

# Move a batch from one of several statuses to another, stamping the time: ARGV = to, time
# field, now, then the allowed statuses. Returns the status it had (false: no such batch).
_TRANSITION = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return false end
for i = 4, #ARGV do
  if status == ARGV[i] then
    redis.call('HSET', KEYS[1], 'status', ARGV[1], ARGV[2], ARGV[3])
    return status
  end
end
return status
"""
# Close one open line once, counting its outcome ('' counts nothing: it was cancelled).
_CLOSE = """
if redis.call('SREM', KEYS[1], ARGV[1]) == 1 and ARGV[2] ~= '' then
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
end
"""


class BatchStore:
    """Batch records; ids are `batch_<hex>`."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._transition = redis.register_script(_TRANSITION)
        self._close = redis.register_script(_CLOSE)

    @staticmethod
    def key(batch_id: str, part: str = "") -> str:
        """The batch's hash, or one of its parts (jobs, open, lease)."""
        return BATCH_KEY_PREFIX + batch_id + (":" + part if part else "")

    def create(self, tenant: str, input_file_id: str, endpoint: str, window: str, metadata: dict[str, str]) -> str:
        """A new batch, validating."""
        batch_id = "batch_" + uuid.uuid4().hex
        now = int(time.time())
        record = {
            "tenant": tenant,
            "endpoint": endpoint,
            "input_file_id": input_file_id,
            "completion_window": window,
            "status": "validating",
            "created_at": now,
            "expires_at": now + COMPLETION_WINDOWS[window],
            "metadata": json.dumps(metadata),
            "total": 0,
            "completed": 0,
            "failed": 0,
            "cursor": 0,
        }
        with self.redis.pipeline() as pipe:
            pipe.hset(self.key(batch_id), mapping=record)
            pipe.zadd(BATCHES_KEY, {batch_id: time.time()})
            pipe.sadd(ACTIVE_BATCHES_KEY, batch_id)
            pipe.execute()
        return batch_id

    def get(self, batch_id: str, tenant: str | None = None) -> dict[str, str]:
        """The raw record; NotFound for unknown ids and other tenants' batches (tenant None: any)."""
        raw = self.redis.hgetall(self.key(batch_id)) if batch_id.startswith("batch_") else {}
        record = {k.decode(): v.decode() for k, v in raw.items()}
        if not record or (tenant is not None and record["tenant"] != tenant):
            raise NotFound(f"no batch with id {batch_id!r}", "batch_id")
        return {"id": batch_id, **record}

    def list(self, tenant: str, after: str | None, limit: int) -> tuple[list[dict[str, str]], bool]:
        """The tenant's batches, newest first, after the one with id `after`; and whether more follow."""
        ids = [i.decode() for i in self.redis.zrevrange(BATCHES_KEY, 0, -1)]
        if after is not None:
            ids = ids[ids.index(after) + 1 :] if after in ids else []
        found = []
        for batch_id in ids:
            try:
                found.append(self.get(batch_id, tenant))
            except NotFound:
                continue
            if len(found) > limit:
                break
        return found[:limit], len(found) > limit

    def update(self, batch_id: str, **fields: Any) -> None:
        """Set fields of the record."""
        self.redis.hset(self.key(batch_id), mapping={k: str(v) for k, v in fields.items()})

    def transition(self, batch_id: str, allowed: tuple[str, ...], to: str, stamp: str) -> bool:
        """Move to `to` (stamping `<stamp>` with the time) if the status is one of `allowed`; did it?"""
        before = self._transition(keys=[self.key(batch_id)], args=[to, stamp, int(time.time()), *allowed])
        return before is not None and before.decode() in allowed

    def cancel(self, batch_id: str, tenant: str) -> None:
        """Ask the driver to cancel the batch (again: nothing); Conflict once it has ended."""
        self.get(batch_id, tenant)  # NotFound for another tenant's batch
        if self.transition(batch_id, CANCELLABLE, "cancelling", "cancelling_at"):
            return
        status = self.get(batch_id)["status"]
        if status not in ("cancelling", "cancelled"):
            raise Conflict(f"batch {batch_id} is {status}; it can no longer be cancelled", "batch_id")

    def submitted(self, batch_id: str, line: int, job_id: str, custom_id: str) -> None:
        """Record a line as submitted (as job `job_id`) and open, and move the cursor past it."""
        with self.redis.pipeline() as pipe:  # MULTI: all or nothing
            pipe.hset(self.key(batch_id, "jobs"), str(line), f"{job_id}:{custom_id}")
            pipe.sadd(self.key(batch_id, "open"), str(line))
            pipe.hset(self.key(batch_id), "cursor", str(line))
            pipe.execute()

    def open_lines(self, batch_id: str) -> dict[int, str]:
        """Open line -> its job id."""
        lines = sorted(int(n) for n in self.redis.smembers(self.key(batch_id, "open")))
        return {line: job for line, (job, _) in zip(lines, self.jobs(batch_id, lines), strict=True)}

    def jobs(self, batch_id: str, lines: list[int]) -> list[tuple[str, str]]:
        """(job id, custom_id) of submitted lines."""
        values = self.redis.hmget(self.key(batch_id, "jobs"), [str(n) for n in lines]) if lines else []
        return [tuple(v.decode().split(":", 1)) for v in values]  # type: ignore[misc]

    def submitted_lines(self, batch_id: str) -> list[int]:
        """Every submitted line, in file order."""
        return sorted(int(n) for n in self.redis.hkeys(self.key(batch_id, "jobs")))

    def close(self, batch_id: str, line: int, outcome: str) -> None:
        """Close an open line once: outcome completed, failed, or '' (cancelled: not counted)."""
        self._close(keys=[self.key(batch_id, "open"), self.key(batch_id)], args=[str(line), outcome])

    def active(self) -> list[str]:
        """Batches not yet ended."""
        return sorted(i.decode() for i in self.redis.smembers(ACTIVE_BATCHES_KEY))

    def ended(self, batch_id: str) -> None:
        """Forget a finished batch's working sets (its record and files stay)."""
        with self.redis.pipeline() as pipe:
            pipe.srem(ACTIVE_BATCHES_KEY, batch_id)
            pipe.delete(self.key(batch_id, "open"), self.key(batch_id, "lease"))
            pipe.execute()


def batch_object(record: dict[str, str]) -> dict[str, Any]:
    """OpenAI's batch object from a record."""

    def stamp(name: str) -> int | None:
        return int(record[name]) if name in record else None

    errors = json.loads(record["errors"]) if "errors" in record else None
    return {
        "id": record["id"],
        "object": "batch",
        "endpoint": record["endpoint"],
        "errors": {"object": "list", "data": errors} if errors else None,
        "input_file_id": record["input_file_id"],
        "completion_window": record["completion_window"],
        "status": record["status"],
        "output_file_id": record.get("output_file_id"),
        "error_file_id": record.get("error_file_id"),
        "created_at": int(record["created_at"]),
        **{
            name: stamp(name)
            for name in (
                "in_progress_at",
                "expires_at",
                "finalizing_at",
                "completed_at",
                "failed_at",
                "expired_at",
                "cancelling_at",
                "cancelled_at",
            )
        },
        "request_counts": {k: int(record[k]) for k in ("total", "completed", "failed")},
        "metadata": json.loads(record["metadata"]) or None,
    }

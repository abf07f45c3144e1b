"""Job records: one Redis hash per submitted request, the source of truth for its lifecycle.

Celery's result backend knows nothing of a task id until a result is stored, so an unknown id would
look "pending" forever. A record written at submission lets the API answer 404 for ids never
submitted, and gives cancellation and the worker's claim one atomic place to meet.

States: queued -> running -> done, or queued -> cancelled. The result itself lives in the result
backend; the record keeps timings and the batch the request ran in. `JobRecord` names every field
once; this module is the only one that reads or writes the hash.

Who writes what: the API creates the record (owner, cache keys or cache hit) and notes when its
message is published; the worker claims it, notes its timings and marks it done; cancellation
marks it. From publishing to its end a job is listed in UNFINISHED_KEY with its message kept, so a
message the broker loses is sent again (webapi/services/redelivery.py). When a record that carries
cache keys ends (done, or cancelled while queued), its id is pushed on LEARN_QUEUE in the same
atomic call, so the API's cache learner (webapi/cache/learner.py) stores the answer once, whether
or not anyone ever reads the job.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field, fields
from typing import Any

from redis import Redis

from tasks.contract import JOB_KEY_PREFIX, LEARN_QUEUE, UNFINISHED_KEY

QUEUED, RUNNING, DONE, CANCELLED = "queued", "running", "done", "cancelled"
#: What cancel() answers for a running job that single-flight followers wait for.
FOLLOWED = "followed"


@dataclass(frozen=True)
class CacheKeys:
    """Where a generated job's answer goes in the semantic cache once it is stored."""

    scope: str  # model, parameters and tenant: a hit never crosses scopes (webapi/cache/keys.py)
    exact: str  # the exact tier's key; also the single-flight key
    text: str  # the prompt text that was embedded
    mode: str  # "auto", or "refresh": the new answer replaces the old entry
    vector: bytes | None = None  # the prompt's embedding (float32), so the learner need not embed again


@dataclass(frozen=True)
class CacheHit:
    """How a job was answered from the cache instead of generated."""

    kind: str  # "exact" | "semantic"
    source: str  # the job whose answer it is
    similarity: float | None = None  # the prompts' cosine (semantic hits)


@dataclass(frozen=True)
class JobRecord:
    """A job's record, as typed values. Times are Unix seconds."""

    state: str  # queued | running | done | cancelled
    model: str
    created_at: float | None = None  # None: a record a worker wrote for a task sent by hand
    tenant: str = ""  # the API key's tenant; a job is visible to its own tenant only
    user: str | None = None  # the caller's end-user id (OpenAI's `user`), for audits
    # When its message was published. Until then no identical request follows it: one whose API
    # process died before publishing would keep its followers waiting for ever.
    enqueued_at: float | None = None
    # The task's kwargs and queue, kept until it ends: a message the broker loses is sent again.
    message: dict[str, Any] | None = None
    # Set by the worker.
    started_at: float | None = None
    finished_at: float | None = None
    inference_ms: float | None = None
    batch_size: int | None = None  # rows in the batch when it joined
    worker: str | None = None
    attempts: int = 0  # runs; more than one: redelivered after a crash
    # Cancellation and single flight.
    cancel_requested_at: float | None = None  # a running job asked to stop (the worker gets a revoke)
    followers: int = 0  # identical requests waiting for this job's answer
    follows: str | None = None  # this job shows that (leader) job's outcome instead of generating
    # The cache.
    cache: CacheKeys | None = None  # where the answer goes once stored
    hit: CacheHit | None = None  # answered from the cache (or a follower)
    result: dict[str, Any] | None = None  # a cache hit's answer, copied at submission

    def to_hash(self) -> dict[str, str]:
        """The Redis hash fields (absent values are left out)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "cache" and value is not None:
                out.update(_prefixed("cache_", value))
            elif f.name == "hit" and value is not None:
                out.update(_prefixed("hit_", value))
            elif f.name in _JSON_FIELDS and value is not None:
                out[f.name] = json.dumps(value)
            elif value is not None and value != f.default:
                out[f.name] = repr(value) if isinstance(value, float) else str(value)
        return out

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> JobRecord:
        """The record for a hash's fields."""
        typed: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in ("cache", "hit", *_JSON_FIELDS) or f.name not in raw:
                continue
            kind = f.type if isinstance(f.type, str) else f.type.__name__
            value = raw[f.name]
            typed[f.name] = float(value) if "float" in kind else int(value) if "int" in kind else value
        if "cache_exact" in raw:
            vector = raw.get("cache_vector")
            typed["cache"] = CacheKeys(
                raw["cache_scope"],
                raw["cache_exact"],
                raw["cache_text"],
                raw["cache_mode"],
                base64.b64decode(vector) if vector else None,
            )
        if "hit_kind" in raw:
            similarity = raw.get("hit_similarity")
            typed["hit"] = CacheHit(raw["hit_kind"], raw["hit_source"], float(similarity) if similarity else None)
        for name in _JSON_FIELDS:
            if name in raw:
                typed[name] = json.loads(raw[name])
        return cls(**typed)


_JSON_FIELDS = ("result", "message")


def _prefixed(prefix: str, value: CacheKeys | CacheHit) -> dict[str, str]:
    out = {}
    for f in fields(value):
        item = getattr(value, f.name)
        if item is None:
            continue
        out[prefix + f.name] = base64.b64encode(item).decode() if isinstance(item, bytes) else str(item)
    return out


# Claim each job: queued (or running: redelivered after a crash) -> running.
# ARGV: the start time, the worker's name, then each job's batch size. Returns each job's state
# before the claim ("" when there is no record: run it anyway) and its submission time, flattened.
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

# Mark jobs done (their results are stored) and hand the ones with cache keys to the learner.
# KEYS: the learn queue, the unfinished set, then the records. ARGV: the records' TTL, then the ids.
_DONE = """
for i = 3, #KEYS do
  local id = ARGV[i - 1]
  redis.call('HSET', KEYS[i], 'state', 'done')
  redis.call('HDEL', KEYS[i], 'message')
  redis.call('EXPIRE', KEYS[i], ARGV[1])
  redis.call('ZREM', KEYS[2], id)
  if redis.call('HEXISTS', KEYS[i], 'cache_exact') == 1 then redis.call('RPUSH', KEYS[1], id) end
end
"""

# Cancel a job: a queued one at once (handed to the learner to end its single flight); a running
# one is marked for the worker to stop, unless a single-flight follower waits for its answer.
# KEYS: the record, the learn queue, the unfinished set. ARGV: now, the job id. Returns the state
# before the call ("" when unknown, "followed" when others wait for it).
_CANCEL = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return '' end
if state == 'queued' then
  redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished_at', ARGV[1])
  redis.call('HDEL', KEYS[1], 'message')
  redis.call('ZREM', KEYS[3], ARGV[2])
  if redis.call('HEXISTS', KEYS[1], 'cache_exact') == 1 then redis.call('RPUSH', KEYS[2], ARGV[2]) end
end
if state == 'running' then
  if tonumber(redis.call('HGET', KEYS[1], 'followers') or '0') > 0 then return 'followed' end
  redis.call('HSET', KEYS[1], 'cancel_requested_at', ARGV[1])
end
return state
"""

# A job's message is published: note it (and keep the message) unless the job has ended already.
# KEYS: the record, the unfinished set. ARGV: now, the job id, the message (JSON).
_ENQUEUED = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' or state == 'running' then
  redis.call('HSET', KEYS[1], 'enqueued_at', ARGV[1], 'message', ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
end
"""

# Follow a job's answer (single flight), unless it is cancelled or being cancelled. Returns 1 when
# followed, 0 when not, -1 when it is not enqueued yet: try again, as its publishing may be under way.
_FOLLOW = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'cancelled' or redis.call('HEXISTS', KEYS[1], 'cancel_requested_at') == 1 then
  return 0
end
if state ~= 'done' and redis.call('HEXISTS', KEYS[1], 'enqueued_at') == 0 then return -1 end
redis.call('HINCRBY', KEYS[1], 'followers', 1)
return 1
"""


#: How long an accepted job waits, at most, for its record to reach REDIS_REPLICAS_ACK replicas.
REPLICA_WAIT_MS = 1000


def job_key(job_id: str) -> str:
    """The Redis key of a job's record."""
    return JOB_KEY_PREFIX + job_id


@dataclass
class JobStore:
    """Reads and moves job records; every transition is one atomic Redis call."""

    redis: Redis
    ttl_s: int
    #: Replicas that must hold a job's enqueued record before the API answers (0: do not wait).
    replicas_ack: int = 0
    _scripts: dict[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._scripts = {
            name: self.redis.register_script(source)
            for name, source in (
                ("claim", _CLAIM),
                ("done", _DONE),
                ("cancel", _CANCEL),
                ("follow", _FOLLOW),
                ("enqueued", _ENQUEUED),
            )
        }

    def create(self, job_id: str, record: JobRecord) -> JobRecord:
        """Write a new job's record (before its message is published)."""
        with self.redis.pipeline() as pipe:
            pipe.delete(job_key(job_id))
            pipe.hset(job_key(job_id), mapping=record.to_hash())
            pipe.expire(job_key(job_id), self.ttl_s)
            pipe.execute()
        return record

    def delete(self, job_id: str) -> None:
        """Forget a job (one whose message could not be published)."""
        self.redis.delete(job_key(job_id))

    def enqueued(self, job_id: str, kwargs: dict[str, Any], queue: str) -> None:
        """Note that the job's message is published: from now on identical requests may follow it,
        and until it ends its message must be on the broker (see `unfinished`)."""
        message = json.dumps({"kwargs": kwargs, "queue": queue})
        args = [repr(time.time()), job_id, message]
        if not self.replicas_ack:
            self._scripts["enqueued"](keys=[job_key(job_id), UNFINISHED_KEY], args=args)
            return
        # One connection: WAIT covers the writes sent on it. A job on a replica survives a failover;
        # if its message did not make it, the redelivery sends it again from this record.
        with self.redis.pipeline(transaction=False) as pipe:
            self._scripts["enqueued"](keys=[job_key(job_id), UNFINISHED_KEY], args=args, client=pipe)
            pipe.execute_command("WAIT", self.replicas_ack, REPLICA_WAIT_MS)
            pipe.execute()

    def unfinished(self, enqueued_before: float) -> list[str]:
        """Jobs enqueued before that time that have not ended (their records may have expired)."""
        return [j.decode() for j in self.redis.zrangebyscore(UNFINISHED_KEY, "-inf", enqueued_before)]

    def forget_unfinished(self, job_id: str) -> None:
        """Stop watching a job whose record has expired."""
        self.redis.zrem(UNFINISHED_KEY, job_id)

    def get(self, job_id: str) -> JobRecord | None:
        """The job's record, or None if it was never submitted or has expired."""
        raw = self.redis.hgetall(job_key(job_id))
        return JobRecord.from_hash({k.decode(): v.decode() for k, v in raw.items()}) if raw else None

    def cancel(self, job_id: str) -> str:
        """Cancel a queued job, or mark a running one; return the state it had (see _CANCEL)."""
        keys = [job_key(job_id), LEARN_QUEUE, UNFINISHED_KEY]
        return _text(self._scripts["cancel"](keys=keys, args=[repr(time.time()), job_id]))

    def follow(self, job_id: str) -> bool | None:
        """Count one more request waiting for this job's answer: True; False if it is cancelled or
        being cancelled; None if its message is not published yet (it may never be: ask again)."""
        answer = int(self._scripts["follow"](keys=[job_key(job_id)]))
        return None if answer < 0 else bool(answer)

    def claim(self, job_ids: list[str], batch_sizes: list[int], worker: str = "") -> list[tuple[str, float | None]]:
        """Mark jobs as running on `worker`, each in a batch of the given size.

        Returns each job's state before the claim and when it was submitted (None: no record).
        """
        args = [repr(time.time()), worker, *batch_sizes]
        flat = [_text(v) for v in self._scripts["claim"](keys=[job_key(j) for j in job_ids], args=args)]
        return [
            (state, float(created) if created else None) for state, created in zip(flat[::2], flat[1::2], strict=True)
        ]

    def take_cache_keys(self, job_id: str) -> bool:
        """Claim the job's answer for learning; True for exactly one caller."""
        return bool(self.redis.hdel(job_key(job_id), "cache_exact"))

    def drop_cache_keys(self, job_id: str) -> None:
        """Forget the cache keys once the answer is learned (or will not be)."""
        self.redis.hdel(job_key(job_id), *(f"cache_{f.name}" for f in fields(CacheKeys)))

    def has_cache_keys(self, job_id: str) -> bool:
        """The job's answer is still to be learned: claimed or not, its keys are not yet dropped."""
        return bool(self.redis.hexists(job_key(job_id), "cache_scope"))

    def record_timings(self, inference_ms: dict[str, float]) -> None:
        """Note when each job's generation ended and how long it took, before its result is stored."""
        finished = repr(time.time())
        with self.redis.pipeline() as pipe:
            for job_id, ms in inference_ms.items():
                pipe.hset(job_key(job_id), mapping={"finished_at": finished, "inference_ms": f"{ms:.1f}"})
            pipe.execute()

    def mark_done(self, job_ids: list[str]) -> None:
        """Mark jobs done once their results (or failures) are stored; cacheable ones go to the learner."""
        if job_ids:
            keys = [LEARN_QUEUE, UNFINISHED_KEY, *(job_key(j) for j in job_ids)]
            self._scripts["done"](keys=keys, args=[self.ttl_s, *job_ids])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

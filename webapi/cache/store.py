"""Cache entries in Redis, shared by every API process, and the log that keeps indexes in step.

    llm:cache:entry:<id>     hash: scope, text, result (JSON), source_id, vector (float32 bytes), exact,
                             and verified:<digest> per prompt it was verified against (verify.py)
    llm:cache:exact:<digest> the entry id for a scope + normalised text (the exact tier)
    llm:cache:lru            sorted set: entry id -> last use; the lowest are evicted past the bound
    llm:cache:log            stream of "add <id>" / "del <id>", read by every process's index
    llm:cache:flight:<digest> the job generating this exact prompt now (single flight)
    llm:cache:threshold:<digest> an entry's learned threshold, raised by a failed verification

Entries and exact keys expire after CACHE_TTL_S; every transition is one Lua call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from redis import Redis

from tasks.contract import CACHE_KEY_PREFIX as PREFIX

ENTRY, EXACT, LRU, LOG, FLIGHT, NEXT_ID, THRESHOLD = (
    PREFIX + "entry:",
    PREFIX + "exact:",
    PREFIX + "lru",
    PREFIX + "log",
    PREFIX + "flight:",
    PREFIX + "next_id",
    PREFIX + "threshold:",
)
VERIFIED = "verified:"  # an entry's field: a verification's verdict for one prompt
#: A failed verification sets the entry's threshold this far above the similarity that failed.
LEARNED_STEP = 0.01
#: The change log keeps about this many events; a process that falls further behind reloads.
LOG_LENGTH = 100_000

_INSERT = """
local existing = redis.call('GET', KEYS[4])
if existing then
  if ARGV[11] ~= '1' then return 0 end
  redis.call('DEL', ARGV[1] .. existing)
  redis.call('ZREM', KEYS[2], existing)
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[10], '*', 'op', 'del', 'id', existing)
end
local id = redis.call('INCR', KEYS[1])
local entry = ARGV[1] .. id
redis.call('HSET', entry, 'scope', ARGV[2], 'text', ARGV[3], 'result', ARGV[4], 'source_id', ARGV[5],
           'vector', ARGV[6], 'exact', KEYS[4])
redis.call('EXPIRE', entry, ARGV[7])
redis.call('SET', KEYS[4], id, 'EX', ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[9], id)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[10], '*', 'op', 'add', 'id', id)
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[8])
if excess > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[2], excess)
  for i = 1, #popped, 2 do
    local old = popped[i]
    local exact = redis.call('HGET', ARGV[1] .. old, 'exact')
    if exact and redis.call('GET', exact) == old then redis.call('DEL', exact) end
    redis.call('DEL', ARGV[1] .. old)
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[10], '*', 'op', 'del', 'id', old)
  end
end
return id
"""

# Read entries (by id, or the one an exact key names) in one round trip: each found is marked used
# and comes with its learned threshold (false if none); a missing (expired) one leaves the LRU.
_READ = """
local ids = {}
if ARGV[4] ~= '' then
  ids[1] = redis.call('GET', ARGV[4])
  if not ids[1] then return {} end
else
  for i = 6, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local out = {}
for _, id in ipairs(ids) do
  local fields = redis.call('HMGET', ARGV[1] .. id, 'text', 'result', 'source_id', 'exact')
  if fields[1] then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[3], id)
    local threshold = redis.call('GET', ARGV[2] .. string.sub(fields[4], #ARGV[5] + 1))
    out[#out + 1] = {id, fields[1], fields[2], fields[3], fields[4], threshold}
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""

_EVICT = """
local exact = redis.call('HGET', KEYS[1], 'exact')
if not exact then return 0 end
if redis.call('GET', exact) == ARGV[1] then redis.call('DEL', exact) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'op', 'del', 'id', ARGV[1])
return 1
"""

# A verification's verdict lives in its entry, so it goes when the entry goes; never recreate one.
# A claim is "pending:<time>"; one older than ARGV[3] seconds is taken over.
_CLAIM_VERIFICATION = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'gone' end
local verdict = redis.call('HGET', KEYS[1], ARGV[1])
local claimed = verdict and tonumber(string.match(verdict, '^pending:(.+)$'))
if verdict and not (claimed and tonumber(ARGV[2]) - claimed > tonumber(ARGV[3])) then
  return claimed and 'pending' or verdict
end
redis.call('HSET', KEYS[1], ARGV[1], 'pending:' .. ARGV[2])
return false
"""

_RECORD_VERDICT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == '' then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
"""

_END_FLIGHT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Entry:
    """A cached answer."""

    id: int
    text: str
    result: str  # JSON of the job's result
    source_id: str
    exact: str  # the key of its exact tier (names its learned threshold too)
    learned: float | None = None  # the threshold a failed verification set for it, when read

    def admits(self, similarity: float) -> bool:
        """A prompt this similar may be answered from it, as far as its learned threshold goes."""
        return self.learned is None or similarity >= self.learned


class CacheStore:
    """Redis operations of the cache."""

    def __init__(self, redis: Redis, ttl_s: int, max_entries: int, flight_ttl_s: int) -> None:
        self.redis, self.ttl_s, self.max_entries, self.flight_ttl_s = redis, ttl_s, max_entries, flight_ttl_s
        self._insert = redis.register_script(_INSERT)
        self._read = redis.register_script(_READ)
        self._end_flight = redis.register_script(_END_FLIGHT)
        self._evict = redis.register_script(_EVICT)
        self._claim_verification = redis.register_script(_CLAIM_VERIFICATION)
        self._record_verdict = redis.register_script(_RECORD_VERDICT)

    def insert(
        self, scope: str, exact: str, text: str, vector: np.ndarray, result: str, source_id: str, replace: bool = False
    ) -> int:
        """Store an answer; returns its id, or 0 if this exact prompt is cached and not `replace`."""
        vector_bytes = vector.astype(np.float32).tobytes()
        args = [ENTRY, scope, text, result, source_id, vector_bytes, self.ttl_s, self.max_entries]
        args += [repr(time.time()), LOG_LENGTH, "1" if replace else "0"]
        return int(self._insert(keys=[NEXT_ID, LRU, LOG, EXACT + exact], args=args))

    def exact(self, exact: str) -> Entry | None:
        """The entry cached for this exact digest, marked used."""
        entries = self._read_entries([], EXACT + exact)
        return entries[0] if entries else None

    def read(self, ids: list[int]) -> list[Entry]:
        """The entries that still exist among `ids`, in order, each marked used."""
        return self._read_entries(ids) if ids else []

    def _read_entries(self, ids: list[int], exact_key: str = "") -> list[Entry]:
        rows = self._read(keys=[LRU], args=[ENTRY, THRESHOLD, repr(time.time()), exact_key, EXACT, *ids])
        return [
            Entry(int(r[0]), r[1].decode(), r[2].decode(), r[3].decode(), r[4].decode(), _learned(r[5])) for r in rows
        ]

    def evict(self, entry_id: int) -> bool:
        """Remove an entry (and its exact key); every process's index drops it through the log."""
        keys = [ENTRY + str(entry_id), LRU, LOG]
        return bool(self._evict(keys=keys, args=[entry_id, LOG_LENGTH]))

    def tighten(self, exact_key: str, similarity: float) -> float:
        """Raise the threshold of the entry at `exact_key` above `similarity` (it outlives the entry,
        so the prompt's next entry starts strict); returns the new threshold."""
        key = THRESHOLD + exact_key.removeprefix(EXACT)
        current = self.redis.get(key)
        threshold = min(1.0, max(float(current) if current else 0.0, round(similarity + LEARNED_STEP, 4)))
        self.redis.set(key, repr(threshold), ex=self.ttl_s)
        return threshold

    def claim_verification(self, entry_id: int, exact: str, stale_s: float) -> str | None:
        """Claim the verification of entry `entry_id` against the prompt at digest `exact`: None if
        this caller now holds it, else what is known ("pending", "passed", or "gone": no entry). A
        claim older than `stale_s` is taken over."""
        args = [VERIFIED + exact, repr(time.time()), stale_s]
        verdict = self._claim_verification(keys=[ENTRY + str(entry_id)], args=args)
        return verdict.decode() if verdict is not None else None

    def record_verdict(self, entry_id: int, exact: str, verdict: str | None) -> None:
        """Keep a verification's verdict with its entry; None releases the claim (to verify again)."""
        self._record_verdict(keys=[ENTRY + str(entry_id)], args=[VERIFIED + exact, verdict or ""])

    def vectors(self, ids: list[int]) -> Iterator[tuple[int, str, np.ndarray]]:
        """(id, scope, vector) of each existing entry among `ids`."""
        with self.redis.pipeline(transaction=False) as pipe:
            for entry_id in ids:
                pipe.hmget(ENTRY + str(entry_id), "scope", "vector")
            rows = pipe.execute()
        for entry_id, (scope, vector) in zip(ids, rows, strict=True):
            if scope is not None and vector is not None:
                yield entry_id, scope.decode(), np.frombuffer(vector, dtype=np.float32)

    def all_ids(self) -> list[int]:
        """Every entry id in the LRU order."""
        return [int(i) for i in self.redis.zrange(LRU, 0, -1)]

    def log_position(self) -> str:
        """The id of the newest log event ("0-0" if none)."""
        newest = self.redis.xrevrange(LOG, count=1)
        return newest[0][0].decode() if newest else "0-0"

    def log_since(self, position: str, block_ms: int) -> tuple[list[tuple[str, str, int]], bool]:
        """Events after `position` as (event id, op, entry id), and whether events were lost to trimming."""
        info_first = self.redis.xrange(LOG, count=1)
        lost = bool(info_first) and position != "0-0" and _older(position, info_first[0][0].decode())
        reply = self.redis.xread({LOG: position}, count=1000, block=block_ms)
        events = [
            (event_id.decode(), fields[b"op"].decode(), int(fields[b"id"]))
            for _, stream in reply
            for event_id, fields in stream
        ]
        return events, lost

    def start_flight(self, exact: str, job_id: str) -> str | None:
        """Mark `job_id` as generating this prompt; return the job already doing it, if any."""
        if self.redis.set(FLIGHT + exact, job_id, nx=True, ex=self.flight_ttl_s):
            return None
        leader = self.redis.get(FLIGHT + exact)
        return leader.decode() if leader is not None else None

    def end_flight(self, exact: str, job_id: str) -> None:
        """Clear the single-flight mark if `job_id` still holds it."""
        self._end_flight(keys=[FLIGHT + exact], args=[job_id])


def _older(position: str, first: str) -> bool:
    """Is stream id `position` older than the oldest retained event (so events may be lost)?"""
    return tuple(int(p) for p in position.split("-")) < tuple(int(p) for p in first.split("-"))


def _learned(value: bytes | None) -> float | None:
    return float(value) if value else None  # Lua's false: None in RESP2, False in RESP3

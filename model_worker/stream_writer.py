"""Streamed text: the worker appends each streamed job's new text to that job's Redis stream.

One pipelined round trip per decode step, whatever the number of streamed rows. The layout of
a stream is described at tasks.contract.STREAM_KEY_PREFIX.
"""

from __future__ import annotations

from collections.abc import Iterable

from redis import Redis

from tasks.contract import STREAM_KEY_PREFIX, STREAM_MAX_ENTRIES, STREAM_TTL_S


class StreamPublisher:
    """Writes job streams; call from one thread (the batch thread)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def publish(self, deltas: Iterable[tuple[str, int, str]]) -> None:
        """Append (job id, offset, text) entries."""
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id, offset, text in deltas:
                key = STREAM_KEY_PREFIX + job_id
                pipe.xadd(key, {"o": offset, "t": text}, maxlen=STREAM_MAX_ENTRIES, approximate=True)
                pipe.expire(key, STREAM_TTL_S)
            pipe.execute()

    def end(self, job_ids: Iterable[str]) -> None:
        """Mark these jobs' streams finished: their results are stored."""
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                key = STREAM_KEY_PREFIX + job_id
                pipe.xadd(key, {"end": "1"}, maxlen=STREAM_MAX_ENTRIES, approximate=True)
                pipe.expire(key, STREAM_TTL_S)
            pipe.execute()

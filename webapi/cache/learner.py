"""The cache's completion hook: a finished job's answer is stored when the job ends, not when read.

The job record's done (or cancel) transition pushes the id of every job that carries cache keys
onto LEARN_QUEUE in the same atomic call (tasks/job_record.py). Each API process runs one learner
thread that pops ids and, for a succeeded job, stores its answer under the keys the submission
computed (the prompt's embedding included, so nothing is embedded again); failures are never
cached. Either way the job's single-flight mark ends. Taking the keys off the record is atomic, so
an id is learned once however many processes run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from redis import Redis

from tasks.contract import LEARN_QUEUE
from tasks.job_record import JobStore
from webapi.background import BackgroundLoop
from webapi.cache.semantic_cache import Probe, SemanticCache

log = logging.getLogger(__name__)

#: The longest a pop blocks, so that stop() is honoured soon.
POLL_S = 1


class Learner(BackgroundLoop):
    """Pops ended jobs and stores their answers in the cache."""

    thread_name, pause_s = "cache-learner", 0  # run_once blocks on the queue

    def __init__(
        self, redis: Redis, cache: SemanticCache, jobs: JobStore, result_of: Callable[[str], dict[str, Any] | None]
    ) -> None:
        """`result_of(job_id)`: the job's stored result, or None if it did not succeed."""
        super().__init__()
        self.redis, self.cache, self.jobs, self.result_of = redis, cache, jobs, result_of

    def learn(self, job_id: str) -> bool:
        """Store this ended job's answer (if it succeeded) and end its flight; True if this call did."""
        record = self.jobs.get(job_id)
        if record is None or record.cache is None or not self.jobs.take_cache_keys(job_id):
            return False  # expired, never cacheable, or another process took it
        keys = record.cache
        try:
            result = self.result_of(job_id)
            if result is not None:
                vector = np.frombuffer(keys.vector, dtype=np.float32) if keys.vector else None
                probe = Probe(keys.scope, keys.exact, keys.text, vector)
                self.cache.store_result(probe, result, job_id, replace=keys.mode == "refresh")
        finally:
            self.cache.store.end_flight(keys.exact, job_id)
            self.jobs.drop_cache_keys(job_id)
        return True

    def run_once(self, timeout_s: float = POLL_S) -> bool:
        """Learn the next ended job, waiting up to `timeout_s` for one; False if none came."""
        popped = self.redis.blpop([LEARN_QUEUE], timeout=timeout_s)
        if popped is None:
            return False
        self.learn(popped[1].decode())
        return True

"""Verified hits: a sample of semantic hits is generated again, off the request path, and checked.

The cache answers a semantic hit at once. With probability CACHE_VERIFY_RATE the same request is
also submitted as a bulk job (the Batch API's lane: it runs in slots interactive work leaves,
cache bypassed). When it finishes, the fresh answer is compared with the cached one:

- the same text (greedy decoding is deterministic), or answers whose MiniLM embeddings are at
  least ANSWER_SIMILARITY alike, pass: the cached answer fits the new prompt;
- otherwise the verification fails and the entry is treated as a wrong hit: its own threshold
  is raised above the similarity that served it (vCache's per-entry thresholds; the
  threshold outlives the entry, so the prompt's next entry starts strict), the entry is evicted,
  and the fresh answer is cached for the prompt that exposed it.

The answer is deterministic (only greedy or seeded requests are cached), so a prompt needs
verifying against an entry only once: the verdict is kept in the entry, and a later sampled hit
of the same pair counts that verdict instead of generating again.

`llm_cache_verifications_total{outcome}` on /metrics counts passed / failed / error on a random
CACHE_VERIFY_RATE sample of hits. With a small model the answer test is coarse (two right answers
can be worded apart), so the failed share bounds the wrong-hit rate from above (README). The cost
is one bulk generation per pair of prompt and entry verified. Pending verifications live in one
Redis hash that every API process polls, so a verification survives the process that started it.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from typing import Any

from redis import Redis

from tasks import metrics
from tasks.contract import CACHE_KEY_PREFIX, GenerationRequest
from tasks.errors import NotFound
from webapi.background import BackgroundLoop
from webapi.cache.semantic_cache import Hit, Probe, SemanticCache

log = logging.getLogger(__name__)

PENDING = CACHE_KEY_PREFIX + "verify:pending"
#: Verifications waiting at once, at most: a flood of hits does not become a flood of bulk work.
MAX_PENDING = 100
#: Two answers at least this alike (MiniLM cosine) say the same thing: the most discriminating
#: threshold on the dev set (bench/cache_verify.py), which is not very: see the README. (Chosen on
#: float32 embeddings; int8's move a cosine by about 0.004, far less than the test's coarseness.)
ANSWER_SIMILARITY = 0.74
POLL_S = 2.0
#: A claim older than this is taken for lost (its process died before the job was noted) and the
#: pair is verified again.
STALE_CLAIM_S = 3600
TERMINAL = {"succeeded", "failed", "cancelled"}


class Verifier(BackgroundLoop):
    """Starts verifications of sampled semantic hits and settles them when their jobs end."""

    thread_name, pause_s = "cache-verify", POLL_S

    def __init__(
        self,
        redis: Redis,
        cache: SemanticCache,
        rate: float,
        submit: Callable[[GenerationRequest, str, str], str],
        describe: Callable[[str], dict[str, Any]],
    ) -> None:
        """`submit(request, model, tenant)` enqueues a bulk job with the cache bypassed and returns its id;
        `describe(job_id)` returns its job object (status, result)."""
        super().__init__()
        self.redis, self.cache, self.rate = redis, cache, rate
        self.submit, self.describe = submit, describe
        self.recorder = metrics.Recorder(redis)

    def consider(self, request: GenerationRequest, model: str, tenant: str, probe: Probe, hit: Hit) -> str | None:
        """Verify this semantic hit with probability `rate`; returns the verification job's id.

        The answer is deterministic (only greedy or seeded requests are cached), so a prompt is
        verified against an entry once: a sampled hit whose pair passed before counts as passed
        without generating again, and one whose pair is being verified is left to that job."""
        if hit.kind != "semantic" or hit.entry is None or random.random() >= self.rate:
            return None
        store = self.cache.store
        if (known := store.claim_verification(hit.entry.id, probe.exact, STALE_CLAIM_S)) is not None:
            if known == "passed":
                self._count("passed")
            return None
        if self.redis.hlen(PENDING) >= MAX_PENDING:
            store.record_verdict(hit.entry.id, probe.exact, None)
            return None
        try:
            job_id = self.submit(request, model, tenant)
            pending = {
                "entry": hit.entry.id,
                "entry_exact": hit.entry.exact,
                "similarity": hit.similarity,
                "cached": hit.result.get("text", ""),
                "scope": probe.scope,
                "exact": probe.exact,
                "text": probe.text,
            }
            self.redis.hset(PENDING, job_id, json.dumps(pending))
        except BaseException:
            store.record_verdict(hit.entry.id, probe.exact, None)  # another hit may verify the pair
            raise
        return job_id

    def start(self) -> None:
        """Settle pending verifications on a background thread (none when the rate is 0)."""
        if self.rate > 0:
            super().start()

    def run_once(self) -> int:
        """One pass: settle what has ended."""
        return self.settle()

    def settle(self) -> int:
        """Settle every pending verification whose job has ended; returns how many this process did."""
        settled = 0
        for job_id, raw in self.redis.hgetall(PENDING).items():
            try:
                job = self.describe(job_id.decode())
            except NotFound:  # its record expired
                job = {"id": job_id.decode(), "status": "failed", "result": None}
            if job["status"] not in TERMINAL or not self.redis.hdel(PENDING, job_id):
                continue  # running, or another process took it
            self._settle(json.loads(raw), job)
            settled += 1
        return settled

    def _settle(self, pending: dict[str, Any], job: dict[str, Any]) -> None:
        store = self.cache.store
        if job["status"] != "succeeded":
            outcome = "error"
            store.record_verdict(pending["entry"], pending["exact"], None)
        elif self.same_answer(pending["cached"], job["result"].get("text", "")):
            outcome = "passed"
            store.record_verdict(pending["entry"], pending["exact"], outcome)
        else:
            outcome = "failed"
            threshold = store.tighten(pending["entry_exact"], pending["similarity"])
            store.evict(pending["entry"])
            probe = Probe(pending["scope"], pending["exact"], pending["text"])
            self.cache.store_result(probe, job["result"], job["id"], replace=True)
            log.warning(
                "cache verification failed: %r was served entry %s at similarity %.3f; evicted, threshold now %.3f",
                pending["text"][:80], pending["entry"], pending["similarity"], threshold,
            )  # fmt: skip
        self._count(outcome)

    def _count(self, outcome: str) -> None:
        with self.recorder.pipeline() as rec:
            rec.add(metrics.CACHE_VERIFICATIONS, outcome=outcome)

    def same_answer(self, cached: str, fresh: str) -> bool:
        """The two answers say the same thing: equal text, or embeddings at least ANSWER_SIMILARITY alike."""
        if " ".join(cached.split()) == " ".join(fresh.split()):
            return True
        if not cached.strip() or not fresh.strip():
            return False
        vectors = self.cache.embedder.embed([cached, fresh])
        return float(vectors[0] @ vectors[1]) >= ANSWER_SIMILARITY

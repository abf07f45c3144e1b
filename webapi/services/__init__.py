"""What the routes call, built once per process from the settings.

    services = Services.build(settings)   # connects lazily: loads no model, starts no thread
    services.start()                      # where the process starts (webapi/wsgi.py)
    app = create_app(settings, services)

`start()` loads the embedding model, starts the cache index follower and waits (bounded) for the
index to load, then starts the other background threads: the cache learner (stores answers as
jobs end), the verifier, the Batch API driver, and the redelivery of messages the broker lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from celery import Celery, states
from redis import Redis

from tasks import redis_connect
from tasks.celery_app import REDIS_CONNECT_TIMEOUT_S, make_celery
from tasks.job_record import JobStore
from tasks.metrics import Recorder
from tasks.settings import Settings
from tasks.shared_tokenizer import SharedTokenizers
from webapi.bulk.batch_store import BatchStore
from webapi.bulk.driver import BatchDriver
from webapi.bulk.file_store import FileStore
from webapi.cache import paraphrase
from webapi.cache.embedder import Embedder
from webapi.cache.learner import Learner
from webapi.cache.semantic_cache import SemanticCache
from webapi.cache.store import CacheStore
from webapi.cache.verify import Verifier
from webapi.services.cancellation import Canceller
from webapi.services.job_reader import JobReader
from webapi.services.models import ModelRegistry
from webapi.services.rate_limits import RateLimiter
from webapi.services.redelivery import Redelivery
from webapi.services.submission import Submitter
from webapi.services.tenant_jobs import TenantJobs

log = logging.getLogger(__name__)

#: How long a starting process waits for its cache index before it serves without the semantic
#: tier until the index has loaded. One process loads 100 000 entries in about 20 s on 2 cores
#: (bench/RESULTS.md); gunicorn's processes load theirs at once, beside their models.
CACHE_INDEX_WAIT_S = 30.0


@dataclass
class Services:
    """The API's services over one Redis client and one Celery app."""

    settings: Settings
    redis: Redis
    celery: Celery
    metrics: Recorder
    models: ModelRegistry  # the default model, the known ones, and the live workers of each
    submitter: Submitter
    reader: JobReader
    canceller: Canceller
    files: FileStore
    batches: BatchStore
    driver: BatchDriver
    redelivery: Redelivery
    embedder: Embedder  # the cache's model, also behind /v1/embeddings
    tokenizers: SharedTokenizers  # each model's worker's, behind /tokenize
    limiter: RateLimiter  # per-tenant requests and tokens per minute
    cache: SemanticCache | None
    learner: Learner | None
    verifier: Verifier | None

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Every service for `settings`, unstarted; nothing connects until it is used."""
        # Fail fast when Redis is away (503 in about REDIS_CONNECT_TIMEOUT_S, no retry storm).
        redis = redis_connect.client(
            settings, socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S, socket_timeout=10, retry=None
        )
        celery = make_celery(settings)
        store = JobStore(redis, settings.result_ttl_s, settings.redis_replicas_ack)
        embedder = Embedder(settings.embed_model)
        cache = _semantic_cache(settings, redis, embedder) if settings.cache_enabled else None
        models = ModelRegistry(redis, settings.known_models)
        tenant_jobs = TenantJobs(redis, settings.tenant_max_jobs)
        submitter = Submitter(celery, redis, store, models, cache, settings.max_queue_depth, tenant_jobs)
        reader = JobReader(celery, redis, store)
        files, batches = FileStore(redis, settings.data_dir), BatchStore(redis)
        driver = BatchDriver(
            batches, files, submitter, reader, settings.limits, models, settings.batch_window, embedder
        )
        learner = verifier = None
        if cache is not None:
            learner = Learner(redis, cache, store, lambda job_id: _succeeded(celery, job_id))
            verifier = Verifier(
                redis,
                cache,
                settings.cache_verify_rate,
                submit=lambda request, model, tenant: submitter.submit(
                    request, model, "bypass", tenant, bulk=True, background=True
                )[0],
                describe=reader.describe,
            )
            submitter.verifier = verifier
        canceller = Canceller(celery, store, reader)
        return cls(
            settings, redis, celery, Recorder(redis), models, submitter, reader, canceller, files, batches, driver,
            Redelivery(celery, redis, store, models), embedder, SharedTokenizers(redis),
            RateLimiter(redis, settings.tenant_requests_per_minute, settings.tenant_tokens_per_minute), cache,
            learner, verifier,
        )  # fmt: skip

    def start(self) -> None:
        """Load the embedding model (cache off: at the first /v1/embeddings), wait for the cache's
        index to load, so that a process serves semantic hits from its first request on, then start
        the other threads. The wait is bounded: with Redis away, or an index too large to load within
        CACHE_INDEX_WAIT_S, the process serves without the semantic tier until the index loads. (The
        other threads start after it: a process stopped while it waits has no work half done.)"""
        if self.cache is not None:
            self.embedder.load()
            if self.cache.paraphrase is not None:
                self.cache.paraphrase.load()
            self.cache.start()
            if not self.cache.tried.wait(CACHE_INDEX_WAIT_S):
                log.warning("the cache index is still loading: semantic hits start once it has loaded")
        for worker in (self.learner, self.verifier, self.driver, self.redelivery):
            if worker is not None:
                worker.start()

    def stop(self) -> None:
        """Stop the background threads."""
        for worker in (self.redelivery, self.driver, self.verifier, self.learner, self.cache):
            if worker is not None:
                worker.stop()


def _semantic_cache(settings: Settings, redis: Redis, embedder: Embedder) -> SemanticCache:
    store = CacheStore(redis, settings.cache_ttl_s, settings.cache_max_entries, settings.visibility_timeout_s)
    model = paraphrase.at(settings.paraphrase_model_dir)
    threshold, rewording_threshold, paraphrase_threshold = settings.cache_bars(model is not None)
    return SemanticCache(store, embedder, threshold, rewording_threshold, model, paraphrase_threshold)


def _succeeded(celery: Celery, job_id: str) -> dict[str, Any] | None:
    meta = celery.backend.get_task_meta(job_id)
    return meta["result"] if meta.get("status") == states.SUCCESS else None

"""The HTTP API: a Flask application factory with one blueprint per resource."""

from __future__ import annotations

from flask import Flask
from redis import Redis

from tasks.celery_app import REDIS_CONNECT_TIMEOUT_S, make_celery
from tasks.contract import Limits
from tasks.settings import Settings
from webapi import auth, batches, completions, dashboard, errors, files, health, jobs, metrics, openapi
from webapi.bulk.batches import BatchStore
from webapi.bulk.driver import BatchDriver
from webapi.bulk.files import FileStore
from webapi.cache.embedder import Embedder
from webapi.cache.semantic_cache import SemanticCache
from webapi.cache.store import CacheStore
from webapi.cache.verify import Verifier
from webapi.job_service import JobService

#: Request bodies larger than this are refused with 413 before they are parsed.
BODY_OVERHEAD_BYTES = 64 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    """Build the API for `settings` (default: from the environment)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.json.sort_keys = False
    app.config.update(
        SETTINGS=settings,
        LIMITS=Limits(settings.max_new_tokens_limit, settings.default_max_tokens, settings.max_prompt_chars),
        # UTF-8 takes at most 4 bytes a character and JSON escapes at most 6: bound the body early.
        MAX_CONTENT_LENGTH=settings.max_prompt_chars * 6 + BODY_OVERHEAD_BYTES,
    )
    # Fail fast when Redis is away (503 in about REDIS_CONNECT_TIMEOUT_S, no retry storm).
    redis = Redis.from_url(
        settings.redis_url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S, socket_timeout=10, retry=None
    )
    cache = _semantic_cache(settings, redis) if settings.cache_enabled else None
    jobs_service = JobService(
        make_celery(settings), redis, settings.model_name, settings.result_ttl_s, cache, settings.max_queue_depth
    )
    limits = app.config["LIMITS"]
    file_store, batch_store = FileStore(redis, settings.data_dir), BatchStore(redis)
    app.extensions.update(jobs=jobs_service, files=file_store, batches=batch_store)
    driver = BatchDriver(batch_store, file_store, jobs_service, limits, settings.model_name, settings.batch_window)
    driver.start()
    if cache is not None:
        jobs_service.verifier = Verifier(
            redis,
            cache,
            settings.cache_verify_rate,
            submit=lambda request, tenant: jobs_service.submit(request, "bypass", tenant, bulk=True)[0],
            describe=jobs_service.describe,
        )
        jobs_service.verifier.start()
    errors.register(app)
    metrics.install(app, jobs_service)  # before auth: refused requests are counted too
    auth.install(app, auth.load_keys(settings))
    app.register_blueprint(jobs.bp)
    app.register_blueprint(completions.bp)
    app.register_blueprint(files.bp)
    app.register_blueprint(batches.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(dashboard.bp)
    return app


def _semantic_cache(settings: Settings, redis: Redis) -> SemanticCache:
    store = CacheStore(redis, settings.cache_ttl_s, settings.cache_max_entries, settings.visibility_timeout_s)
    cache = SemanticCache(store, Embedder.load(settings.embed_model), settings.model_name, settings.cache_threshold)
    cache.start()
    return cache

"""Every Redis connection of the service, from one place: REDIS_URL, or Redis Sentinel.

With REDIS_SENTINELS ("host:port,host:port,...") the master named REDIS_SENTINEL_MASTER is found
through the sentinels, and every client follows a failover: redis-py clients through
`Sentinel.master_for` (a connection that breaks asks the sentinels again), Celery's broker and
result backend through `sentinel://` URLs. REDIS_URL still gives the database and the password
(its host and port are then unused); REDIS_SENTINEL_PASSWORD is the sentinels' own, if any.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from redis import Redis
from redis.sentinel import Sentinel

from tasks.settings import Settings


def client(settings: Settings, **options: Any) -> Redis:
    """A redis-py client of the master (options: socket timeouts, retry)."""
    if not settings.redis_sentinels:
        return Redis.from_url(settings.redis_url, **options)
    url = urlsplit(settings.redis_url)
    sentinel = Sentinel(
        _sentinels(settings),
        sentinel_kwargs=_sentinel_kwargs(settings, options),
        socket_timeout=options.get("socket_timeout"),
    )
    return sentinel.master_for(
        settings.redis_sentinel_master, db=_db(settings), password=url.password, username=url.username, **options
    )


def celery_urls(settings: Settings) -> tuple[str, dict[str, Any]]:
    """The broker and result backend URL, and the transport options that go with it."""
    if not settings.redis_sentinels:
        return settings.redis_url, {}
    url = urlsplit(settings.redis_url)
    auth = f"{quote(url.username or '')}:{quote(url.password)}@" if url.password else ""
    joined = ";".join(f"sentinel://{auth}{host}:{port}/{_db(settings)}" for host, port in _sentinels(settings))
    options: dict[str, Any] = {"master_name": settings.redis_sentinel_master}
    if settings.redis_sentinel_password:
        options["sentinel_kwargs"] = {"password": settings.redis_sentinel_password}
    return joined, options


def _sentinels(settings: Settings) -> list[tuple[str, int]]:
    pairs = []
    for entry in settings.redis_sentinels.split(","):
        host, _, port = entry.strip().rpartition(":")
        pairs.append((host, int(port)))
    return pairs


def _db(settings: Settings) -> int:
    path = urlsplit(settings.redis_url).path.strip("/")
    return int(path) if path else 0


def _sentinel_kwargs(settings: Settings, options: dict[str, Any]) -> dict[str, Any]:
    kwargs = {k: v for k, v in options.items() if k in ("socket_timeout", "socket_connect_timeout")}
    if settings.redis_sentinel_password:
        kwargs["password"] = settings.redis_sentinel_password
    return kwargs

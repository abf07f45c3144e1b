"""Services.start(): the cache index first, waited for (bounded), then the other background threads."""

from __future__ import annotations

import logging
import threading
from dataclasses import fields

from redis import Redis

import webapi.services
from tests import stack
from webapi.cache.semantic_cache import SemanticCache
from webapi.cache.store import CacheStore
from webapi.services import Services


class _Thread:
    def __init__(self, name: str, events: list[str]) -> None:
        self.name, self.events = name, events

    def start(self) -> None:
        self.events.append(self.name)


class _Cache:
    """A cache whose index ends its first load `load_s` after start (never if None)."""

    paraphrase = None

    def __init__(self, events: list[str], load_s: float | None) -> None:
        self.events, self.load_s, self.tried = events, load_s, threading.Event()

    def start(self) -> None:
        self.events.append("cache")
        if self.load_s is not None:
            threading.Timer(self.load_s, self._loaded).start()

    def _loaded(self) -> None:
        self.events.append("index loaded")
        self.tried.set()


class _Embedder:
    dimensions = 384

    def load(self) -> _Embedder:
        return self


def _start(cache: _Cache, events: list[str]) -> None:
    parts: dict = {f.name: None for f in fields(Services)}
    threads = {name: _Thread(name, events) for name in ("learner", "verifier", "driver", "redelivery")}
    Services(**{**parts, **threads, "embedder": _Embedder(), "cache": cache}).start()


def test_the_other_threads_start_once_the_cache_index_has_loaded():
    events: list[str] = []
    _start(_Cache(events, load_s=0.2), events)
    assert events == ["cache", "index loaded", "learner", "verifier", "driver", "redelivery"]


def test_an_index_still_loading_at_the_bound_is_not_waited_for(monkeypatch, caplog):
    monkeypatch.setattr(webapi.services, "CACHE_INDEX_WAIT_S", 0.1)
    events: list[str] = []
    with caplog.at_level(logging.WARNING):
        _start(_Cache(events, load_s=None), events)
    assert events == ["cache", "learner", "verifier", "driver", "redelivery"]
    assert "the cache index is still loading" in caplog.text


def test_a_first_load_that_fails_ends_the_wait_at_once():
    """Redis away: the process serves at once (exact tier errors, semantic tier off) and retries."""
    dead = Redis(port=stack.free_port(), socket_connect_timeout=1)  # nothing listens there
    cache = SemanticCache(CacheStore(dead, ttl_s=60, max_entries=10, flight_ttl_s=60), _Embedder(), threshold=0.8)
    cache.start()
    try:
        assert cache.tried.wait(webapi.services.CACHE_INDEX_WAIT_S / 2)
        assert not cache.ready.is_set()
    finally:
        cache.stop()

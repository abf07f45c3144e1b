"""Every shared fixture: a private Redis, the real model, a real worker and API processes.

Each starts only when a test asks for it: tests/unit asks for none of them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from tasks.settings import DEFAULT_MODEL, Settings
from tests import stack
from tests.samples import SERVICE_ENV


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with stack.redis_server() as url:
        yield url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis_lib.Redis]:
    """A client on database 15 of the private server, flushed per test (unit tests of Redis code)."""
    client = redis_lib.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/15")
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(scope="session")
def engine():  # -> model_worker.engine.Engine, imported here: unit tests never load torch
    """The default model as the worker runs it, in this process (to compare with what the service returns)."""
    from model_worker.engine import Engine

    return Engine.from_settings(Settings.from_env(SERVICE_ENV))


@pytest.fixture(scope="session")
def embedder():  # -> webapi.cache.embedder.Embedder
    """The embedding model as the API runs it, in this process."""
    from webapi.cache.embedder import Embedder

    return Embedder().load()


@pytest.fixture(scope="session")
def worker(redis_url: str, logs_dir: Path, engine: object) -> Iterator[subprocess.Popen]:
    # `engine` first: it converts the GGUF once, so the worker starts from the cache.
    proc = stack.start_worker(redis_url, logs_dir / "worker.log", SERVICE_ENV)
    yield proc
    stack.stop(proc)


@pytest.fixture(scope="session")
def api(redis_url: str, worker: subprocess.Popen, logs_dir: Path) -> Iterator[str]:
    """Base URL of an API served by the worker."""
    proc, base = stack.start_api(redis_url, logs_dir / "api.log", SERVICE_ENV)
    yield base
    stack.stop(proc)


@pytest.fixture(scope="session")
def idle_api(redis_url: str, logs_dir: Path) -> Iterator[tuple[str, redis_lib.Redis]]:
    """An API on its own Redis database whose worker (announced, never consuming) is busy: queued jobs stay queued."""
    url = redis_url.rsplit("/", 1)[0] + "/1"
    with stack.announced_worker(url, DEFAULT_MODEL):
        proc, base = stack.start_api(url, logs_dir / "idle-api.log", SERVICE_ENV)
        yield base, redis_lib.Redis.from_url(url)
        stack.stop(proc)

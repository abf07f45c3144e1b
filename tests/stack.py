"""Start the real service parts as processes: a private Redis, a model worker, the API.

Used by the integration tests and the benchmarks; every process gets its own port, and Redis
keeps its data in a temporary directory, so nothing touches a user's Redis.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import redis
import requests

from tasks.contract import HEARTBEAT_S, WORKER_INFO_KEY, WORKERS_KEY

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, timeout_s: float, what: str, proc: subprocess.Popen | None = None) -> None:
    """Poll `check()` until true; fail with `what` on timeout or if `proc` dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what}: not ready after {timeout_s} s")


@contextmanager
def redis_server(extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """A private redis-server on a free port; yields its URL (database 0)."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError("redis-server not found: apt-get install redis-server (scripts/setup.sh does)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="llm-test-redis-")
    proc = subprocess.Popen(
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            workdir,
            "--save",
            "",
            "--appendonly",
            "no",
            *extra_args,
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _answers(port), 10, "redis-server", proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _answers(port: int) -> bool:
    """The server on `port` is up (a password it asks for counts as up)."""
    try:
        return bool(redis.Redis(port=port).ping())
    except redis.AuthenticationError:
        return True
    except redis.ResponseError as exc:
        return "NOAUTH" in str(exc)


def service_env(redis_url: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a service process."""
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env.update(overrides or {})
    return env


def start_worker(redis_url: str, log_path: Path, overrides: Mapping[str, str] | None = None) -> subprocess.Popen:
    """A model worker process; returns once it has loaded the model and is consuming."""
    client = redis.Redis.from_url(redis_url)
    before = {m.decode() for m in client.zrange("llm:workers", 0, -1)}
    hostname = f"worker-{free_port()}@%h"
    proc = subprocess.Popen(
        [
            str(BIN / "celery"),
            "-A",
            "model_worker.worker",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--hostname",
            hostname,
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=service_env(redis_url, overrides),
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
    )
    wait_until(lambda: {m.decode() for m in client.zrange("llm:workers", 0, -1)} - before, 180, "worker", proc)
    return proc


def start_api(
    redis_url: str, log_path: Path, overrides: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    """The API under gunicorn on a free port; returns the process and its base URL."""
    port = free_port()
    data = str(log_path.parent / "data")  # Batch API files: beside the logs, never in the checkout
    env = service_env(redis_url, {"API_BIND": f"127.0.0.1:{port}", "DATA_DIR": data, **(overrides or {})})
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "webapi/gunicorn_conf.py", "webapi.wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: requests.get(f"{base}/healthz", timeout=1).ok, 60, "api", proc)
    return proc, base


@contextmanager
def running_api(redis_url: str, log_path: Path, overrides: Mapping[str, str] | None = None) -> Iterator[str]:
    """start_api for a `with` block: its base URL, and the API stopped at the end."""
    proc, base = start_api(redis_url, log_path, overrides)
    try:
        yield base
    finally:
        stop(proc)


def wait_idle(redis_url: str, timeout_s: float = 120) -> None:
    """Wait until no job waits in a queue or runs: what an earlier test left behind is done."""
    client = redis.Redis.from_url(redis_url)

    def idle() -> bool:
        if any(client.llen(queue) for queue in client.scan_iter(match="llm.generate*@*")):
            return False
        return all(client.hget(key, "state") != b"running" for key in client.scan_iter("llm:job:*", count=1000))

    wait_until(idle, timeout_s, "the service to go idle")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout_s: float = 60) -> int:
    """Signal a process and wait for it (kill it if it lingers); return its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@contextmanager
def announced_worker(redis_url: str, model: str) -> Iterator[None]:
    """A worker's heartbeat for `model` from a worker that consumes nothing (a busy one, as the
    API sees it): the API accepts the model's jobs, and they stay queued."""
    client = redis.Redis.from_url(redis_url)
    hostname = f"announced-{free_port()}@test"
    stop_beating = threading.Event()

    def announce() -> None:
        client.zadd(WORKERS_KEY, {hostname: time.time()})
        client.hset(WORKER_INFO_KEY, hostname, json.dumps({"model": model, "device": "none"}))

    def beat() -> None:
        while not stop_beating.wait(HEARTBEAT_S):
            announce()

    announce()  # before the block runs: its first request must find the worker
    beat_thread = threading.Thread(target=beat, daemon=True)
    beat_thread.start()
    try:
        yield
    finally:
        stop_beating.set()
        beat_thread.join()
        client.zrem(WORKERS_KEY, hostname)
        client.hdel(WORKER_INFO_KEY, hostname)

"""Nothing accepted is lost: the worker killed or stopped mid-batch, two workers sharing a queue.

Each test has its own Redis, workers and API, since it breaks them on purpose.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
import requests

from tasks.contract import GenerationRequest
from tasks.settings import Settings
from tests import stack
from tests.samples import QUEUES

FAST_RECOVERY = {"VISIBILITY_TIMEOUT_S": "20", "BATCH_WAIT_MS": "50", "MAX_BATCH_SIZE": "8"}


@pytest.fixture
def private(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """A Redis and an API of this test's own: (redis url, api base url, log dir)."""
    with stack.redis_server() as url:
        proc, base = stack.start_api(url, tmp_path / "api.log", FAST_RECOVERY)
        yield url, base, tmp_path
        stack.stop(proc)


def _submit(base: str, count: int, max_tokens: int = 24) -> list[str]:
    bodies = [{"prompt": f"Count from {n}:", "max_tokens": max_tokens, "cache": "bypass"} for n in range(count)]
    return [requests.post(f"{base}/v1/jobs", json=b, timeout=10).json()["id"] for b in bodies]


def _jobs(base: str, ids: list[str]) -> list[dict]:
    return [requests.get(f"{base}/v1/jobs/{job_id}", timeout=10).json() for job_id in ids]


def _wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_kill_9_mid_batch_loses_nothing_and_duplicates_are_bounded(private):
    url, base, logs = private
    worker = stack.start_worker(url, logs / "worker1.log", FAST_RECOVERY)
    ids = _submit(base, 24)
    _wait_for(lambda: any(j["status"] == "running" for j in _jobs(base, ids)), 60, "no batch started")
    held = sum(j["status"] == "running" for j in _jobs(base, ids))
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    replacement = stack.start_worker(url, logs / "worker2.log", FAST_RECOVERY)
    try:
        _wait_for(lambda: all(j["status"] == "succeeded" for j in _jobs(base, ids)), 180, "jobs were lost")
    finally:
        stack.stop(replacement)
    jobs = _jobs(base, ids)
    reruns = sum(j["attempts"] - 1 for j in jobs)
    assert held > 0 and reruns <= 16  # at most what the killed worker held: one batch running, one buffered
    assert all(j["attempts"] >= 1 for j in jobs)
    print(f"kill -9: {held} running when killed, {reruns} jobs run twice, all {len(ids)} finished")


def test_sigterm_finishes_the_running_batch_and_returns_the_rest(private):
    url, base, logs = private
    worker = stack.start_worker(url, logs / "worker1.log", FAST_RECOVERY)
    ids = _submit(base, 24)
    _wait_for(lambda: any(j["status"] == "running" for j in _jobs(base, ids)), 60, "no batch started")
    running = {j["id"] for j in _jobs(base, ids) if j["status"] == "running"}
    assert stack.stop(worker, signal.SIGTERM, timeout_s=120) == 0  # a warm shutdown, not a kill
    after_stop = {j["id"]: j["status"] for j in _jobs(base, ids)}
    assert all(after_stop[job_id] == "succeeded" for job_id in running)  # the running batch was stored
    waiting = [job_id for job_id, status in after_stop.items() if status != "succeeded"]
    assert waiting and all(after_stop[j] == "queued" for j in waiting)  # none started, none lost
    assert redis_lib.Redis.from_url(url).llen(QUEUES.interactive) == len(waiting)  # all back on the queue at once
    replacement = stack.start_worker(url, logs / "worker2.log", FAST_RECOVERY)
    try:
        _wait_for(lambda: all(j["status"] == "succeeded" for j in _jobs(base, ids)), 120, "jobs were lost")
    finally:
        stack.stop(replacement)
    assert all(j["attempts"] == 1 for j in _jobs(base, ids))  # nothing ran twice


def test_two_workers_share_one_queue_and_one_can_leave(private, engine):
    url, base, logs = private
    first = stack.start_worker(url, logs / "worker1.log", FAST_RECOVERY)
    second = stack.start_worker(url, logs / "worker2.log", FAST_RECOVERY)
    try:
        ids = _submit(base, 32, max_tokens=12)
        _wait_for(lambda: all(j["status"] == "succeeded" for j in _jobs(base, ids)), 180, "jobs not finished")
        jobs = _jobs(base, ids)
        workers = {j["worker"] for j in jobs}
        assert len(workers) == 2  # both took work
        expected = engine.generate([GenerationRequest(prompt=f"Count from {n}:", max_tokens=12) for n in range(32)])
        assert [j["result"]["text"] for j in jobs] == [c.text for c in expected]  # each answer to its requester
        stack.stop(first)
        more = _submit(base, 8, max_tokens=4)
        _wait_for(lambda: all(j["status"] == "succeeded" for j in _jobs(base, more)), 120, "the survivor stalled")
        survivors = {j["worker"] for j in _jobs(base, more)}
        assert len(survivors) == 1 and survivors < workers
    finally:
        stack.stop(first)
        stack.stop(second)


def test_redis_down_is_503_quickly_and_everything_recovers_with_persistence(tmp_path: Path):
    """Redis with append-only persistence stops under load and comes back on the same port."""
    port = stack.free_port()
    data = tmp_path / "redis-data"
    data.mkdir()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--appendonly", "yes"]
    url = f"redis://127.0.0.1:{port}/0"

    def start_redis():
        proc = subprocess.Popen(["redis-server", *args], stdout=subprocess.DEVNULL)
        stack.wait_until(lambda: redis_lib.Redis(port=port).ping(), 10, "redis", proc)
        return proc

    server = start_redis()
    api, base = stack.start_api(url, tmp_path / "api.log", FAST_RECOVERY)
    worker = stack.start_worker(url, tmp_path / "worker.log", FAST_RECOVERY)
    try:
        ids = _submit(base, 16)
        stack.stop(server)  # a clean stop writes the append-only file
        started = time.monotonic()
        down = requests.post(f"{base}/v1/jobs", json={"prompt": "hi"}, timeout=30)
        assert down.status_code == 503 and time.monotonic() - started < 10
        assert requests.get(f"{base}/v1/jobs/{ids[0]}", timeout=30).status_code == 503
        chat = {"model": Settings.from_env({}).model_name, "messages": [{"role": "user", "content": "hi"}]}
        openai_down = requests.post(f"{base}/v1/chat/completions", json=chat, timeout=30)
        assert openai_down.status_code == 503
        assert openai_down.json()["error"]["type"] == "service_unavailable_error"
        server = start_redis()
        _wait_for(lambda: requests.get(f"{base}/v1/jobs/{ids[0]}", timeout=30).status_code == 200, 30, "no recovery")
        _wait_for(lambda: all(j["status"] == "succeeded" for j in _jobs(base, ids)), 240, "jobs were lost")
        after = requests.post(
            f"{base}/v1/generate", json={"prompt": "hi", "max_tokens": 2, "cache": "bypass"}, timeout=60
        )
        assert after.json()["status"] == "succeeded"
    finally:
        stack.stop(worker)
        stack.stop(api)
        stack.stop(server)


def test_a_password_in_redis_url_works(tmp_path: Path):
    with stack.redis_server(("--requirepass", "s3cret-pass")) as open_url:
        url = open_url.replace("redis://", "redis://:s3cret-pass@")
        api, base = stack.start_api(url, tmp_path / "api.log", FAST_RECOVERY)
        worker = stack.start_worker(url, tmp_path / "worker.log", FAST_RECOVERY)
        try:
            job = requests.post(f"{base}/v1/generate", json={"prompt": "hi", "max_tokens": 2}, timeout=60).json()
            assert job["status"] == "succeeded"
        finally:
            stack.stop(worker)
            stack.stop(api)
        wrong_api, wrong_base = stack.start_api(open_url.replace("redis://", "redis://:wrong@"), tmp_path / "w.log")
        try:
            assert requests.post(f"{wrong_base}/v1/jobs", json={"prompt": "hi"}, timeout=30).status_code == 503
        finally:
            stack.stop(wrong_api)

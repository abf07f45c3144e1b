"""Redis Sentinel: the master dies under load, a replica is elected, and nothing accepted is lost."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import redis as redis_lib
import requests

from tests import stack
from tests.samples import SERVICE_ENV

MASTER = "mymaster"
FAST_RECOVERY = {"VISIBILITY_TIMEOUT_S": "20", "BATCH_WAIT_MS": "50", "MAX_BATCH_SIZE": "8"}


def _redis(folder: Path, port: int, *args: str) -> subprocess.Popen:
    folder.mkdir()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)]
    return subprocess.Popen([*command, *args], stdout=subprocess.DEVNULL)


def _sentinel(tmp_path: Path, port: int, master_port: int) -> subprocess.Popen:
    config = tmp_path / f"sentinel-{port}.conf"  # a sentinel rewrites its file: one each
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {master_port} 2\n"
        f"sentinel down-after-milliseconds {MASTER} 1000\nsentinel failover-timeout {MASTER} 5000\n"
    )
    return subprocess.Popen(["redis-server", str(config), "--sentinel"], stdout=subprocess.DEVNULL)


def _master_port(sentinel_port: int) -> int:
    _, port = redis_lib.Redis(port=sentinel_port).sentinel_get_master_addr_by_name(MASTER)
    return int(port)


def _submit(base: str, count: int, tag: str) -> list[str]:
    bodies = [{"prompt": f"{tag}: count from {n}:", "max_tokens": 16, "cache": "bypass"} for n in range(count)]
    return [requests.post(f"{base}/v1/jobs", json=b, timeout=30).json()["id"] for b in bodies]


def _keep_submitting(base: str, stop: threading.Event, accepted: list[str], refused: list[int]) -> None:
    """Submit a job every 0.2 s through the failover, as a client would: keep the id of each one
    answered 2xx (those must finish), and the status of each refused (0: no answer in 10 s)."""
    n = 0
    while not stop.wait(0.2):
        n += 1
        body = {"prompt": f"during: count from {n}:", "max_tokens": 16, "cache": "bypass"}
        try:
            response = requests.post(f"{base}/v1/jobs", json=body, timeout=10)
        except requests.RequestException:
            refused.append(0)
            continue
        if response.ok:
            accepted.append(response.json()["id"])
        else:
            refused.append(response.status_code)


CACHED = {"prompt": "Name one primary colour.", "max_tokens": 8, "temperature": 0, "timeout": 120}


def test_a_failover_under_load_loses_no_accepted_job(tmp_path: Path):
    master_port, replica_port = stack.free_port(), stack.free_port()
    sentinel_ports = [stack.free_port() for _ in range(3)]
    master = _redis(tmp_path / "master", master_port)
    replica = _redis(tmp_path / "replica", replica_port, "--replicaof", "127.0.0.1", str(master_port))
    sentinels = [_sentinel(tmp_path, port, master_port) for port in sentinel_ports]
    processes = [master, replica, *sentinels]
    url = f"redis://127.0.0.1:{master_port}/0"
    sentinels_setting = ",".join(f"127.0.0.1:{p}" for p in sentinel_ports)
    env = {**SERVICE_ENV, **FAST_RECOVERY, "REDIS_SENTINELS": sentinels_setting, "REDIS_REPLICAS_ACK": "1"}
    try:
        replica_info = redis_lib.Redis(port=replica_port).info
        stack.wait_until(lambda: replica_info("replication")["master_link_status"] == "up", 30, "replication")
        stack.wait_until(lambda: all(_master_port(p) == master_port for p in sentinel_ports), 30, "sentinels")
        api, base = stack.start_api(url, tmp_path / "api.log", env)
        worker = stack.start_worker(url, tmp_path / "worker.log", env)
        processes += [worker, api]
        answer = requests.post(f"{base}/v1/generate", json=CACHED, timeout=150).json()["result"]["text"]

        def cached() -> bool:
            return requests.post(f"{base}/v1/generate", json=CACHED, timeout=30).headers.get("X-Cache") == "HIT"

        stack.wait_until(cached, 10, "the answer was not cached")
        redis_lib.Redis(port=master_port).wait(1, 5000)  # the cache entry is on the replica too
        before = _submit(base, 12, "before")
        during: list[str] = []
        refused: list[int] = []
        stop = threading.Event()
        client = threading.Thread(target=_keep_submitting, args=(base, stop, during, refused))
        client.start()
        master.send_signal(signal.SIGKILL)
        killed = time.monotonic()

        def accepted() -> bool:  # a new job recorded and published on the new master (200: already done)
            probe = {"prompt": "Are you back?", "max_tokens": 2, "cache": "bypass"}
            return requests.post(f"{base}/v1/jobs", json=probe, timeout=30).status_code in (200, 202)

        try:
            stack.wait_until(lambda: _master_port(sentinel_ports[0]) == replica_port, 60, "no failover")
            elected = time.monotonic()
            stack.wait_until(accepted, 30, "the API did not come back")
            back = time.monotonic()
            time.sleep(2)  # the client keeps going for a while after recovery
        finally:
            stop.set()
            client.join()
        after = _submit(base, 12, "after")
        jobs = before + during + after

        def finished() -> bool:
            states = [requests.get(f"{base}/v1/jobs/{j}", timeout=30).json().get("status") for j in jobs]
            return all(s == "succeeded" for s in states)

        stack.wait_until(finished, 240, "accepted jobs were lost")
        runs = [requests.get(f"{base}/v1/jobs/{j}", timeout=30).json()["attempts"] for j in jobs]
        again = requests.post(f"{base}/v1/generate", json=CACHED, timeout=60)
        print(
            f"failover: elected {elected - killed:.1f} s after the kill, the API back {back - elected:.1f} s later; "
            f"{len(jobs)} jobs accepted ({len(during)} during the failover, {len(refused)} refused then), "
            f"all finished, {sum(r > 1 for r in runs)} run twice"
        )
        assert back - elected < 10
        assert again.status_code == 200, again.text
        assert again.headers["X-Cache"] == "HIT" and again.json()["result"]["text"] == answer  # the cache kept serving
        assert set(refused) <= {0, 503}  # refused only as unavailable, never a 500
    finally:
        for proc in reversed(processes):
            stack.stop(proc)

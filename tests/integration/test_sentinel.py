"""Redis Sentinel: the master dies under load, a replica is elected, and nothing accepted is lost."""

from __future__ import annotations

import signal
import subprocess
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
        before = _submit(base, 12, "before")
        master.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        stack.wait_until(lambda: _master_port(sentinel_ports[0]) == replica_port, 60, "no failover")
        elected = time.monotonic()

        def accepted() -> bool:  # a new job recorded and published on the new master (200: already done)
            probe = {"prompt": "Are you back?", "max_tokens": 2, "cache": "bypass"}
            return requests.post(f"{base}/v1/jobs", json=probe, timeout=30).status_code in (200, 202)

        stack.wait_until(accepted, 30, "the API did not come back")
        back = time.monotonic()
        after = _submit(base, 12, "after")
        jobs = before + after

        def finished() -> bool:
            states = [requests.get(f"{base}/v1/jobs/{j}", timeout=30).json().get("status") for j in jobs]
            return all(s == "succeeded" for s in states)

        stack.wait_until(finished, 240, "accepted jobs were lost")
        print(f"failover: elected {elected - killed:.1f} s after the kill, the API back {back - elected:.1f} s later")
        assert back - elected < 10
    finally:
        for proc in reversed(processes):
            stack.stop(proc)

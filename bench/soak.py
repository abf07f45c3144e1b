"""A soak: mixed load for a stretch while faults keep coming; then, did anything accepted get lost?

    .venv/bin/python -m bench.soak [--minutes 30]      # writes bench/results/soak.json

Load (loopback only, bounded): interactive jobs, streamed chat completions, repeated prompts (cache
hits), and a Batch API batch, served by two workers (one thread each: the machine's two cores).
Faults, one every 45–90 s in turn: one worker SIGKILLed (a new one started; the other lives
through the whole run, so its memory over the run is measured), Redis restarted (append-only
file: the data survives), the youngest API process SIGKILLed (gunicorn starts another; the
eldest lives through the run, measured as the steady worker is). At the end every
accepted job (answered 2xx) is followed to its end.
Reported: accepted vs finished jobs, jobs run twice, 5xx outside fault windows (a fault's window
is the 30 s after it), each process's RSS over the run, and Redis's key count.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis as redis_lib
import requests

from bench.run import RESULTS, _children, machine
from tests import stack
from tests.samples import SERVICE_ENV

FAULT_WINDOW_S = 30.0
ENV = {**SERVICE_ENV, "VISIBILITY_TIMEOUT_S": "20", "MAX_BATCH_SIZE": "8"}
#: Two workers share two cores: one OpenMP thread each (see RESULTS.md, two models on one machine).
WORKER_ENV = {**ENV, "OMP_NUM_THREADS": "1"}


class Redis:
    """A redis-server with append-only persistence that can be restarted on its port."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder = stack.free_port(), folder
        folder.mkdir(parents=True, exist_ok=True)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = self._start()

    def _start(self) -> subprocess.Popen:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder), "--appendonly", "yes"]
        proc = subprocess.Popen(["redis-server", *args], stdout=subprocess.DEVNULL)
        stack.wait_until(lambda: redis_lib.Redis(port=self.port).ping(), 10, "redis", proc)
        return proc

    def restart(self) -> None:
        stack.stop(self.proc)
        self.proc = self._start()


class Soak:
    def __init__(self, minutes: float, folder: Path) -> None:
        self.deadline = time.monotonic() + minutes * 60
        self.folder = folder
        self.redis = Redis(folder / "redis")
        self.api, self.base = stack.start_api(self.redis.url, folder / "api.log", ENV)
        self.steady = stack.start_worker(self.redis.url, folder / "steady-worker.log", WORKER_ENV)  # never killed
        self.worker = stack.start_worker(self.redis.url, folder / "worker.log", WORKER_ENV)
        self.accepted: list[str] = []
        self.errors: list[tuple[float, int, str]] = []  # (time, status, route)
        self.faults: list[tuple[float, str]] = []
        self.rss: list[dict[str, float]] = []
        self.lock = threading.Lock()

    # Load ------------------------------------------------------------------------------------

    def _post(self, route: str, body: dict[str, Any], **kwargs: Any) -> requests.Response | None:
        try:
            response = requests.post(f"{self.base}{route}", json=body, timeout=120, **kwargs)
        except requests.RequestException:
            return None  # connection refused or reset (an API process died): nothing was accepted
        if response.status_code >= 500:
            with self.lock:
                self.errors.append((time.monotonic(), response.status_code, route))
        return response

    def interactive(self, seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < self.deadline:
            repeat = rng.random() < 0.3  # a repeated prompt: a cache hit once its first answer is learned
            prompt = f"Name a colour, {rng.randint(1, 5)}." if repeat else f"Tell me about {rng.random():.6f}."
            cache = "auto" if repeat else "bypass"
            response = self._post("/v1/jobs", {"prompt": prompt, "max_tokens": 16, "cache": cache})
            if response is not None and response.status_code in (200, 202):
                with self.lock:
                    self.accepted.append(response.json()["id"])
            time.sleep(rng.uniform(0.5, 1.5))

    def streams(self, seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < self.deadline:
            body = {"model": self.model, "stream": True, "max_tokens": 24,
                    "messages": [{"role": "user", "content": f"Write about {rng.random():.5f}."}]}  # fmt: skip
            response = self._post("/v1/chat/completions", body, stream=True)
            if response is not None and response.ok:
                try:
                    for _ in response.iter_lines():
                        pass
                except requests.RequestException:
                    pass  # an API process died mid-stream
            time.sleep(rng.uniform(1, 3))

    def batch(self) -> None:
        lines = "".join(
            json.dumps({"custom_id": f"b{i}", "method": "POST", "url": "/v1/chat/completions", "body": {
                "model": self.model, "max_tokens": 16, "temperature": 0, "cache": "bypass",
                "messages": [{"role": "user", "content": f"Summarise item {i}."}]}}) + "\n"
            for i in range(400)
        )  # fmt: skip
        file = requests.post(f"{self.base}/v1/files", files={"file": ("soak.jsonl", lines)},
                             data={"purpose": "batch"}, timeout=60).json()  # fmt: skip
        body = {"input_file_id": file["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        self.batch_id = requests.post(f"{self.base}/v1/batches", json=body, timeout=60).json()["id"]

    # Faults and measurements -----------------------------------------------------------------

    def faults_loop(self) -> None:
        kinds = ["worker", "redis", "api"]
        turn = 0
        while True:
            time.sleep(random.uniform(45, 90))
            if time.monotonic() > self.deadline - FAULT_WINDOW_S:
                return
            kind = kinds[turn % len(kinds)]
            turn += 1
            with self.lock:
                self.faults.append((time.monotonic(), kind))
            if kind == "worker":
                self.worker.send_signal(signal.SIGKILL)
                self.worker.wait(10)
                self.worker = stack.start_worker(self.redis.url, self.folder / "worker.log", WORKER_ENV)
            elif kind == "redis":
                self.redis.restart()
            else:
                children = _children(self.api.pid)
                if len(children) > 1:  # the youngest: the eldest lives through the run, so its memory is measured
                    subprocess.run(["kill", "-9", str(max(children, key=_started))], check=False)
            print(f"{time.strftime('%H:%M:%S')} fault: {kind}", flush=True)

    def measure_loop(self) -> None:
        while time.monotonic() < self.deadline:
            sample: dict[str, float | None] = {
                "t": time.monotonic(),
                f"worker-{self.worker.pid}": _rss(self.worker.pid),
                f"steady-worker-{self.steady.pid}": _rss(self.steady.pid),
            }
            for pid in _children(self.api.pid):
                sample[f"api-{pid}"] = _rss(pid)
            with self.lock:
                self.rss.append(sample)
            time.sleep(20)

    def run(self) -> dict[str, Any]:
        self.model = requests.get(f"{self.base}/v1/models", timeout=10).json()["data"][0]["id"]
        self.batch()
        threads = [threading.Thread(target=self.interactive, args=(i,)) for i in range(4)]
        threads += [threading.Thread(target=self.streams, args=(100,)), threading.Thread(target=self.measure_loop)]
        threads.append(threading.Thread(target=self.faults_loop, daemon=True))
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads[:-1]:
            thread.join()
        return self.report(started)

    def report(self, started: float) -> dict[str, Any]:
        client = redis_lib.Redis.from_url(self.redis.url)
        drain_until = time.monotonic() + 300
        pending = list(self.accepted)
        finished, attempts = {}, {}
        while pending and time.monotonic() < drain_until:
            still = []
            for job_id in pending:
                try:
                    job = requests.get(f"{self.base}/v1/jobs/{job_id}", timeout=30).json()
                except requests.RequestException:
                    still.append(job_id)
                    continue
                if job.get("status") in ("succeeded", "failed", "cancelled"):
                    finished[job_id] = job["status"]
                    attempts[job_id] = int(client.hget(f"llm:job:{job_id}", "attempts") or 0)
                else:
                    still.append(job_id)
            pending = still
            if pending:
                time.sleep(2)
        outside = [e for e in self.errors if not any(0 <= e[0] - t <= FAULT_WINDOW_S for t, _ in self.faults)]
        batch = requests.get(f"{self.base}/v1/batches/{self.batch_id}", timeout=30).json()
        third = started + (time.monotonic() - started) / 3  # RSS growth over the last two thirds
        late = [s for s in self.rss if s["t"] >= third]
        growth = {}  # per process that lived through all of them (the steady worker, the eldest API process)
        for name in set(late[0]) & set(late[-1]) - {"t"} if late else ():
            if late[0][name] and late[-1][name]:
                growth[name] = round(late[-1][name] / late[0][name] - 1, 3)
        return {
            "scenario": "soak",
            "minutes": round((time.monotonic() - started) / 60, 1),
            "faults": [kind for _, kind in self.faults],
            "accepted": len(self.accepted),
            "finished": len(finished),
            "lost": len(pending),
            "succeeded": sum(s == "succeeded" for s in finished.values()),
            "run_twice": sum(a > 1 for a in attempts.values()),
            "errors_5xx": len(self.errors),
            "errors_5xx_outside_fault_windows": len(outside),
            "batch_request_counts": batch.get("request_counts"),
            "rss_growth_last_two_thirds": growth,
            "rss_samples_mib": self.rss[-1] if self.rss else {},
            "redis_keys_at_end": client.dbsize(),
            "redis_keys_without_ttl": _without_ttl(client),
        }

    def close(self) -> None:
        stack.stop(self.worker)
        stack.stop(self.steady)
        stack.stop(self.api)
        stack.stop(self.redis.proc)


def _without_ttl(client: redis_lib.Redis) -> dict[str, int]:
    """Keys that never expire, by prefix: each should have an owner that bounds it."""
    counts: dict[str, int] = {}
    for key in client.scan_iter(count=1000):
        if client.ttl(key) == -1:
            prefix = ":".join(key.decode().split(":")[:2])
            counts[prefix] = counts.get(prefix, 0) + 1
    return counts


def _started(pid: int) -> int:
    """When the process started, in clock ticks since boot (/proc/PID/stat's 22nd field)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def _rss(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    print(f"logs in {folder}")
    soak = Soak(args.minutes, folder)
    try:
        result = soak.run()
    finally:
        soak.close()
    result.update(machine=machine(), measured_at=time.strftime("%Y-%m-%d %H:%M:%S"))
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

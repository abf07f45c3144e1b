"""Two models behind one API: what a second model's worker costs the first.

Model A (the default) is loaded by 8 closed-loop clients, first alone, then while a second worker
serves model B (the same weights under another id, "smollm2-b": the only other model this offline
machine has) to 8 clients of its own. Each worker's CPU time is read from /proc over each window.
The issue's bar: A's throughput falls by no more than the share of the CPU that B's worker takes.
Run "together" twice: with each worker's default thread count, and with OMP_NUM_THREADS=1 each (two
single-threaded workers on two cores, what this machine allows without oversubscribing it).

    .venv/bin/python -m bench.run two_models [--quick]
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench import load
from tasks.settings import DEFAULT_MODEL
from tests import stack

SECOND = "smollm2-b"
CLIENTS, MAX_TOKENS = 8, 32
WORDS = "river lantern copper orchard violin glacier harbour meadow falcon quarry saffron tundra".split()


def _bodies(model: str, count: int, seed: int) -> list[tuple[Any, dict[str, Any]]]:
    rng = random.Random(seed)
    return [
        (
            model,
            {
                "model": model,
                "messages": [{"role": "user", "content": f"Write a sentence about {rng.choice(WORDS)} number {i}."}],
                "max_tokens": MAX_TOKENS,
                "cache": "bypass",
            },
        )
        for i in range(count)
    ]


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _window(base: str, loads: dict[str, int], pids: dict[str, int], seconds: float, seed: int) -> dict[str, Any]:
    """Run each model's clients at once for `seconds`; tokens/s and CPU share per model."""
    before = {name: _cpu_s(pid) for name, pid in pids.items()}
    url = f"{base}/v1/generate"
    with ThreadPoolExecutor(len(loads)) as pool:
        runs = {
            model: pool.submit(load.run, url, _bodies(model, 10_000, seed), CLIENTS, 0.0, seconds) for model in loads
        }
        summaries = {model: load.summary(*run.result()) for model, run in runs.items()}
    cpu = {name: round(_cpu_s(pid) - before[name], 1) for name, pid in pids.items()}
    total_cpu = sum(cpu.values()) or 1.0
    return {
        model: {
            "tokens_per_s": s["tokens_per_s"],
            "p50_ms": s["p50_ms"],
            "p95_ms": s["p95_ms"],
            "errors": s["errors"],
            "worker_cpu_s": cpu[model],
            "cpu_share": round(cpu[model] / total_cpu, 3),
        }
        for model, s in summaries.items()
    }


def two_models(service: Any, quick: bool) -> dict[str, Any]:
    """Model A's tokens/s alone and beside model B's worker, with each worker's CPU time."""
    seconds = 15.0 if quick else 60.0
    result: dict[str, Any] = {"scenario": "two_models", "clients_per_model": CLIENTS, "max_tokens": MAX_TOKENS}
    for threads in ("default", "1"):
        env = {} if threads == "default" else {"OMP_NUM_THREADS": threads}
        service.start_worker(**env)
        pids = {DEFAULT_MODEL: service.worker.pid}
        _window(service.base, {DEFAULT_MODEL: 1}, pids, 5.0, 0)  # warm-up
        alone = _window(service.base, {DEFAULT_MODEL: 1}, pids, seconds, 1)
        second_env = {**service.env, **env, "SERVED_MODEL_NAME": SECOND}
        second = stack.start_worker(service.redis_url, service.logs / "second-worker.log", second_env)
        try:
            stack.wait_until(lambda: _listed(service.base, SECOND), 15, "the second model", second)
            pids[SECOND] = second.pid
            _window(service.base, {SECOND: 1}, pids, 5.0, 2)  # warm-up
            together = _window(service.base, {DEFAULT_MODEL: 1, SECOND: 1}, pids, seconds, 3)
        finally:
            stack.stop(second)
        a_alone, a_together = alone[DEFAULT_MODEL]["tokens_per_s"], together[DEFAULT_MODEL]["tokens_per_s"]
        b_share = together[SECOND]["cpu_share"]
        result[f"threads_{threads}"] = {
            "alone": alone,
            "together": together,
            "a_kept": round(a_together / a_alone, 3),
            "b_cpu_share": b_share,
            "met": a_together / a_alone >= 1 - b_share,
            "combined_vs_a_alone": round((a_together + together[SECOND]["tokens_per_s"]) / a_alone, 3),
        }
    service.stop_worker()
    print(f"{'threads':>8} {'A alone':>8} {'A with B':>9} {'B':>6} {'A kept':>7} {'B CPU':>6} {'A+B/A':>6} met")
    for threads in ("default", "1"):
        row = result[f"threads_{threads}"]
        print(
            f"{threads:>8} {row['alone'][DEFAULT_MODEL]['tokens_per_s']:>8} "
            f"{row['together'][DEFAULT_MODEL]['tokens_per_s']:>9} {row['together'][SECOND]['tokens_per_s']:>6} "
            f"{row['a_kept']:>7.0%} {row['b_cpu_share']:>6.0%} {row['combined_vs_a_alone']:>6} {row['met']}"
        )
    return result


def _listed(base: str, model: str) -> bool:
    return model in [m["id"] for m in requests.get(f"{base}/v1/models", timeout=5).json()["data"]]

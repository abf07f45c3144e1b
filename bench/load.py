"""An asyncio HTTP load generator (aiohttp): N concurrent clients, bounded in count and time."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np


@dataclass
class Sample:
    """One request as the client saw it."""

    tag: Any
    text: str
    status: int
    latency_s: float
    cache: str
    job: dict[str, Any]


async def _client(
    session: aiohttp.ClientSession,
    url: str,
    next_body: Callable[[], tuple[Any, dict] | None],
    think_s: float,
    samples: list[Sample],
    deadline: float,
) -> None:
    if think_s:  # users arrive spread over one think time, not all in the same instant
        await asyncio.sleep(random.uniform(0, think_s))
    while time.monotonic() < deadline and (item := next_body()) is not None:
        tag, body = item
        started = time.monotonic()
        async with session.post(url, json=body) as response:
            job = await response.json()
            status, cache = response.status, response.headers.get("X-Cache", "")
            location = response.headers.get("Location")
        while status == 202 and location:  # not finished within the sync timeout: poll, as a client would
            await asyncio.sleep(0.2)
            async with session.get(url.split("/v1/")[0] + location) as response:
                job = await response.json()
            if job.get("status") in ("succeeded", "failed", "cancelled"):
                status = 200
        text = body.get("prompt") or body["messages"][-1]["content"]
        samples.append(Sample(tag, text, status, time.monotonic() - started, cache, job))
        if think_s:  # a person reads, then asks again: 0.5x to 1.5x the mean think time
            await asyncio.sleep(random.uniform(0.5 * think_s, 1.5 * think_s))


def run(
    url: str, bodies: list[tuple[Any, dict]], clients: int, think_s: float = 0.0, max_s: float = 600.0
) -> tuple[list[Sample], float]:
    """POST each (tag, body) once, from `clients` concurrent clients; returns samples and wall time."""
    pending = iter(bodies)

    def next_body() -> tuple[Any, dict] | None:
        return next(pending, None)

    async def main() -> list[Sample]:
        samples: list[Sample] = []
        connector = aiohttp.TCPConnector(limit=clients)
        timeout = aiohttp.ClientTimeout(total=max_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            deadline = time.monotonic() + max_s
            await asyncio.gather(
                *(_client(session, url, next_body, think_s, samples, deadline) for _ in range(clients))
            )
        return samples

    started = time.monotonic()
    samples = asyncio.run(main())
    return samples, time.monotonic() - started


def summary(samples: list[Sample], wall_s: float) -> dict[str, Any]:
    """Latency percentiles (ms), throughput, cache verdicts, batch sizes and tokens."""
    latencies = np.array([s.latency_s for s in samples]) * 1000
    tokens = sum((s.job.get("result") or {}).get("completion_tokens", 0) for s in samples)
    batches = Counter((s.job.get("batch") or {}).get("size") for s in samples if s.cache != "HIT")
    return {
        "requests": len(samples),
        "errors": sum(s.status >= 400 for s in samples),
        "not_finished": sum(s.status == 202 for s in samples),
        "wall_s": round(wall_s, 2),
        "requests_per_s": round(len(samples) / wall_s, 2),
        "tokens_per_s": round(tokens / wall_s, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "p95_ms": round(float(np.percentile(latencies, 95)), 1),
        "p99_ms": round(float(np.percentile(latencies, 99)), 1),
        "cache": dict(Counter(s.cache for s in samples)),
        "batch_sizes": {str(k): v for k, v in sorted(batches.items(), key=lambda kv: kv[0] or 0)},
    }

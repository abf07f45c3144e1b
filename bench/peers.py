"""The race: our service against llama.cpp's `llama-server`, side by side on this machine.

    .venv/bin/python -m bench.peers [--seconds 60] [--clients 1,8,16] [--servers ours,f32x8,f32x16,q4_1x8,q4_1x16]

One workload for every server: streamed chat completions through the OpenAI route, prompts from
bench/data/chat_prompts.txt, max_tokens drawn from 16/32/64/128 (a fixed sequence), greedy, our
cache bypassed; closed-loop clients, each sending its next request when its previous answer
ends. For each server and client count: tokens/s (the completion tokens generated while the
clients were sending, over that time), time to first token and end-to-end latency (p50, p95).
Servers run one at a time, each alone on the machine. llama-server is a peer, not a dependency:
bench/peers/prepare.sh builds it and converts our cached safetensors to an f32 GGUF; the Q4_1
GGUF is the one the model package ships.
Writes bench/results/peers.json (bench/report.py puts it in RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import requests

from bench.run import RESULTS, Service, machine
from tasks.settings import DEFAULT_MODEL, Settings
from tests import stack

PROMPTS = Path(__file__).parent / "data" / "chat_prompts.txt"
MAX_TOKENS = (16, 32, 64, 128)
HERE = Path(__file__).resolve().parent


def workload(count: int, seed: int = 0) -> list[tuple[str, int]]:
    """The fixed sequence of (prompt, max_tokens) every server gets (another per seed)."""
    prompts = PROMPTS.read_text().splitlines()
    rng = random.Random(seed)
    return [(prompts[(i + 7 * seed) % len(prompts)], rng.choice(MAX_TOKENS)) for i in range(count)]


async def _ask(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, float]:
    """One streamed chat completion: when it started, its first token came, it ended; its tokens."""
    started, first, chunks, usage = time.monotonic(), None, 0, None
    async with session.post(url, json=body) as response:
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status} {await response.text()}")
        async for raw in response.content:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if event.get("usage"):
                usage = event["usage"]["completion_tokens"]
            for choice in event.get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    chunks += 1
                    first = first or time.monotonic()
    done = time.monotonic()
    return {"started": started, "first": first or done, "done": done, "tokens": usage or chunks}


def race(
    base: str, model: str, clients: int, seconds: float, extra: dict[str, Any], seed: int = 0
) -> tuple[list[dict[str, float]], float]:
    """Closed-loop clients for `seconds`: every answer's timings, and the tokens made in that window."""
    requests_ = iter(workload(100_000, seed))
    url = f"{base}/v1/chat/completions"

    def body() -> dict[str, Any]:
        prompt, max_tokens = next(requests_)
        return {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
            **extra,
        }

    async def client(session: aiohttp.ClientSession, deadline: float, samples: list[dict[str, float]]) -> None:
        while time.monotonic() < deadline:
            samples.append(await _ask(session, url, body()))

    async def main() -> tuple[list[dict[str, float]], float]:
        samples: list[dict[str, float]] = []
        timeout = aiohttp.ClientTimeout(total=600)
        # A connection per request: llama-server closes one after a streamed answer.
        connector = aiohttp.TCPConnector(limit=clients, force_close=True)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await _ask(session, url, body())  # warm-up, not counted
            started = time.monotonic()
            await asyncio.gather(*(client(session, started + seconds, samples) for _ in range(clients)))
            return samples, started

    samples, started = asyncio.run(main())
    return samples, sum(s["tokens"] * _share_in(s, started, started + seconds) for s in samples)


def summary(samples: list[dict[str, float]], tokens: float, seconds: float) -> dict[str, Any]:
    """Throughput over the windows, and latency percentiles over every answer."""
    ttft = np.array([s["first"] - s["started"] for s in samples]) * 1000
    e2e = np.array([s["done"] - s["started"] for s in samples]) * 1000
    return {
        "requests": len(samples),
        "seconds": seconds,
        "tokens": round(tokens),
        "tokens_per_s": round(tokens / seconds, 1),
        "ttft_p50_ms": round(float(np.percentile(ttft, 50))),
        "ttft_p95_ms": round(float(np.percentile(ttft, 95))),
        "e2e_p50_ms": round(float(np.percentile(e2e, 50))),
        "e2e_p95_ms": round(float(np.percentile(e2e, 95))),
    }


def _share_in(sample: dict[str, float], start: float, end: float) -> float:
    """The share of a request's tokens generated inside [start, end] (evenly after the first).

    Throughput counts the closed-loop window only, not the tail in which the last answers drain
    with fewer and fewer clients (which would measure how long the last answer is).
    """
    first, done = sample["first"], sample["done"]
    if done <= first:
        return 1.0 if start <= done <= end else 0.0
    return max(0.0, min(done, end) - max(first, start)) / (done - first)


@contextmanager
def llama_server(binary: str, gguf: str, slots: int, logs: Path) -> Iterator[str]:
    """llama-server on a free port with `slots` parallel slots (1024 tokens of context each)."""
    port = stack.free_port()
    command = [binary, "-m", gguf, "--host", "127.0.0.1", "--port", str(port), "-np", str(slots)]
    command += ["-c", str(1024 * slots), "-t", str(os.cpu_count() or 2), "--jinja", "--no-webui"]
    log = (logs / f"llama-server-{Path(gguf).stem}-{slots}.log").open("ab")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        stack.wait_until(lambda: requests.get(f"{base}/health", timeout=1).ok, 120, "llama-server", proc)
        yield base
    finally:
        stack.stop(proc)


def _peer_files(model_dir: str) -> tuple[str, dict[str, str]]:
    """The llama-server binary and the GGUF files by name (f32, q4_1)."""
    import importlib.util

    from model_worker.loading import BUNDLED_GGUF

    lines = subprocess.run(
        [str(HERE / "peers" / "prepare.sh"), model_dir], check=True, capture_output=True, text=True
    ).stdout.split()
    package, filename = BUNDLED_GGUF[DEFAULT_MODEL]
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is not installed"
    return lines[0], {"f32": lines[1], "q4_1": str(Path(spec.submodule_search_locations[0]) / filename)}


def _converted_model_dir() -> str:
    """Our safetensors copy of the default model (converting it if this is the first start)."""
    from model_worker import loading
    from tasks.settings import Settings

    settings = Settings.from_env({})
    source = loading.resolve(settings.model_name)
    return loading._converted(source, Path(settings.model_cache_dir))


def _our_defaults() -> dict[str, str]:
    """The engine settings our service ran with, unless --env changed them."""
    settings = Settings()
    names = ("max_batch_size", "batch_wait_ms", "max_step_tokens", "model_dtype", "prefix_cache_tokens")
    return {name.upper(): str(getattr(settings, name)) for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="per server and client count, in --rounds parts")
    parser.add_argument("--rounds", type=int, default=3, help="servers take turns, so a slower minute hits all")
    parser.add_argument("--clients", default="1,8,16")
    parser.add_argument(
        "--servers", default="ours,f32x8,f32x16,q4_1x8,q4_1x16", help="ours, and llama-server's GGUF x slots"
    )
    parser.add_argument("--env", default="", help="our service's settings, e.g. MAX_BATCH_SIZE=16,MODEL_DTYPE=int8")
    parser.add_argument("--output", default="peers")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    env = dict(kv.split("=", 1) for kv in args.env.split(",") if kv)
    logs = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    print(f"logs in {logs}")
    binary, ggufs = _peer_files(_converted_model_dir())
    part = args.seconds / args.rounds
    with ExitStack() as stack_:
        bases: dict[str, tuple[str, dict[str, Any]]] = {}
        for server in args.servers.split(","):
            if server == "ours":
                service = Service(logs, env)
                stack_.callback(service.close)
                service.start_worker()
                bases["ours"] = (service.base, {"cache": "bypass"})
            else:
                name, slots = server.split("x")
                bases[f"llama-server {name}, {slots} slots"] = (
                    stack_.enter_context(llama_server(binary, ggufs[name], int(slots), logs)),
                    {},
                )
        rows = []
        for n in clients:
            collected: dict[str, tuple[list[dict[str, float]], float]] = {name: ([], 0.0) for name in bases}
            for round_ in range(args.rounds):
                for name, (base, extra) in bases.items():  # the same requests for every server
                    samples, tokens = race(base, DEFAULT_MODEL, n, part, extra, seed=round_)
                    collected[name] = (collected[name][0] + samples, collected[name][1] + tokens)
            for name, (samples, tokens) in collected.items():
                rows.append({"server": name, "clients": n, **summary(samples, tokens, args.seconds)})
                print(json.dumps(rows[-1]), flush=True)
        ours_memory = service.memory() if "ours" in bases else None
    ratios = {}
    for n in clients if "ours" in bases and len(bases) > 1 else []:
        peers = [r for r in rows if r["server"] != "ours" and r["clients"] == n]
        best = max(peers, key=lambda r: r["tokens_per_s"])
        ours = next(r for r in rows if r["server"] == "ours" and r["clients"] == n)
        ratios[str(n)] = {
            "best_peer": best["server"],
            "tokens_per_s_ratio": round(ours["tokens_per_s"] / best["tokens_per_s"], 2),
            "ttft_p50_ratio": round(ours["ttft_p50_ms"] / best["ttft_p50_ms"], 2),
            "ttft_p95_ratio": round(ours["ttft_p95_ms"] / best["ttft_p95_ms"], 2),
            "ttft_p50_ratio_to_fastest_peer": round(ours["ttft_p50_ms"] / min(r["ttft_p50_ms"] for r in peers), 2),
        }
    print(json.dumps(ratios, indent=2))
    result = {
        "scenario": "peers",
        "seconds": args.seconds,
        "rounds": args.rounds,
        "max_tokens": list(MAX_TOKENS),
        "our_settings": {**_our_defaults(), **env},
        "rows": rows,
        "versus_best_peer": ratios,
        "memory": ours_memory,
        "machine": machine(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.output}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

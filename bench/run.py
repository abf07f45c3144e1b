"""Benchmarks of the whole service, each against a private Redis, a real worker and the API.

    .venv/bin/python -m bench.run [SCENARIO ...] [--quick]

Scenarios: all_cache, batching, sweep, mixed, cold_start, streaming, bulk_interference,
structured (bench/structured.py), two_models and fairness (bench/two_models.py, bench/fairness.py);
memory is read after each run. The race against llama-server is bench/peers.py, int8 against
float32 bench/precision.py. Each prints a table and writes bench/results/<scenario>.json;
bench/report.py turns them into bench/RESULTS.md. --quick shrinks every scenario to a smoke run.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import redis as redis_lib
import requests
import torch

from bench import load
from bench.fairness import fairness
from bench.structured import structured
from bench.two_models import two_models
from tasks.settings import Settings
from tests import stack
from webapi.cache import calibrate, keys, paraphrase, verify
from webapi.cache.embedder import Embedder

RESULTS = Path(__file__).resolve().parent / "results"
PAIRS = Path(__file__).resolve().parent.parent / "tests" / "data" / "cache_pairs_dev.jsonl"
TOPICS = """cats the sea Paris winter coffee robots music mountains rivers bicycles chess volcanoes bread
gardens trains libraries owls deserts jazz glaciers tea bridges lighthouses honey kites tigers comets
forests umbrellas clocks""".split()


class Service:
    """A private Redis, the API, and a worker that can be restarted with other settings."""

    def __init__(self, logs: Path, env: dict[str, str] | None = None) -> None:
        self.logs, self.env = logs, env or {}
        self._stack = ExitStack()
        self.redis_url = self._stack.enter_context(stack.redis_server())
        self.api_proc, self.base = stack.start_api(self.redis_url, logs / "api.log", self.env)
        self.worker = None

    def start_worker(self, **settings: Any) -> float:
        """(Re)start the worker with these settings; returns seconds until it consumed."""
        self.stop_worker()
        started = time.monotonic()
        env = {**self.env, **{k.upper(): str(v) for k, v in settings.items()}}
        self.worker = stack.start_worker(self.redis_url, self.logs / "worker.log", env)
        return time.monotonic() - started

    def stop_worker(self) -> None:
        if self.worker is not None:
            stack.stop(self.worker)
            self.worker = None

    def memory(self) -> dict[str, float]:
        """Peak resident memory (MiB) of the worker and of the largest API process."""
        api = [_peak_rss_mib(pid) for pid in _children(self.api_proc.pid)]
        return {
            "worker_peak_rss_mib": _peak_rss_mib(self.worker.pid) if self.worker else None,
            "api_process_peak_rss_mib": max(api) if api else None,
        }

    def close(self) -> None:
        self.stop_worker()
        stack.stop(self.api_proc)
        self._stack.close()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _chat(text: str, max_tokens: int, cache: str = "bypass") -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], "max_tokens": max_tokens, "cache": cache}


def _unique_prompts(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [f"Write one sentence about {rng.choice(TOPICS)} and the number {i}." for i in range(count)]


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(str(r.get(c, "")).rjust(w) for c, w in zip(columns, widths, strict=True)) for r in rows]
    return "\n".join(lines)


# Scenarios --------------------------------------------------------------------------------------


def all_cache(service: Service, quick: bool) -> dict[str, Any]:
    """50 users repeating known prompts: exact repeats and paraphrases, all answered from the cache.

    A paraphrase asked again is answered from the match its process remembers (semantic_cache.py);
    with 50 users thinking, half the paraphrases are asked for the first time (semantic_first), which
    the cache embeds and judges in full."""
    service.start_worker()
    pairs = [json.loads(line) for line in PAIRS.read_text().splitlines()]
    paraphrases = [p for p in pairs if p["label"] == "hit" and p["similarity"] >= 0.85][: 8 if quick else 40]
    total = 200 if quick else 3000
    first_time = _served_paraphrases({t for p in paraphrases for t in (p["a"], p["b"])}, total // 12)
    url = f"{service.base}/v1/generate"
    seeds = [(None, _chat(p["a"], 16, "auto")) for p in paraphrases + first_time]
    assert all(s.status == 200 for s in load.run(url, seeds, clients=8)[0]), "seeding the cache failed"
    # Which paraphrases the guard lets through is bench/cache_quality's subject; here, only hits.
    probe = load.run(url, [(None, _chat(p["b"], 16, "auto")) for p in paraphrases], clients=8)[0]
    semantic = [p for p, s in zip(paraphrases, probe, strict=True) if s.cache == "HIT"]
    rng = random.Random(1)
    bodies = []
    for _ in range(total):
        pair = rng.choice(paraphrases)
        if rng.random() < 0.5 or not semantic:
            text = rng.choice([pair["a"], pair["a"].lower(), f"  {pair['a']}  "])
            bodies.append(("exact", _chat(text, 16, "auto")))
        else:
            bodies.append(("semantic", _chat(rng.choice(semantic)["b"], 16, "auto")))
    users = bodies[: total // 3]
    repeats = [i for i, (kind, _) in enumerate(users) if kind == "semantic"]
    for i, pair in zip(repeats[1::2], first_time, strict=False):  # half the paraphrases: first asks
        users[i] = ("semantic_first", _chat(pair["b"], 16, "auto"))
    result: dict[str, Any] = {"scenario": "all_cache", "prompts": len(paraphrases), "first_time": len(first_time)}
    for label, think_s, sent in (("closed_loop", 0.0, bodies), ("users_1s_think", 1.0, users)):
        # The verifications a phase's hits started (CACHE_VERIFY_RATE) generate on the worker, beside
        # the API on these two cores: the next phase starts once they have settled.
        result[f"{label}_waited_for_verifications_s"] = _verifications_settled(service)
        samples, wall = load.run(url, sent, clients=50, think_s=think_s)
        for kind in ("exact", "semantic", "semantic_first"):
            # A first ask the cache does not serve after all generates: that is not a hit's latency.
            chosen = [s for s in samples if s.tag == kind and (kind != "semantic_first" or _semantic_hit(s))]
            result[f"{label}_{kind}"] = load.summary(chosen, wall) if chosen else None
        result[f"{label}_all"] = load.summary(samples, wall)
    rows = [
        {
            "run": k,
            **{c: v[c] for c in ("requests", "requests_per_s", "p50_ms", "p95_ms", "p99_ms")},
            "hits": v["cache"].get("HIT", 0),
        }
        for k, v in result.items()
        if isinstance(v, dict)
    ]
    print(_table(rows, ["run", "requests", "requests_per_s", "p50_ms", "p95_ms", "p99_ms", "hits"]))
    print("seconds waited for pending verifications:", {k: v for k, v in result.items() if k.endswith("_s")})
    return result


def _verifications_settled(service: Service, timeout_s: float = 300.0) -> float:
    """Wait until no cache verification is pending (webapi/cache/verify.py); returns seconds waited."""
    started = time.monotonic()
    client = redis_lib.Redis.from_url(service.redis_url)
    while client.hlen(verify.PENDING) and time.monotonic() - started < timeout_s:
        time.sleep(0.5)
    return round(time.monotonic() - started, 1)


def _semantic_hit(sample: load.Sample) -> bool:
    return (sample.job.get("cache") or {}).get("kind") == "semantic"


def _served_paraphrases(exclude: set[str], count: int) -> list[dict[str, Any]]:
    """`count` labelled paraphrases of the pair sets (cosine >= 0.85, none asking a prompt in
    `exclude`) that the cache serves at its settings, judged offline as bench.cache_quality does."""
    settings = Settings()
    rows, seen = [], {keys.normalise(t) for t in exclude}
    for path in sorted(PAIRS.parent.glob("cache_pairs_*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            texts = {keys.normalise(row["a"]), keys.normalise(row["b"])}  # as the exact tier reads them
            if row["label"] == "hit" and row.get("similarity", 0) >= 0.85 and len(texts) == 2 and not texts & seen:
                seen |= texts
                rows.append(row)
    random.Random(2).shuffle(rows)
    model = paraphrase.at(settings.paraphrase_model_dir)
    judged = calibrate.judged(rows[: 2 * count], Embedder(settings.embed_model).load(), model)
    return [{"a": p.a, "b": p.b} for p in judged if p.served(*settings.cache_bars(model is not None))][:count]


def batching(service: Service, quick: bool) -> dict[str, Any]:
    """Unique prompts, no cache: continuous batching (default rows) vs one row, and pipeline efficiency."""
    count = 24 if quick else 96
    prompts = _unique_prompts(count)
    bodies = [(i, _chat(p, 32)) for i, p in enumerate(prompts)]
    url = f"{service.base}/v1/generate"
    rows = int(service.env.get("MAX_BATCH_SIZE", Settings().max_batch_size))
    result: dict[str, Any] = {"scenario": "batching", "requests": count, "max_tokens": 32, "clients": 50, "rows": rows}
    for label, size in (("batched", rows), ("unbatched", 1)):
        service.start_worker(max_batch_size=size)
        samples, wall = load.run(url, bodies, clients=50)
        result[label] = load.summary(samples, wall)
    service.stop_worker()
    result["throughput_ratio"] = round(result["batched"]["requests_per_s"] / result["unbatched"]["requests_per_s"], 2)
    result["bare_engine"] = _bare_engine(prompts, 32, service.env)
    result["pipeline_efficiency"] = round(result["batched"]["tokens_per_s"] / result["bare_engine"]["tokens_per_s"], 3)
    table = [
        {"run": k, **{c: result[k][c] for c in ("requests_per_s", "tokens_per_s", "p50_ms", "p95_ms")}}
        for k in ("batched", "unbatched")
    ]
    table.append({"run": "bare engine (in-process, same rows)", "tokens_per_s": result["bare_engine"]["tokens_per_s"]})
    print(_table(table, ["run", "requests_per_s", "tokens_per_s", "p50_ms", "p95_ms"]))
    print(f"throughput ratio {result['throughput_ratio']}x; pipeline efficiency {result['pipeline_efficiency']}")
    return result


def _bare_engine(prompts: list[str], max_tokens: int, env: dict[str, str]) -> dict[str, Any]:
    """The engine alone, in this process, on the same prompts, with the worker's settings."""
    from model_worker.engine import Engine
    from tasks.contract import GenerationRequest, Message

    engine = Engine.from_settings(Settings.from_env(env))
    requests_ = [GenerationRequest(messages=(Message("user", p),), max_tokens=max_tokens) for p in prompts]
    engine.generate(requests_[:4])  # warm-up
    started = time.monotonic()
    tokens = sum(c.completion_tokens for c in engine.generate(requests_))
    wall = time.monotonic() - started
    return {"tokens": tokens, "wall_s": round(wall, 2), "tokens_per_s": round(tokens / wall, 1)}


def sweep(service: Service, quick: bool) -> dict[str, Any]:
    """The engine's settings under the peers workload (streamed chat): what operators should set.

    MAX_BATCH_SIZE (rows decoding at once) against the number of clients, MAX_STEP_TOKENS (how
    much of newcomers' prompts a step takes beside the decoding rows), and BATCH_WAIT_MS (how
    long an idle worker waits for company).
    """
    from bench.peers import race, summary

    seconds = 15 if quick else 40
    grid = [
        *({"max_batch_size": rows, "clients": clients} for rows in (8, 16, 32) for clients in (16, 32)),
        *({"max_step_tokens": tokens, "clients": 16} for tokens in (64, 128, 256, 512)),
        *({"batch_wait_ms": wait, "clients": clients} for wait in (0, 10, 50) for clients in (1, 8)),
    ]
    if quick:
        grid = grid[:2]
    # Two passes, the second in reverse order, each point half its time in each: a slow spell of
    # this shared machine then weighs on every point rather than on a few neighbours.
    runs: dict[int, tuple[list[dict[str, float]], float]] = {i: ([], 0.0) for i in range(len(grid))}
    for order in (range(len(grid)), reversed(range(len(grid)))):
        for i in order:
            settings = {k: v for k, v in grid[i].items() if k != "clients"}
            service.start_worker(**settings)
            model = requests.get(f"{service.base}/v1/models", timeout=10).json()["data"][0]["id"]
            samples, tokens = race(service.base, model, grid[i]["clients"], seconds / 2, {"cache": "bypass"})
            runs[i] = (runs[i][0] + samples, runs[i][1] + tokens)
    service.stop_worker()
    rows = []
    for i, point in enumerate(grid):
        settings = {k: v for k, v in point.items() if k != "clients"}
        rows.append({**settings, "clients": point["clients"], **summary(*runs[i], seconds)})
        print(json.dumps(rows[-1]), flush=True)
    return {"scenario": "sweep", "seconds": seconds, "rows": rows}


def mixed(service: Service, quick: bool) -> dict[str, Any]:
    """30% repeats (exact or paraphrase) among unique prompts and near-misses of earlier ones."""
    service.start_worker()
    pairs = [json.loads(line) for line in PAIRS.read_text().splitlines()]
    rng = random.Random(2)
    rng.shuffle(pairs)
    count = 40 if quick else 300
    bodies: list[tuple[Any, dict]] = []
    groups: list[str] = []  # the meaning each request belongs to; a hit must stay inside one
    uniques = iter(_unique_prompts(count, seed=3))
    pair_iter = iter(pairs)
    while len(bodies) < count:
        if bodies and rng.random() < 0.3:  # a repeat of an earlier request, verbatim
            index = rng.randrange(len(bodies))
            bodies.append((groups[index], bodies[index][1]))
            groups.append(groups[index])
        elif rng.random() < 0.5 and (pair := next(pair_iter, None)) is not None:
            first, second = f"pair{id(pair)}a", f"pair{id(pair)}{'a' if pair['label'] == 'hit' else 'b'}"
            bodies += [(first, _chat(pair["a"], 16, "auto")), (second, _chat(pair["b"], 16, "auto"))]
            groups += [first, second]
        else:
            tag = f"unique{len(bodies)}"
            bodies.append((tag, _chat(next(uniques), 16, "auto")))
            groups.append(tag)
    # Send in waves so earlier answers are cached before their repeats arrive.
    samples = []
    started = time.monotonic()
    for start in range(0, len(bodies), 50):
        samples += load.run(f"{service.base}/v1/generate", bodies[start : start + 50], clients=50)[0]
    wall = time.monotonic() - started
    group_of_job = {s.job["id"]: s.tag for s in samples if s.cache != "HIT"}
    text_of_job = {s.job["id"]: s.text for s in samples}
    near_misses = {frozenset((p["a"], p["b"])) for p in pairs if p["label"] == "miss"}
    hits = [s for s in samples if s.cache == "HIT"]
    wrong, unlabelled = [], []
    for s in hits:
        source_group = group_of_job.get(s.job["cache"]["source_id"], s.tag)
        source_text = text_of_job.get(s.job["cache"]["source_id"])
        if source_group == s.tag or source_text == s.text:
            continue  # a repeat or a labelled paraphrase of its source
        if frozenset((s.text, source_text)) in near_misses or "unique" in source_group + s.tag:
            wrong.append(s)  # a labelled near-miss, or a generated prompt that has no paraphrase
        else:
            unlabelled.append(s)  # two dataset prompts from different pairs: judged by reading them

    def described(chosen: list[load.Sample]) -> list[dict[str, Any]]:
        return [
            {
                "asked": s.text,
                "answered_from": text_of_job.get(s.job["cache"]["source_id"]),
                "kind": s.job["cache"]["kind"],
                "similarity": s.job["cache"]["similarity"],
            }
            for s in chosen
        ]

    repeats = len(bodies) - len(set(groups))
    result = {
        "scenario": "mixed",
        **load.summary(samples, wall),
        "repeat_share": round(repeats / len(bodies), 3),
        "hit_rate": round(len(hits) / len(samples), 3),
        "wrong_hits": len(wrong),
        "wrong_hit_examples": described(wrong),
        "cross_pair_hits": described(unlabelled),
    }
    result["cross_pair_hit_count"] = len(unlabelled)
    columns = ["requests", "repeat_share", "hit_rate", "wrong_hits", "cross_pair_hit_count", "p50_ms", "p95_ms"]
    print(_table([result], columns))
    for example in result["cross_pair_hits"]:
        print(
            f"  cross-pair hit ({example['kind']}, {example['similarity']}): "
            f"{example['asked']!r} <- {example['answered_from']!r}"
        )
    return result


def cold_start(service: Service, quick: bool) -> dict[str, Any]:
    """Worker start to first answer: first start (GGUF conversion) and a later start (cached)."""
    cache_dir = tempfile.mkdtemp(prefix="bench-model-cache-")
    rows = []
    for label in ("first_start", "later_start"):
        service.stop_worker()
        started = time.monotonic()
        service.start_worker(model_cache_dir=cache_dir)
        answer = requests.post(f"{service.base}/v1/generate", json=_chat("Say hello.", 8), timeout=300)
        loaded = re.findall(r"ready on \S+ in ([0-9.]+) s", (service.logs / "worker.log").read_text())
        rows.append(
            {
                "start": label,
                "seconds_to_first_answer": round(time.monotonic() - started, 2),
                "model_load_s": float(loaded[-1]) if loaded else None,
                "status": answer.status_code,
            }
        )
    print(_table(rows, ["start", "seconds_to_first_answer", "model_load_s", "status"]))
    return {"scenario": "cold_start", "rows": rows}


def streaming(service: Service, quick: bool) -> dict[str, Any]:
    """Streams through the official openai client: time to first token and tokens/s per stream."""
    import openai

    rows_ = 8
    service.start_worker(max_batch_size=rows_, batch_wait_ms=50)
    client = openai.OpenAI(base_url=f"{service.base}/v1", api_key="unused", max_retries=0, timeout=600)
    model = requests.get(f"{service.base}/v1/models", timeout=10).json()["data"][0]["id"]
    max_tokens, rounds = 64, 1 if quick else 3
    prompts = iter(_unique_prompts(200, seed=7))

    def ask(prompt: str, stream: bool) -> dict[str, float]:
        body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens}
        options = {"temperature": 0, "extra_body": {"cache": "bypass"}}
        started, first = time.monotonic(), None
        if not stream:
            tokens = client.chat.completions.create(**body, **options).usage.completion_tokens
            return {"total_s": time.monotonic() - started, "tokens": tokens}
        for chunk in client.chat.completions.create(
            **body, **options, stream=True, stream_options={"include_usage": True}
        ):
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.monotonic() - started
            if chunk.usage:
                tokens = chunk.usage.completion_tokens
        total = time.monotonic() - started
        return {"ttft_s": first, "total_s": total, "tokens": tokens, "decode_tps": (tokens - 1) / (total - first)}

    rows = []
    for streams in (1, 4) if quick else (1, 4, 8):
        for stream in (True, False):
            samples = []
            for _ in range(rounds):  # each round: `streams` clients at once, so they share one batch
                batch = [next(prompts) for _ in range(streams)]
                with ThreadPoolExecutor(streams) as pool:
                    samples += list(pool.map(lambda p, s=stream: ask(p, s), batch))
            row = {"concurrent": streams, "stream": stream, "requests": len(samples)}
            row["total_p50_s"] = round(float(np.percentile([s["total_s"] for s in samples], 50)), 2)
            if stream:
                ttft = [s["ttft_s"] for s in samples]
                row["ttft_p50_ms"] = round(float(np.percentile(ttft, 50)) * 1000)
                row["ttft_p95_ms"] = round(float(np.percentile(ttft, 95)) * 1000)
                row["tokens_per_s_per_stream_p50"] = round(
                    float(np.percentile([s["decode_tps"] for s in samples], 50)), 1
                )
            rows.append(row)
    service.stop_worker()
    columns = [
        "concurrent",
        "stream",
        "requests",
        "ttft_p50_ms",
        "ttft_p95_ms",
        "tokens_per_s_per_stream_p50",
        "total_p50_s",
    ]
    print(_table(rows, columns))
    return {"scenario": "streaming", "max_tokens": max_tokens, "batch": "8 / 50 ms", "rows": rows}


def bulk_interference(service: Service, quick: bool) -> dict[str, Any]:
    """Interactive p95 alone, then while a 2 000-line Batch API batch runs on the bulk lane."""
    rows_ = 8
    service.start_worker(max_batch_size=rows_, batch_wait_ms=50)
    # Interactive load under the worker's capacity (on a saturated worker, bulk work just waits).
    seconds, lines, clients, think_s = (20, 200, 2, 4.0) if quick else (90, 2000, 2, 4.0)
    model = requests.get(f"{service.base}/v1/models", timeout=10).json()["data"][0]["id"]
    url = f"{service.base}/v1/generate"
    prompts = iter(_unique_prompts(10_000, seed=11))

    def interactive() -> dict[str, Any]:
        bodies = [(i, _chat(next(prompts), 32)) for i in range(2000)]
        samples, wall = load.run(url, bodies, clients=clients, think_s=think_s, max_s=seconds)
        return load.summary(samples, wall)

    result: dict[str, Any] = {
        "scenario": "bulk_interference",
        "clients": clients,
        "think_s": think_s,
        "max_tokens": 32,
        "seconds": seconds,
        "batch_lines": lines,
    }
    result["alone"] = interactive()
    jsonl = "".join(
        json.dumps(
            {
                "custom_id": f"b{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    "model": model,
                    "messages": [{"role": "user", "content": p}],
                    "max_tokens": 32,
                    "temperature": 0,
                    "cache": "bypass",
                },
            }
        )
        + "\n"
        for i, p in enumerate(_unique_prompts(lines, seed=12))
    )
    file = requests.post(
        f"{service.base}/v1/files", files={"file": ("bulk.jsonl", jsonl)}, data={"purpose": "batch"}, timeout=60
    ).json()
    batch = requests.post(
        f"{service.base}/v1/batches",
        json={"input_file_id": file["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"},
        timeout=60,
    ).json()
    batch_url = f"{service.base}/v1/batches/{batch['id']}"
    while requests.get(batch_url, timeout=10).json()["request_counts"]["completed"] < 8:  # bulk is flowing
        time.sleep(0.5)

    def completed() -> int:
        return requests.get(batch_url, timeout=10).json()["request_counts"]["completed"]

    before = completed()
    result["with_batch"] = interactive()
    after = completed()
    result["bulk_requests_per_s_meanwhile"] = round((after - before) / result["with_batch"]["wall_s"], 2)
    # Then saturate: twice as many interactive clients as rows, back to back. Without a bulk
    # share the batch would stop; BULK_MIN_SHARE keeps some rows for it.
    bodies = [(i, _chat(next(prompts), 32)) for i in range(5000)]
    before = completed()
    samples, wall = load.run(url, bodies, clients=2 * rows_, max_s=seconds)
    result["saturated"] = load.summary(samples, wall)
    result["bulk_requests_per_s_under_saturation"] = round((completed() - before) / wall, 2)
    requests.post(f"{batch_url}/cancel", timeout=60)
    service.stop_worker()
    result["p95_ratio"] = round(result["with_batch"]["p95_ms"] / result["alone"]["p95_ms"], 2)
    table = [
        {"run": k, **{c: result[k][c] for c in ("requests", "requests_per_s", "p50_ms", "p95_ms")}}
        for k in ("alone", "with_batch", "saturated")
    ]
    print(_table(table, ["run", "requests", "requests_per_s", "p50_ms", "p95_ms"]))
    print(
        f"p95 ratio {result['p95_ratio']}x; bulk answered {result['bulk_requests_per_s_meanwhile']} req/s meanwhile, "
        f"{result['bulk_requests_per_s_under_saturation']} req/s under interactive saturation"
    )
    return result


SCENARIOS = {
    "all_cache": all_cache,
    "batching": batching,
    "sweep": sweep,
    "mixed": mixed,
    "cold_start": cold_start,
    "streaming": streaming,
    "bulk_interference": bulk_interference,
    "structured": structured,
    "two_models": two_models,
    "fairness": fairness,
}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {
        "cpu": cpu,
        "cores": len(Path("/proc/cpuinfo").read_text().split("processor")) - 1,
        "memory_gib": round(mem / 1024 / 1024, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": "cpu",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", choices=[*SCENARIOS, []], default=list(SCENARIOS))
    parser.add_argument("--quick", action="store_true", help="a smoke run of each scenario")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    print(f"logs in {logs}")
    for name in args.scenarios:
        print(f"\n== {name}{' (quick)' if args.quick else ''} ==")
        service = Service(logs)
        try:
            result = SCENARIOS[name](service, args.quick)
            result["memory"] = service.memory()
        finally:
            service.close()
        result.update(machine=machine(), quick=args.quick, measured_at=time.strftime("%Y-%m-%d %H:%M:%S"))
        print("memory:", result["memory"])
        suffix = "-quick" if args.quick else ""
        (RESULTS / f"{name}{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

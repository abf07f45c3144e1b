"""Semantic search alone (no embedding) at 1 000 and 100 000 cached entries.

    .venv/bin/python -m bench.cache_search [--quick]

Vectors are real MiniLM embeddings of generated prompts, spread into clusters of near-duplicates
(as a busy cache holds them), all in one scope: the worst case, since scopes partition the index.
Measures the semantic tier's search as the service runs it (index, then reading the candidate
entries from a private Redis and the guard) and the in-memory index alone, against exact numpy
search, and how long an API process takes to load the index; writes results/cache_search.json.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import redis

from tests import stack
from webapi.cache.embedder import Embedder
from webapi.cache.semantic_cache import Probe, SemanticCache
from webapi.cache.store import ENTRY, EXACT, LRU, CacheStore

RESULTS = Path(__file__).resolve().parent / "results"
SUBJECTS = "cats;the French revolution;sourdough bread;black holes;tax returns;Python decorators;knee pain;jazz".split(
    ";"
)
ASKS = [
    "Explain {} simply",
    "What should I know about {}?",
    "Write a short poem about {}",
    "Give me 3 facts on {}",
    "How do I get started with {}?",
    "Summarise the history of {}",
    "Common mistakes with {}",
    "Is {} overrated?",
]


def _vectors(embedder: Embedder, count: int, rng: np.random.Generator) -> np.ndarray:
    bases = [ask.format(f"{s} ({i})") for i in range(40) for s in SUBJECTS for ask in ASKS]  # 2 560 real prompts
    base = embedder.embed(bases)
    picks = base[rng.integers(0, len(base), count)]
    noisy = picks + rng.normal(0, 0.02, picks.shape).astype(np.float32)
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def _timed(search, queries: np.ndarray) -> dict[str, float]:
    times = []
    for q in queries:
        started = time.perf_counter()
        search(q)
        times.append(time.perf_counter() - started)
    ms = np.array(times) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def measure(embedder: Embedder, vectors: np.ndarray, size: int, queries: np.ndarray) -> dict[str, object]:
    """Load `size` entries into a private Redis and an API-process cache, then time searches."""
    scope = "scope"
    with stack.redis_server() as url:
        store = CacheStore(redis.Redis.from_url(url), ttl_s=3600, max_entries=size, flight_ttl_s=60)
        with store.redis.pipeline(transaction=False) as pipe:  # entries as CacheStore.insert writes them
            for key in range(size):
                fields = {
                    "scope": scope,
                    "text": f"stored prompt {key}",
                    "result": "{}",
                    "source_id": "j",
                    "vector": vectors[key].tobytes(),
                    "exact": f"{EXACT}{key}",
                }
                pipe.hset(f"{ENTRY}{key}", mapping=fields)
                pipe.zadd(LRU, {key: key})
            pipe.execute()
        cache = SemanticCache(store, embedder, threshold=0.8)
        started = time.perf_counter()
        cache.start()
        cache.ready.wait(600)
        load_s = time.perf_counter() - started
        cache.stop()
        tier = _timed(lambda q: cache._nearest(Probe(scope, "x", "a query prompt", q)), queries)
    matrix = vectors[:size]
    index = _timed(lambda q: cache.index.search(scope, q, 4), queries)
    exact = _timed(lambda q: np.argpartition(-(matrix @ q), 4)[:4], queries)
    found = sum(cache.index.search(scope, q, 1)[0][0] == int(np.argmax(matrix @ q)) for q in queries[:200])
    return {
        "entries": size,
        "index_load_s": round(load_s, 1),
        "semantic_tier": tier,
        "index_only": index,
        "numpy_exact": exact,
        "index_recall_at_1": round(found / min(200, len(queries)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    random.seed(0)
    big = 5_000 if args.quick else 100_000
    embedder = Embedder().load()
    vectors = _vectors(embedder, big + 1000, rng)
    queries = vectors[big:]  # near-duplicates of stored prompts, never stored themselves
    rows = [measure(embedder, vectors, size, queries) for size in (1_000, big)]
    ratio = rows[1]["semantic_tier"]["p99_ms"] / rows[0]["semantic_tier"]["p99_ms"]
    index_ratio = rows[1]["index_only"]["p99_ms"] / rows[0]["index_only"]["p99_ms"]
    header = (
        "entries",
        "load s",
        "tier p50",
        "tier p99",
        "index p50",
        "index p99",
        "numpy p50",
        "numpy p99",
        "recall@1",
    )
    print(("{:>10}" * len(header)).format(*header))
    for r in rows:
        cells = [
            r["entries"],
            r["index_load_s"],
            r["semantic_tier"]["p50_ms"],
            r["semantic_tier"]["p99_ms"],
            r["index_only"]["p50_ms"],
            r["index_only"]["p99_ms"],
            r["numpy_exact"]["p50_ms"],
            r["numpy_exact"]["p99_ms"],
            r["index_recall_at_1"],
        ]
        print(("{:>10}" * len(cells)).format(*cells))
    print(f"p99 at {big} / p99 at 1000: semantic tier {ratio:.2f}x, index alone {index_ratio:.2f}x")
    RESULTS.mkdir(exist_ok=True)
    out = {
        "rows": rows,
        "tier_p99_ratio": round(ratio, 2),
        "index_p99_ratio": round(index_ratio, 2),
        "quick": args.quick,
    }
    (RESULTS / f"cache_search{'-quick' if args.quick else ''}.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""What structured output costs: 8 closed-loop clients, free text against the same requests with a
JSON schema (and JSON mode), through the whole service. Runs alternate (free, schema, free, ...)
so drift on a shared machine falls on both sides.

    .venv/bin/python -m bench.run structured [--quick]
"""

from __future__ import annotations

import contextlib
import json
import random
from typing import Any

from bench import load

NAMES = "Ada Ben Chloe Dmitri Elena Farid Grace Hiro Ines Jonas Kemal Lina Malik Nora Omar Pia".split()
JOBS = "baker pilot nurse teacher farmer chemist painter judge sailor tailor".split()
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "job": {"type": "string"}},
    "required": ["name", "age", "job"],
    "additionalProperties": False,
}
FORMATS: dict[str, dict[str, Any] | None] = {
    "free_text": None,
    "json_schema": {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}},
    "json_object": {"type": "json_object"},
}
CLIENTS, MAX_TOKENS = 8, 48


def _bodies(count: int, response_format: dict[str, Any] | None) -> list[tuple[Any, dict[str, Any]]]:
    rng = random.Random(7)
    bodies = []
    for i in range(count):
        name, job, age = rng.choice(NAMES), rng.choice(JOBS), rng.randint(18, 90)
        text = f"Give the name, age and job of this person as JSON. {name} is a {age}-year-old {job} (#{i})."
        body = {"messages": [{"role": "user", "content": text}], "max_tokens": MAX_TOKENS, "cache": "bypass"}
        if response_format is not None:
            body["response_format"] = response_format
        bodies.append((i, body))
    return bodies


def _valid_json(samples: list[load.Sample]) -> int:
    valid = 0
    for sample in samples:
        with contextlib.suppress(ValueError):
            valid += isinstance(json.loads((sample.job.get("result") or {}).get("text", "")), dict)
    return valid


def structured(service: Any, quick: bool) -> dict[str, Any]:
    """Tokens/s and latency with and without a response_format, at 8 clients."""
    service.start_worker()
    count, rounds = (16, 1) if quick else (64, 3)
    url = f"{service.base}/v1/generate"
    load.run(url, _bodies(CLIENTS, None), clients=CLIENTS)  # warm up: prefix cache, grammar tokenizer
    load.run(url, _bodies(CLIENTS, FORMATS["json_object"]), clients=CLIENTS)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in FORMATS}
    for _ in range(rounds):
        for name, response_format in FORMATS.items():
            samples, wall = load.run(url, _bodies(count, response_format), clients=CLIENTS)
            tokens = [(s.job.get("result") or {}).get("completion_tokens", 0) for s in samples]
            summary = load.summary(samples, wall) | {"mean_tokens": round(sum(tokens) / len(tokens), 1)}
            runs[name].append(summary | {"valid_json": _valid_json(samples)})
    result: dict[str, Any] = {"scenario": "structured", "clients": CLIENTS, "max_tokens": MAX_TOKENS, "runs": runs}
    for name, summaries in runs.items():
        result[name] = {
            key: round(sum(s[key] for s in summaries) / len(summaries), 2)
            for key in ("tokens_per_s", "requests_per_s", "p50_ms", "p95_ms", "mean_tokens")
        } | {"valid_json": sum(s["valid_json"] for s in summaries), "requests": sum(s["requests"] for s in summaries)}
    free = result["free_text"]["tokens_per_s"]
    for name in ("json_schema", "json_object"):
        result[f"{name}_cost"] = round(1 - result[name]["tokens_per_s"] / free, 3)
    print(f"{'run':>12} {'tokens/s':>9} {'req/s':>6} {'p50 ms':>8} {'p95 ms':>8} {'tokens':>7} {'valid JSON':>10}")
    for name in FORMATS:
        row = result[name]
        print(
            f"{name:>12} {row['tokens_per_s']:>9} {row['requests_per_s']:>6} {row['p50_ms']:>8} "
            f"{row['p95_ms']:>8} {row['mean_tokens']:>7} {row['valid_json']:>5}/{row['requests']}"
        )
    print(
        f"throughput cost: json_schema {result['json_schema_cost']:.1%}, json_object {result['json_object_cost']:.1%}"
    )
    return result

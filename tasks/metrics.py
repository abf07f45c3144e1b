"""Service metrics, kept in Redis so every API process and every worker adds to the same figures.

Names and kinds follow vLLM's and TGI's conventions; GET /metrics (webapi/routes/prometheus.py) renders
them in Prometheus' text format, and the dashboard reads them from there too. A counter is a
Redis hash of label values -> total; a histogram is a hash of per-bucket counts, sum and count.
Recording costs one pipelined round trip per finished step, or per second of steps.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from redis import Redis
from redis.client import Pipeline

log = logging.getLogger(__name__)

METRICS_KEY_PREFIX = "llm:metrics:"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320)
TOKEN_TIME_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


@dataclass(frozen=True)
class Metric:
    """A counter (buckets empty) or a histogram."""

    name: str
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    @property
    def key(self) -> str:
        return METRICS_KEY_PREFIX + self.name


HTTP_REQUESTS = Metric("llm_http_requests_total", "HTTP requests by route and status", ("route", "status"))
HTTP_DURATION = Metric(
    "llm_http_request_duration_seconds", "Time to answer an HTTP request, by route", ("route",), LATENCY_BUCKETS
)
CACHE_LOOKUPS = Metric(
    "llm_cache_lookups_total",
    "Cache lookups by result: exact_hit, semantic_hit, miss, guard_refused (a similar entry the near-miss "
    "guard or the paraphrase model refused), bypass",
    ("result",),
)
CACHE_VERIFICATIONS = Metric(
    "llm_cache_verifications_total",
    "Semantic hits generated again to check the cached answer, by outcome: passed, failed (a measured wrong "
    "hit: the entry is evicted and its threshold raised), error (the generation failed)",
    ("outcome",),
)
BATCH_SIZE = Metric(
    "llm_batch_size",
    "Rows in the running batch, observed at every forward step",
    ("model",),
    (1, 2, 4, 8, 16, 32, 64, 128, 256),
)
QUEUE_TIME = Metric(
    "llm_request_queue_time_seconds", "Submission to the start of generation", ("model", "lane"), LATENCY_BUCKETS
)
INFERENCE_TIME = Metric(
    "llm_request_inference_time_seconds",
    "From joining the running batch to the result",
    ("model", "lane"),
    LATENCY_BUCKETS,
)
E2E_LATENCY = Metric(
    "llm_e2e_request_latency_seconds",
    "Submission to a stored result (generated requests)",
    ("model", "lane"),
    LATENCY_BUCKETS,
)
TIME_PER_OUTPUT_TOKEN = Metric(
    "llm_time_per_output_token_seconds", "Inference time per generated token", ("model", "lane"), TOKEN_TIME_BUCKETS
)
TIME_TO_FIRST_TOKEN = Metric(
    "llm_time_to_first_token_seconds", "Request to first streamed text", ("model",), LATENCY_BUCKETS
)
GENERATION_TOKENS = Metric("llm_generation_tokens_total", "Tokens generated", ("model", "lane"))
PROMPT_TOKENS = Metric("llm_prompt_tokens_total", "Prompt tokens processed", ("model", "lane"))
PREEMPTIONS = Metric("llm_preemptions_total", "Bulk requests paused for interactive ones", ("model",))
REQUEST_OUTCOMES = Metric(
    "llm_request_success_total", "Generated requests by finish reason", ("model", "finished_reason")
)
MESSAGES_SENT_AGAIN = Metric("llm_messages_sent_again_total", "Jobs sent again after the broker lost their message")

ALL = (
    HTTP_REQUESTS,
    HTTP_DURATION,
    CACHE_LOOKUPS,
    CACHE_VERIFICATIONS,
    BATCH_SIZE,
    QUEUE_TIME,
    INFERENCE_TIME,
    E2E_LATENCY,
    TIME_PER_OUTPUT_TOKEN,
    TIME_TO_FIRST_TOKEN,
    GENERATION_TOKENS,
    PROMPT_TOKENS,
    PREEMPTIONS,
    REQUEST_OUTCOMES,
    MESSAGES_SENT_AGAIN,
)


class Recording:
    """Adds to metrics through one pipeline (see Recorder.pipeline)."""

    def __init__(self, pipe: Pipeline, fixed: dict[str, str]) -> None:
        self.pipe, self.fixed = pipe, fixed

    def add(self, metric: Metric, amount: float = 1, **labels: str) -> None:
        """Add to a counter."""
        self.pipe.hincrbyfloat(metric.key, self._field(metric, labels), amount)

    def observe(self, metric: Metric, value: float, count: int = 1, **labels: str) -> None:
        """Record a value (`count` times) in a histogram."""
        label = self._field(metric, labels)
        bucket = next((b for b in metric.buckets if value <= b), math.inf)
        self.pipe.hincrby(metric.key, f"{label}|{bucket}", count)
        self.pipe.hincrbyfloat(metric.key, f"{label}|sum", value * count)
        self.pipe.hincrby(metric.key, f"{label}|count", count)

    def _field(self, metric: Metric, labels: dict[str, str]) -> str:
        fixed = {name: value for name, value in self.fixed.items() if name in metric.labels}
        return _field(metric, fixed | labels)


class Recorder:
    """Records and reads metrics. A recording that fails (Redis away) is logged, never raised:
    no request or batch fails for its metrics."""

    def __init__(self, redis: Redis, **fixed: str) -> None:
        """`fixed`: labels every recording gets where its metric has them (a worker's model)."""
        self.redis, self.fixed = redis, fixed

    @contextmanager
    def pipeline(self) -> Iterator[Recording]:
        """Collect several additions, sent in one round trip on leaving the block."""
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                yield Recording(pipe, self.fixed)
                pipe.execute()
        except Exception as exc:
            log.warning("metrics not recorded: %s", exc)

    def counter(self, metric: Metric) -> dict[tuple[str, ...], float]:
        """Label values -> total."""
        return {tuple(json.loads(field)): value for field, value in self._read(metric).items()}

    def histogram(self, metric: Metric) -> dict[tuple[str, ...], tuple[list[float], float]]:
        """Label values -> (the count in each bucket of (*metric.buckets, inf), the sum of the values)."""
        raw = self._read(metric)
        bounds = (*metric.buckets, math.inf)
        return {
            tuple(json.loads(label)): ([raw.get(f"{label}|{b}", 0.0) for b in bounds], raw.get(f"{label}|sum", 0.0))
            for label in {field.rsplit("|", 1)[0] for field in raw}
        }

    def _read(self, metric: Metric) -> dict[str, float]:
        return {k.decode(): float(v) for k, v in self.redis.hgetall(metric.key).items()}


def _field(metric: Metric, labels: dict[str, str]) -> str:
    if set(labels) != set(metric.labels):
        raise ValueError(f"{metric.name} takes labels {metric.labels}, got {tuple(labels)}")
    return json.dumps([str(labels[name]) for name in metric.labels])

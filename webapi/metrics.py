"""GET /metrics: the service's figures in Prometheus' text format.

Counters and histograms come from Redis (tasks/metrics.py), where API processes and workers
record them; gauges (queue depths, live workers, active batches) are read at scrape time.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry
from redis import Redis

from tasks import metrics
from tasks.contract import ACTIVE_BATCHES_KEY, BULK_QUEUE, QUEUE, WORKER_ALIVE_S, WORKERS_KEY

bp = Blueprint("metrics", __name__)


class RedisCollector(Collector):
    """Builds every metric family from Redis at each scrape."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.recorder = metrics.Recorder(redis)

    def collect(self) -> Iterator[Metric]:
        for metric in metrics.ALL:
            raw = self.recorder.read(metric)
            yield _histogram(metric, raw) if metric.buckets else _counter(metric, raw)
        depth = GaugeMetricFamily("llm_queue_depth", "Messages waiting in each queue", labels=["queue"])
        for queue in (QUEUE, BULK_QUEUE):
            depth.add_metric([queue], self.redis.llen(queue))
        yield depth
        alive = self.redis.zcount(WORKERS_KEY, time.time() - WORKER_ALIVE_S, "+inf")
        yield GaugeMetricFamily("llm_workers_alive", "Workers with a recent heartbeat", value=alive)
        yield GaugeMetricFamily(
            "llm_batches_active", "Batch API batches not yet ended", value=self.redis.scard(ACTIVE_BATCHES_KEY)
        )


def _counter(metric: metrics.Metric, raw: dict[str, float]) -> Metric:
    family = CounterMetricFamily(metric.name.removesuffix("_total"), metric.help, labels=list(metric.labels))
    for field, value in sorted(raw.items()):
        family.add_metric(json.loads(field), value)
    return family


def _histogram(metric: metrics.Metric, raw: dict[str, float]) -> Metric:
    family = HistogramMetricFamily(metric.name, metric.help, labels=list(metric.labels))
    for label in sorted({field.rsplit("|", 1)[0] for field in raw}):
        running, buckets = 0.0, []
        for bound in (*metric.buckets, math.inf):
            running += raw.get(f"{label}|{bound}", 0)
            buckets.append(("+Inf" if bound == math.inf else str(bound), running))
        family.add_metric(json.loads(label), buckets, raw.get(f"{label}|sum", 0))
    return family


def install(app: Flask, redis: Redis) -> None:
    """Count and time every request; serve /metrics."""
    recorder = metrics.Recorder(redis)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(redis))
    app.extensions["metrics_registry"] = registry

    @app.before_request
    def _start_clock() -> None:
        g.request_started = time.monotonic()

    @app.after_request
    def _count(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        if route in ("/metrics", "/healthz", "/readyz"):
            return response
        try:
            with recorder.batch() as rec:
                rec.add(metrics.HTTP_REQUESTS, route=route, status=str(response.status_code))
                if not response.is_streamed:  # a stream's time is its first token's (see completions)
                    started = g.get("request_started", time.monotonic())
                    rec.observe(metrics.HTTP_DURATION, time.monotonic() - started, route=route)
        except Exception as exc:  # never fail a request for its metrics
            current_app.logger.warning("metrics not recorded: %s", exc)
        return response


@bp.get("/metrics")
def scrape() -> Response:
    """Prometheus exposition."""
    return Response(generate_latest(current_app.extensions["metrics_registry"]), content_type=CONTENT_TYPE_LATEST)

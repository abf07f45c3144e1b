"""GET /metrics: the service's figures in Prometheus' text format.

Counters and histograms come from Redis (tasks/metrics.py), where API processes and workers
record them; gauges (queue depths, live workers, active batches) are read at scrape time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from itertools import accumulate

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from tasks import metrics
from tasks.contract import ACTIVE_BATCHES_KEY, model_queues
from webapi.services import Services

bp = Blueprint("metrics", __name__)


class RedisCollector(Collector):
    """Builds every metric family from Redis at each scrape."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        for metric in metrics.ALL:
            yield (
                _histogram(metric, self.services.metrics) if metric.buckets else _counter(metric, self.services.metrics)
            )
        depth = GaugeMetricFamily("llm_queue_depth", "Messages waiting in each queue", labels=["model", "queue"])
        for model, queues in self.services.models.queue_depths().items():
            for queue, waiting in zip(model_queues(model), queues, strict=True):
                depth.add_metric([model, queue], waiting)
        yield depth
        yield GaugeMetricFamily(
            "llm_workers_alive", "Workers with a recent heartbeat", value=self.services.reader.workers_alive()
        )
        active = self.services.redis.scard(ACTIVE_BATCHES_KEY)
        yield GaugeMetricFamily("llm_batches_active", "Batch API batches not yet ended", value=active)


def _counter(metric: metrics.Metric, recorder: metrics.Recorder) -> Metric:
    family = CounterMetricFamily(metric.name.removesuffix("_total"), metric.help, labels=list(metric.labels))
    for labels, value in sorted(recorder.counter(metric).items()):
        family.add_metric(list(labels), value)
    return family


def _histogram(metric: metrics.Metric, recorder: metrics.Recorder) -> Metric:
    family = HistogramMetricFamily(metric.name, metric.help, labels=list(metric.labels))
    bounds = ["+Inf" if b == math.inf else str(b) for b in (*metric.buckets, math.inf)]
    for labels, (counts, total) in sorted(recorder.histogram(metric).items()):
        family.add_metric(list(labels), list(zip(bounds, accumulate(counts), strict=True)), total)
    return family


def install(app: Flask, services: Services) -> None:
    """Count and time every request; serve /metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(services))
    app.extensions["metrics_registry"] = registry

    @app.before_request
    def _start_clock() -> None:
        g.request_started = time.monotonic()

    @app.after_request
    def _count(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        if route in ("/metrics", "/healthz", "/readyz"):
            return response
        with services.metrics.pipeline() as rec:
            rec.add(metrics.HTTP_REQUESTS, route=route, status=str(response.status_code))
            if not response.is_streamed:  # a stream's time is its first token's (see completions)
                started = g.get("request_started", time.monotonic())
                rec.observe(metrics.HTTP_DURATION, time.monotonic() - started, route=route)
        return response


@bp.get("/metrics")
def scrape() -> Response:
    """Prometheus exposition."""
    return Response(generate_latest(current_app.extensions["metrics_registry"]), content_type=CONTENT_TYPE_LATEST)

"""The live dashboard: a static page (webapi/static/dashboard, charts by Chart.js) and its data.

/dashboard/data returns the cumulative figures of tasks/metrics.py and the gauges; the page polls
it every few seconds and charts the differences (rates, percentiles over the last interval).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, send_from_directory

from tasks import metrics
from webapi.routes.helpers import services, settings

bp = Blueprint("dashboard", __name__)


@bp.get("/dashboard")
def page() -> Response:
    """The dashboard page."""
    return send_from_directory(current_app.static_folder or "static", "dashboard/index.html")


@bp.get("/dashboard/data")
def data() -> Response:
    """Cumulative counters and histogram buckets, gauges and settings, as of now."""
    recorder = services().metrics
    cache = {labels[0]: value for labels, value in recorder.counter(metrics.CACHE_LOOKUPS).items()}
    generated = sum(recorder.counter(metrics.REQUEST_OUTCOMES).values())
    depths, live = services().models.queue_depths(), services().models.live()
    tokens: dict[str, float] = {}
    for (model, _), count in recorder.counter(metrics.GENERATION_TOKENS).items():
        tokens[model] = tokens.get(model, 0) + count
    return jsonify(
        {
            "time": time.time(),
            "settings": _settings(),
            "requests": generated + cache.get("exact_hit", 0) + cache.get("semantic_hit", 0),
            "tokens": sum(recorder.counter(metrics.GENERATION_TOKENS).values()),
            "cache": cache,
            "latency": _buckets(metrics.E2E_LATENCY, recorder),
            "batch_size": _buckets(metrics.BATCH_SIZE, recorder),
            "queues": {lane: sum(getattr(q, lane) for q in depths.values()) for lane in ("interactive", "bulk")},
            "models": {
                model: {
                    "workers": len(live.get(model, [])),
                    "tokens": tokens.get(model, 0),
                    "queued": queues.interactive + queues.bulk,
                }
                for model, queues in depths.items()
            },
        }
    )


def _buckets(metric: metrics.Metric, recorder: metrics.Recorder) -> dict[str, list[float | None]]:
    """Per-bucket counts over every label set; the last bound is +Inf (null in JSON)."""
    counts = [0.0] * (len(metric.buckets) + 1)
    for per_bucket, _ in recorder.histogram(metric).values():
        counts = [a + b for a, b in zip(counts, per_bucket, strict=True)]
    return {"bounds": [*metric.buckets, None], "counts": counts}


def _settings() -> dict[str, Any]:
    config, live = settings(), services().models.live()
    infos = [info for workers in live.values() for info in workers]
    return {
        "model": ", ".join(sorted(live)) or services().models.default,
        "devices": sorted({i.get("device", "?") for i in infos}),
        "workers": len(infos),
        "max_batch_size": sorted({i.get("max_batch_size") for i in infos if i}) or [config.max_batch_size],
        "batch_wait_ms": sorted({i.get("batch_wait_ms") for i in infos if i}) or [config.batch_wait_ms],
        "cache_threshold": services().cache.threshold if services().cache is not None else None,
    }

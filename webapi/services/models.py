"""Which models the API routes to, and which of them a live worker serves now.

Workers announce their model with every heartbeat (model_worker/worker.py: WORKERS_KEY holds when
each last beat, WORKER_INFO_KEY what it serves). A request names a model by its id:

- no `model`: the default (the API's MODEL_NAME / SERVED_MODEL_NAME);
- a model listed in MODELS, or announced by a live worker: routed to that model's queues;
- anything else: 404 `model_not_found`.

A known model with no live worker is answered 503 with Retry-After, rather than queued for a
worker that may never come (a cache hit is still served: it needs no worker).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from typing import Any

from redis import Redis

from tasks.contract import WORKER_ALIVE_S, WORKER_INFO_KEY, WORKERS_KEY, ModelQueues, model_queues
from tasks.errors import NotFound, ServiceUnavailable

#: How long one process reuses what it read of the live workers (a request reads it at most once).
REFRESH_S = 1.0


class ModelRegistry:
    """The models this API routes to (its default first) and the live workers of each."""

    def __init__(self, redis: Redis, known: tuple[str, ...]) -> None:
        self.redis, self.known = redis, known
        self.default = known[0]
        self._lock = threading.Lock()
        self._read_at = -REFRESH_S
        self._live: dict[str, list[dict[str, Any]]] = {}

    def live(self) -> dict[str, list[dict[str, Any]]]:
        """Model id -> what each of its live workers announces (hostname, device, batch settings)."""
        with self._lock:
            if time.monotonic() - self._read_at >= REFRESH_S:
                self._live, self._read_at = self._read(), time.monotonic()
            return self._live

    def resolve(self, model: Any) -> str:
        """The model a request's `model` field names (None: the default); NotFound if none."""
        if model is None:
            return self.default
        if isinstance(model, str) and (model in self.known or model in self.live()):
            return model
        served = ", ".join(sorted({*self.known, *self.live()}))
        raise NotFound(f"the model {model!r} does not exist; this server serves {served}", "model", "model_not_found")

    def require_worker(self, model: str) -> None:
        """ServiceUnavailable (with Retry-After) unless a live worker serves `model`."""
        if model not in self.live():
            raise ServiceUnavailable(f"no worker serves {model} right now; retry shortly", "model", "model_unavailable")

    def queue_depths(self) -> dict[str, ModelQueues]:
        """Messages waiting on each known or live model's queues."""
        models = sorted({*self.known, *self.live()})
        with self.redis.pipeline(transaction=False) as pipe:
            for model in models:
                for queue in model_queues(model):
                    pipe.llen(queue)
            depths = pipe.execute()
        return {model: ModelQueues(*depths[2 * i : 2 * i + 2]) for i, model in enumerate(models)}

    def _read(self) -> dict[str, list[dict[str, Any]]]:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(WORKERS_KEY, time.time() - WORKER_ALIVE_S, "+inf")
            pipe.hgetall(WORKER_INFO_KEY)
            alive, infos = pipe.execute()
        alive = {hostname.decode() for hostname in alive}
        models: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for hostname, raw in infos.items():
            info = json.loads(raw)
            if hostname.decode() in alive and info.get("model"):
                models[info["model"]].append({"hostname": hostname.decode(), **info})
        return dict(models)

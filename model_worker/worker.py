"""Worker entry point: `celery -A model_worker.worker worker --pool solo`.

One process per GPU (or one on CPU), serving one model (MODEL_NAME, known to clients as
SERVED_MODEL_NAME): it consumes that model's two queues, and announces the model with every
heartbeat so the API routes requests for it here. The model is loaded once, when the solo pool starts.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import sys
import threading
import time
from typing import Any

from celery import bootsteps, signals
from kombu import Exchange, Queue
from redis import Redis

from model_worker import kombu_fixes
from model_worker.consumer import BatchTask, GenerationStep, LoopCalls, held_delivery_tags
from model_worker.engine import Engine
from model_worker.inbox import Inbox
from model_worker.lifecycle import Lifecycle
from model_worker.scheduler import Scheduler
from model_worker.stream_writer import StreamPublisher
from tasks import redis_connect
from tasks.celery_app import REDIS_CONNECT_TIMEOUT_S, UNACKED_INDEX_KEY, make_celery
from tasks.contract import HEARTBEAT_S, TASK_NAME, WORKER_INFO_KEY, WORKERS_KEY, model_queues
from tasks.job_record import JobStore
from tasks.settings import Settings, SettingsError
from tasks.shared_tokenizer import publish as publish_tokenizer

log = logging.getLogger(__name__)

try:
    settings = Settings.from_env()
except SettingsError as exc:
    sys.exit(f"configuration error: {exc}")

kombu_fixes.install()
app = make_celery(settings)
# A computed result is worth waiting for: if Redis is briefly away, retry storing it.
app.conf.update(
    result_backend_always_retry=True, result_backend_max_retries=20, result_backend_max_sleep_between_retries_ms=5000
)
# Consume this model's queues (and only those: a worker never takes another model's request).
app.conf.task_queues = [Queue(name, Exchange(name), name) for name in model_queues(settings.served_model)]


@app.task(name=TASK_NAME, base=BatchTask, bind=True)
def generate(self: BatchTask, request: dict[str, Any]) -> dict[str, Any]:
    """Generate text for one request (only ever run in a batch by the batching consumer)."""
    return BatchTask.run(self, request)


def _redis() -> Redis:
    return redis_connect.client(settings, socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S, socket_timeout=10)


@signals.worker_init.connect
def _require_solo_pool(sender: Any, **_: Any) -> None:
    if "solo" not in str(getattr(sender, "pool_cls", "")).lower():
        sys.exit("the model worker runs one model per process: start it with --pool solo")


#: What this worker serves and how, published with its heartbeat (read by the API's model
#: registry, /v1/models and the dashboard).
_info: dict[str, Any] = {"model": settings.served_model}


def _load_engine() -> Engine:
    """Engine.from_settings on a thread that then ends.

    OpenMP (torch's CPU threads) keeps a team of threads for every thread that ran a parallel op.
    Had the model loaded here, on the main thread, the generation thread's team would be a second
    one, and libgomp, seeing more threads than cores, stops its workers spinning between ops:
    measured, that cut decode throughput at 16 rows from ~650 to ~390 tokens/s. A loading thread's
    team ends with it, so the generation thread's is the only one.
    """
    loaded: list[Engine] = []
    loader = threading.Thread(target=lambda: loaded.append(Engine.from_settings(settings)), name="model-load")
    loader.start()
    loader.join()
    if not loaded:
        raise RuntimeError(f"could not load {settings.model_name}; see the error above")
    return loaded[0]


def _lower_cpu_priority(nice: int) -> None:
    """Run every thread of this process at `nice` or lower priority (WORKER_NICE), and so every
    thread started later (the generation thread and its OpenMP team inherit it).

    Linux keeps a nice value per thread, so each is set. On a shared CPU, a cache hit's few
    milliseconds then go before a generation step: measured at 50 users (bench.run all_cache), a
    miss generating on both cores was beside 9 of the 13 slowest first-asked paraphrases."""
    if not nice or not hasattr(os, "setpriority"):  # (Windows has no nice values)
        return
    tasks = "/proc/self/task"
    threads = [int(t) for t in os.listdir(tasks)] if os.path.isdir(tasks) else [0]
    for thread in threads:
        try:
            os.setpriority(os.PRIO_PROCESS, thread, max(nice, os.getpriority(os.PRIO_PROCESS, thread)))
        except ProcessLookupError:  # it ended meanwhile
            continue
        except OSError as exc:
            log.warning("could not lower thread %d's CPU priority (%s)", thread, exc)


@signals.worker_process_init.connect
def _load_model(**_: Any) -> None:
    started = time.monotonic()
    engine = _load_engine()
    if engine.device.type == "cpu":
        _lower_cpu_priority(settings.worker_nice)
    limits = settings.limits

    def make_scheduler(inbox: Inbox, loop: LoopCalls, requeue: Any) -> Scheduler:
        redis = _redis()
        lifecycle = Lifecycle(
            engine, JobStore(redis, settings.result_ttl_s), limits, StreamPublisher(redis), loop, requeue,
            settings.served_model,
        )  # fmt: skip
        return Scheduler(engine, lifecycle, inbox, settings.batch_wait_s, settings.bulk_min_share)

    generate.make_scheduler = make_scheduler
    try:  # the API's /tokenize reads it from Redis
        publish_tokenizer(_redis(), settings.served_model, engine.tokenizer, engine.context_length)
    except Exception as exc:
        log.warning("could not share the tokenizer (%s): /tokenize answers 503 until a worker does", exc)
    _info.update(
        source=settings.model_name,
        adapter=settings.adapter_path or None,
        device=str(engine.device),
        dtype=engine.dtype,
        max_batch_size=settings.max_batch_size,
        batch_wait_ms=settings.batch_wait_ms,
    )
    gc.collect()  # the loaded model lives as long as the process: full collections need not walk it (wsgi.py)
    gc.freeze()
    log.info(
        "model %s ready on %s (%s) in %.1f s; up to %d rows at once, an idle worker starts %d ms after "
        "the first request",
        settings.model_name,
        engine.device,
        engine.dtype,
        time.monotonic() - started,
        settings.max_batch_size,
        settings.batch_wait_ms,
    )


class HeartbeatStep(bootsteps.StartStopStep):
    """Every HEARTBEAT_S: record this worker as alive (read by /readyz) and renew its leases.

    kombu hands an unacked message to another consumer once it is older than the visibility
    timeout. Moving the delivery time of every message this worker holds to "now" keeps a long
    batch from being run twice, while a crashed worker's messages return after one timeout.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, parent: Any) -> None:
        self.redis = _redis()
        self.hostname = parent.hostname
        self._beat()
        self.timer = parent.timer.call_repeatedly(HEARTBEAT_S, self._beat)

    def stop(self, parent: Any) -> None:
        if getattr(self, "timer", None) is not None:
            self.timer.cancel()
            self.timer = None
            with contextlib.suppress(Exception):  # leaving anyway; a stale entry ages out
                self.redis.zrem(WORKERS_KEY, self.hostname)
                self.redis.hdel(WORKER_INFO_KEY, self.hostname)

    shutdown = stop

    def _beat(self) -> None:
        now = time.time()
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.zadd(WORKERS_KEY, {self.hostname: now})
                pipe.hset(WORKER_INFO_KEY, self.hostname, json.dumps(_info))
                if tags := held_delivery_tags():
                    pipe.zadd(UNACKED_INDEX_KEY, dict.fromkeys(tags, now), xx=True)
                pipe.execute()
        except Exception as exc:
            log.warning("heartbeat failed: %s", exc)


app.steps["consumer"].add(GenerationStep)
app.steps["consumer"].add(HeartbeatStep)

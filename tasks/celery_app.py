"""The Celery app: Redis broker and result backend, JSON only, acks after the result is stored."""

from __future__ import annotations

from celery import Celery

from tasks import redis_connect
from tasks.settings import Settings

#: kombu's Redis transport keeps delivered-but-unacked messages here: delivery tag -> time, and
#: delivery tag -> [message, exchange, routing key].
UNACKED_INDEX_KEY = "unacked_index"
UNACKED_KEY = "unacked"
#: Seconds to wait for Redis before a request is answered 503 rather than hanging.
REDIS_CONNECT_TIMEOUT_S = 2.0
REDIS_SOCKET_TIMEOUT_S = 10.0


def make_celery(settings: Settings) -> Celery:
    """Create the Celery app both the API (to publish) and the worker (to consume) use."""
    url, sentinel_options = redis_connect.celery_urls(settings)
    app = Celery("llm", broker=url, backend=url)
    redis_timeouts = {
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
        "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
    }
    app.conf.update(
        # JSON only: a pickle message is refused by the worker, never executed.
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        # Ack only after a request's result is stored; a worker that dies mid-batch leaves its
        # messages unacked, and Redis hands them out again after the visibility timeout.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_s,
            # Look for messages of dead workers every 5 s (kombu's default: every 100 s).
            "unacked_restore_interval": 5,
            "unacked_restore_throttle": 1,
            **redis_timeouts,
            **sentinel_options,
        },
        result_backend_transport_options=sentinel_options,
        redis_socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
        redis_socket_timeout=REDIS_SOCKET_TIMEOUT_S,
        redis_backend_health_check_interval=10,
        result_expires=settings.result_ttl_s,
        # The solo worker holds one running batch plus one filling: prefetch two batches' worth.
        worker_prefetch_multiplier=2 * settings.max_batch_size,
        # Task events for every request, so Flower and `celery events` see each one.
        worker_send_task_events=True,
        task_send_sent_event=True,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
        broker_connection_retry_on_startup=True,
    )
    return app

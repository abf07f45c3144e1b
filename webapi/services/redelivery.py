"""Sending again the messages the broker lost.

kombu's Redis transport takes a message off its queue (BRPOP) before it records it as unacked, so
a worker killed in between, or one whose connection closes while it waits, takes the message with
it (celery/kombu#305, celery/celery#7950). The job record knows better: from publishing to its end,
a job is listed as unfinished (tasks/job_record.py), and its message must be somewhere: on a
queue, or held unacked by a worker (a dead worker's unacked messages return after the visibility
timeout). A job whose message is in neither place on two passes in a row, `PASS_S` apart, was
lost (a message in transit is missing for microseconds, not seconds): it is sent again, with the
same task id, and the worker's claim runs it once.

One API process at a time does this (a lease); it costs a read of the queues only while some job
has been unfinished for a pass.
"""

from __future__ import annotations

import json
import logging
import time

from celery import Celery
from redis import Redis

from tasks import metrics
from tasks.celery_app import UNACKED_KEY
from tasks.contract import TASK_NAME, model_queues
from tasks.job_record import QUEUED, RUNNING, JobStore
from webapi.background import BackgroundLoop, Lease
from webapi.services.models import ModelRegistry

log = logging.getLogger(__name__)


def _task_id(raw: bytes, held: bool = False) -> str | None:
    """A message's task id (None for a message this service did not send)."""
    try:
        message = json.loads(raw)
        return str((message[0] if held else message)["headers"]["id"])
    except (ValueError, KeyError, TypeError, IndexError):
        return None


#: Seconds between passes.
PASS_S = 5.0
LEASE_KEY = "llm:jobs:redelivery:lease"


class Redelivery(BackgroundLoop):
    """Finds enqueued jobs whose messages are gone, and publishes them again."""

    thread_name, pause_s = "redelivery", PASS_S

    def __init__(
        self, celery: Celery, redis: Redis, store: JobStore, models: ModelRegistry, min_age_s: float = PASS_S
    ) -> None:
        super().__init__()
        self.celery, self.redis, self.store, self.models, self.min_age_s = celery, redis, store, models, min_age_s
        self.lease = Lease(redis, 3 * PASS_S)
        self.metrics = metrics.Recorder(redis)
        self._missing: set[str] = set()  # jobs whose messages were nowhere on the last pass

    def run_once(self) -> list[str]:
        """One pass; returns the jobs sent again."""
        if not self.lease.hold(LEASE_KEY):
            self._missing.clear()
            return []
        unfinished = self.store.unfinished(enqueued_before=time.time() - self.min_age_s)
        if not unfinished:
            self._missing.clear()
            return []
        # The queues of every model listed or served; a job on another model's queue is not judged.
        queues = {queue for model in {*self.models.known, *self.models.live()} for queue in model_queues(model)}
        missing = set(unfinished) - self._message_ids(queues)
        lost, self._missing = missing & self._missing, missing - self._missing
        return [job_id for job_id in sorted(lost) if self._send_again(job_id, queues)]

    def _message_ids(self, queues: set[str]) -> set[str]:
        """Task ids of every message on `queues` or held unacked."""
        with self.redis.pipeline(transaction=False) as pipe:
            for queue in sorted(queues):
                pipe.lrange(queue, 0, -1)
            pipe.hvals(UNACKED_KEY)
            *queued, unacked = pipe.execute()
        ids = {_task_id(raw) for messages in queued for raw in messages}
        ids.update(_task_id(raw, held=True) for raw in unacked)
        return ids

    def _send_again(self, job_id: str, watched: set[str]) -> bool:
        record = self.store.get(job_id)
        if record is None or record.state not in (QUEUED, RUNNING) or record.message is None:
            self.store.forget_unfinished(job_id)  # expired, or ended since the list was read
            return False
        if record.message["queue"] not in watched:
            return False
        if record.cancel_requested_at is not None:  # its worker acked it as revoked: it ends here
            self.store.mark_done([job_id])
            return False
        message = record.message
        self.celery.send_task(TASK_NAME, kwargs=message["kwargs"], task_id=job_id, queue=message["queue"])
        log.warning("job %s: the broker lost its message (a worker died taking it); sent it again", job_id)
        with self.metrics.pipeline() as rec:
            rec.add(metrics.MESSAGES_SENT_AGAIN)
        return True

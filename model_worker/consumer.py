"""The batching consumer: a Celery task Strategy that buffers requests for a batch thread.

Like celery-batches, the Strategy takes each prefetched message and buffers it instead of handing
it to the pool. Unlike it, the batch runs on a thread of its own, so the worker's event loop keeps
consuming, heartbeating and answering control commands while the model generates, and the next
batch fills during the current one. Everything that touches the broker connection (events, acks)
is handed back to the event loop thread, which owns that connection.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from celery import Celery, Task, bootsteps, signals
from celery.utils.imports import symbol_by_name
from celery.worker.request import create_request_cls
from celery.worker.state import revoked as revoked_ids
from celery.worker.state import task_ready, task_reserved
from kombu.asynchronous import Hub

from model_worker.batching import BULK, INTERACTIVE, Inbox, Pending
from tasks.contract import BULK_QUEUE

log = logging.getLogger(__name__)


class BatchTask(Task):
    """A task whose requests the worker runs in batches through `process_batch`."""

    Strategy = "model_worker.consumer:batch_strategy"
    #: Set by the worker at start-up: called on the batch thread with a list of Requests.
    process_batch: Callable[[list[Any], LoopCalls, Callable[[], bool] | None], None] | None = None
    max_batch_size = 8
    batch_wait_s = 0.05

    def run(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{self.name} runs only inside the batching worker (celery worker --pool solo)")


class LoopCalls:
    """Runs callables on the event loop thread; other threads wake it through a pipe."""

    def __init__(self, hub: Hub | None) -> None:
        self._hub = hub
        self._calls: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]]] = queue.SimpleQueue()
        if hub is not None:
            self._read_fd, self._write_fd = os.pipe()
            os.set_blocking(self._read_fd, False)
            os.set_blocking(self._write_fd, False)
            hub.add_reader(self._read_fd, self.run_pending)

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run fn(*args) on the loop thread soon (at once where there is no event loop)."""
        if self._hub is None:
            fn(*args)
            return
        self._calls.put((fn, args))
        with contextlib.suppress(BlockingIOError):  # a full pipe means the loop is already woken
            os.write(self._write_fd, b"\0")

    def run_pending(self, *_: Any) -> None:
        """Run every queued call; runs on the loop thread."""
        if self._hub is not None:
            try:
                while os.read(self._read_fd, 4096):
                    pass
            except BlockingIOError:
                pass
        while True:
            try:
                fn, args = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                fn(*args)
            except Exception:
                log.exception("loop call %s failed", getattr(fn, "__name__", fn))

    def close(self) -> None:
        """Run what is left and stop listening on the pipe."""
        self.run_pending()
        if self._hub is not None:
            self._hub.remove(self._read_fd)
            os.close(self._read_fd)
            os.close(self._write_fd)
            self._hub = None


class Batcher:
    """Buffers requests and runs them in batches on one thread, one batch at a time."""

    def __init__(self, task: BatchTask, hub: Hub | None) -> None:
        self.task = task
        self.loop = LoopCalls(hub)
        self.inbox = Inbox()
        self.held: dict[str, Any] = {}  # delivery tag -> Request not yet acked (loop thread only)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"batcher-{task.name}", daemon=True)
        self._thread.start()

    def put(self, request: Any) -> None:
        """Buffer one request (called on the loop thread as each message arrives)."""
        self.held[request.message.delivery_tag] = request
        self.inbox.put(Pending(request, lane=BULK if is_bulk(request) else INTERACTIVE))

    def held_tags(self) -> list[str]:
        """Delivery tags of the messages this batcher holds unacked (call on the loop thread)."""
        for tag in [t for t, req in self.held.items() if req.acknowledged]:
            del self.held[tag]
        return list(self.held)

    def stop(self) -> None:
        """Finish the running batch, store and ack it, and start no other.

        Buffered requests are left unacked: the broker puts them back on the queue when the
        connection closes, for this worker's next start or another worker.
        """
        self._stopping = True
        self.inbox.stop()
        self._thread.join()
        self.loop.close()

    def _run(self) -> None:
        while not self._stopping:
            batch = self.inbox.collect(self.task.max_batch_size, self.task.batch_wait_s)
            if not batch or self._stopping:
                break
            try:
                assert self.task.process_batch is not None, "the worker did not set process_batch"
                # Bulk work gives way, between two decode steps, to an interactive request.
                preempt = self._interactive_waiting if batch[0].lane == BULK else None
                self.task.process_batch([p.item for p in batch], self.loop, preempt)
            except Exception:
                log.exception("batch of %d failed outside generation; requeueing it", len(batch))
                self.loop.call(self._requeue, [p.item for p in batch])

    def _interactive_waiting(self) -> bool:
        return self.inbox.waiting(INTERACTIVE) > 0

    def _requeue(self, requests: list[Any]) -> None:
        """Give failed requests back to the broker (and stop renewing their leases)."""
        for request in requests:
            self.held.pop(request.message.delivery_tag, None)
            requeue(request)


_batchers: list[Batcher] = []


def is_bulk(request: Any) -> bool:
    """The request came from the bulk (Batch API) queue."""
    return request.delivery_info.get("routing_key") == BULK_QUEUE


def requeue(request: Any) -> None:
    """Give an unfinished request back to the broker (on the loop thread)."""
    task_ready(request)
    if request.acknowledged or connection_lost(request):
        return  # done with, or its connection is gone: the visibility timeout returns it
    request.reject(requeue=True)


def connection_lost(request: Any) -> bool:
    """The broker connection this request arrived on has closed: it can no longer be acked."""
    return bool(getattr(request.message.channel, "closed", False))


def held_delivery_tags() -> list[str]:
    """Every message the running batchers hold unacked: the leases the worker must renew."""
    return [tag for batcher in _batchers for tag in batcher.held_tags()]


def batch_strategy(task: BatchTask, app: Celery, consumer: Any, **_: Any) -> Callable[..., None]:
    """Celery task Strategy: turn each message into a Request and buffer it for the batcher."""
    batcher = Batcher(task, consumer.hub)
    _batchers.append(batcher)
    hostname = consumer.hostname
    eventer = consumer.event_dispatcher
    Request = create_request_cls(symbol_by_name(task.Request), task, consumer.pool, hostname, eventer, app=app)

    def on_message(message: Any, body: Any, ack: Any, reject: Any, callbacks: Any, **__: Any) -> None:
        if body is None and "args" not in message.payload:
            body, headers, decoded, utc = message.body, message.headers, False, app.uses_utc_timezone()
        else:  # task protocol 1 and hybrid messages are not sent by this service
            log.error("refusing a message in an old task protocol: %r", message.headers)
            reject(log, consumer.connection_errors, False)
            return
        request = Request(
            message,
            on_ack=ack,
            on_reject=reject,
            app=app,
            hostname=hostname,
            eventer=eventer,
            task=task,
            connection_errors=consumer.connection_errors,
            body=body,
            headers=headers,
            decoded=decoded,
            utc=utc,
        )
        if (request.expires or request.id in revoked_ids) and request.revoked():
            return  # Celery marked it revoked, told the monitors and acked it
        signals.task_received.send(sender=consumer, request=request)
        request.send_event(
            "task-received",
            name=request.name,
            args=request.argsrepr,
            kwargs=request.kwargsrepr,
            root_id=request.root_id,
            parent_id=request.parent_id,
            retries=0,
            eta=None,
            expires=request.expires and request.expires.isoformat(),
        )
        task_reserved(request)
        batcher.put(request)

    return on_message


class BatcherStep(bootsteps.StartStopStep):
    """Consumer step that stops the batchers before the broker connection closes."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def stop(self, parent: Any) -> None:
        while _batchers:
            _batchers.pop().stop()

    shutdown = stop

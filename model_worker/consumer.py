"""The batching consumer: a Celery task Strategy that buffers requests for the generation thread.

Like celery-batches, the Strategy takes each prefetched message and buffers it instead of handing
it to the pool. Unlike it, generation runs on a thread of its own (the scheduler's loop), so the
worker's event loop keeps consuming, heartbeating and answering control commands (a revoke
included) while the model generates, and arrivals join the running batch at its next step.
Everything that touches the broker connection (events, acks) is handed back to the event loop
thread, which owns that connection.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

from celery import Celery, Task, bootsteps, signals
from celery.utils.imports import symbol_by_name
from celery.worker.request import create_request_cls
from celery.worker.state import revoked as revoked_ids
from celery.worker.state import task_ready, task_reserved
from kombu.asynchronous import Hub

from model_worker.inbox import BULK, INTERACTIVE, Inbox, Pending
from tasks.contract import is_bulk_queue

log = logging.getLogger(__name__)


class Serving(Protocol):
    """What runs on the generation thread (model_worker.scheduler.Scheduler)."""

    def run(self) -> None: ...


class BatchTask(Task):
    """A task whose requests the worker runs in a continuous batch, on a thread of its own."""

    Strategy = "model_worker.consumer:batch_strategy"
    #: Set by the worker at start-up: builds what serves the inbox, given the inbox, the loop
    #: calls and a function that gives a request back to the broker.
    make_scheduler: Callable[[Inbox, LoopCalls, Callable[[Any], None]], Serving] | None = None

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


class Generation:
    """The generation thread of one task: the inbox it serves, and the messages it holds unacked."""

    def __init__(self, task: BatchTask, hub: Hub | None) -> None:
        assert task.make_scheduler is not None, "the worker did not set make_scheduler"
        self.loop = LoopCalls(hub)
        self.inbox = Inbox()
        self.held: dict[str, Any] = {}  # delivery tag -> Request not yet acked (loop thread only)
        self.scheduler = task.make_scheduler(self.inbox, self.loop, self._requeue)
        self._thread = threading.Thread(target=self._run, name=f"generation-{task.name}", daemon=True)
        self._thread.start()

    def put(self, request: Any) -> None:
        """Buffer one request (called on the loop thread as each message arrives)."""
        self.held[request.message.delivery_tag] = request
        self.inbox.put(pending_of(request))

    def held_tags(self) -> list[str]:
        """Delivery tags of the messages held unacked (call on the loop thread)."""
        for tag in [t for t, req in self.held.items() if req.acknowledged]:
            del self.held[tag]
        return list(self.held)

    def stop(self) -> None:
        """Finish the running rows, store and ack them, and start nothing else.

        Buffered requests are left unacked: the broker puts them back on the queue when the
        connection closes, for this worker's next start or another worker.
        """
        self.inbox.stop()
        self._thread.join()
        self.loop.close()

    def _run(self) -> None:
        try:
            self.scheduler.run()
        except Exception:
            log.exception("the generation thread failed; the worker stops taking work")

    def _requeue(self, request: Any) -> None:
        """Give a request back to the broker (and stop renewing its lease); any thread."""

        def on_loop() -> None:
            self.held.pop(request.message.delivery_tag, None)
            requeue(request)

        self.loop.call(on_loop)


_generations: list[Generation] = []


def pending_of(request: Any) -> Pending:
    """A request as the inbox holds it: its lane, tenant, priority, and whether it is background work."""
    kwargs = request.kwargs if isinstance(request.kwargs, dict) else {}
    urgency = kwargs.get("priority", 0)
    return Pending(
        request,
        lane=lane_of(request),
        tenant=str(kwargs.get("tenant", "")),
        priority=urgency if isinstance(urgency, int) and not isinstance(urgency, bool) else 0,
        background=kwargs.get("background") is True,
    )


def lane_of(request: Any) -> int:
    """BULK for a request from the bulk (Batch API) queue, else INTERACTIVE."""
    return BULK if is_bulk_queue(request.delivery_info.get("routing_key") or "") else INTERACTIVE


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
    """Every message the generation threads hold unacked: the leases the worker must renew."""
    return [tag for generation in _generations for tag in generation.held_tags()]


def batch_strategy(task: BatchTask, app: Celery, consumer: Any, **_: Any) -> Callable[..., None]:
    """Celery task Strategy: turn each message into a Request and buffer it for generation."""
    generation = Generation(task, consumer.hub)
    _generations.append(generation)
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
        generation.put(request)

    return on_message


class GenerationStep(bootsteps.StartStopStep):
    """Consumer step that stops the generation threads before the broker connection closes."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def stop(self, parent: Any) -> None:
        while _generations:
            _generations.pop().stop()

    shutdown = stop

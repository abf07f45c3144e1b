"""Requests the worker has taken from the broker and not yet started, in two priority lanes.

Thread-safe: the Celery event loop puts, the generation thread takes. Interactive requests go
first; bulk (Batch API) requests fill the rows interactive work leaves (the scheduler decides how
many; see model_worker/scheduler.py). Testable without a worker, after LitServe's collate_requests.

Within a lane, a request's `priority` goes first, and tenants take turns: the next request is
the oldest one of the tenant served least recently, so one tenant's burst in the inbox delays
another tenant's request by at most one of the burst's, not by all of them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Priority lanes: interactive requests first; bulk (Batch API) work fills the time they leave.
INTERACTIVE, BULK = 0, 1
LANE_NAMES = ("interactive", "bulk")
#: Tenants whose last turn is remembered; past that, those with nothing waiting are forgotten.
MAX_REMEMBERED_TENANTS = 1024
#: How long an idle worker lets the service's own background work (cache verifications) gather
#: before starting it. No one waits for it, and one by one it trickles in and runs a row at a time:
#: on the CPU here a 16-token verification cost 210 ms of CPU alone, 83 ms in a batch of four and
#: 52 ms in a batch of eight.
BACKGROUND_WAIT_S = 5.0


@dataclass
class Pending:
    """A buffered request and when it arrived (time.monotonic())."""

    item: Any
    arrived: float = field(default_factory=time.monotonic)
    lane: int = INTERACTIVE
    tenant: str = ""
    priority: int = 0
    background: bool = False  # the service's own work, which no one waits for


class Inbox:
    """Buffered requests in priority lanes."""

    def __init__(self) -> None:
        self._lanes: tuple[deque[Pending], ...] = (deque(), deque())
        self._turns = 0  # requests taken so far
        self._last_turn: dict[str, int] = {}  # tenant -> the turn its last request was taken at
        self._changed = threading.Condition()
        self._stopped = False

    def put(self, pending: Pending) -> None:
        """Buffer a request in its lane."""
        with self._changed:
            self._lanes[pending.lane].append(pending)
            self._changed.notify()

    def waiting(self, lane: int) -> int:
        """How many requests wait in `lane`."""
        with self._changed:
            return len(self._lanes[lane])

    def take(self, lane: int, count: int) -> list[Pending]:
        """Up to `count` of `lane`'s requests without waiting: highest priority first, then the
        oldest request of the tenant whose turn it is."""
        with self._changed:
            queue = self._lanes[lane]
            return [self._next(queue) for _ in range(min(count, len(queue)))]

    def _next(self, queue: deque[Pending]) -> Pending:
        """Take the request whose turn it is (queue is oldest first)."""
        urgent = max(p.priority for p in queue)
        chosen = min(
            (p for p in queue if p.priority == urgent),
            key=lambda p: self._last_turn.get(p.tenant, -1),  # min() keeps the oldest among equals
        )
        queue.remove(chosen)
        self._turns += 1
        self._last_turn[chosen.tenant] = self._turns
        if len(self._last_turn) > MAX_REMEMBERED_TENANTS:  # forget tenants with nothing waiting
            waiting = {p.tenant for lane in self._lanes for p in lane} | {chosen.tenant}
            self._last_turn = {t: turn for t, turn in self._last_turn.items() if t in waiting}
        return chosen

    @property
    def stopped(self) -> bool:
        """stop() was called: take no more work."""
        return self._stopped

    def stop(self) -> None:
        """Wake a waiting caller and make every later wait return False."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def wait_for(self, lane: int, timeout_s: float) -> bool:
        """Block until a request waits in `lane`, the inbox stops, or `timeout_s` passes; True if one waits."""
        with self._changed:
            self._changed.wait_for(lambda: self._lanes[lane] or self._stopped, timeout_s)
            return bool(self._lanes[lane])

    def wait_for_work(self, enough: int, max_wait_s: float, clock: Callable[[], float] = time.monotonic) -> bool:
        """An idle worker's rule: block until `enough` requests wait, or `max_wait_s` after the first
        (at least BACKGROUND_WAIT_S after the first for background work alone).

        A deadline from the first arrival, not a periodic tick: a request that already waited
        while the worker was busy starts at once. Returns False once stopped.
        """
        with self._changed:
            while not self._stopped:
                waiting = [p for lane in self._lanes for p in lane]
                if waiting:
                    background_wait_s = max(BACKGROUND_WAIT_S, max_wait_s)
                    deadline = min(p.arrived + (background_wait_s if p.background else max_wait_s) for p in waiting)
                    remaining = deadline - clock()
                    if len(waiting) >= enough or remaining <= 0:
                        return True
                self._changed.wait(remaining if waiting else None)
            return False

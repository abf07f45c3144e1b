"""Requests the worker has taken from the broker and not yet started, in two priority lanes.

Thread-safe: the Celery event loop puts, the generation thread takes. Interactive requests go
first; bulk (Batch API) requests fill the rows interactive work leaves (the scheduler decides how
many; see model_worker/scheduler.py). Testable without a worker, after LitServe's collate_requests.
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


@dataclass
class Pending:
    """A buffered request and when it arrived (time.monotonic())."""

    item: Any
    arrived: float = field(default_factory=time.monotonic)
    lane: int = INTERACTIVE


class Inbox:
    """Buffered requests in priority lanes."""

    def __init__(self) -> None:
        self._lanes: tuple[deque[Pending], ...] = (deque(), deque())
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
        """Up to `count` of `lane`'s requests, oldest first, without waiting."""
        with self._changed:
            queue = self._lanes[lane]
            return [queue.popleft() for _ in range(min(count, len(queue)))]

    @property
    def stopped(self) -> bool:
        """stop() was called: take no more work."""
        return self._stopped

    def stop(self) -> None:
        """Wake a waiting caller and make every later wait return False."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def wait_for_work(self, enough: int, max_wait_s: float, clock: Callable[[], float] = time.monotonic) -> bool:
        """An idle worker's rule: block until `enough` requests wait, or `max_wait_s` after the first.

        A deadline from the first arrival, not a periodic tick: a request that already waited
        while the worker was busy starts at once. Returns False once stopped.
        """
        with self._changed:
            while not self._stopped:
                first = min((lane[0].arrived for lane in self._lanes if lane), default=None)
                if first is not None:
                    remaining = first + max_wait_s - clock()
                    if sum(map(len, self._lanes)) >= enough or remaining <= 0:
                        return True
                self._changed.wait(remaining if first is not None else None)
            return False

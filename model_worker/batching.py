"""Batch collection, testable without a worker (after LitServe's collate_requests).

A batch is flushed when it holds `max_size` requests, or `max_wait_s` after its *first* request
arrived: a deadline from the first arrival, not a periodic tick. A request that already waited
while the previous batch ran is therefore flushed at once with whatever else is waiting.
Interactive requests and bulk (Batch API) requests wait in separate lanes; interactive first.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

#: Priority lanes: interactive requests first; bulk (Batch API) work fills the time they leave.
INTERACTIVE, BULK = 0, 1


@dataclass
class Pending:
    """A buffered request and when it arrived (time.monotonic())."""

    item: Any
    arrived: float = field(default_factory=time.monotonic)
    lane: int = INTERACTIVE


class Inbox:
    """Buffered requests in priority lanes; thread-safe. A batch is drawn from one lane only,
    so an interactive request never waits for the longest bulk row of its batch."""

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

    def stop(self) -> None:
        """Wake a waiting collector and make every later collect return nothing."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def collect(self, max_size: int, max_wait_s: float, clock: Callable[[], float] = time.monotonic) -> list[Pending]:
        """Block for a request, then gather its lane until full or its first request's deadline.

        The lane is the most urgent one holding requests, looked at again whenever one arrives:
        an interactive request that comes while bulk work gathers takes the batch over.
        Returns [] once stopped.
        """
        with self._changed:
            while True:
                if self._stopped:
                    return []
                lane = next((lane for lane in self._lanes if lane), None)
                if lane is not None:
                    remaining = lane[0].arrived + max_wait_s - clock()
                    if len(lane) >= max_size or remaining <= 0:
                        return [lane.popleft() for _ in range(min(max_size, len(lane)))]
                self._changed.wait(remaining if lane is not None else None)


def group_by(items: Iterable[T], key: Callable[[T], Hashable]) -> list[list[T]]:
    """Split items into groups of equal key, keeping first-seen order."""
    groups: dict[Hashable, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return list(groups.values())

"""Batch collection as plain functions, testable with a plain queue (after LitServe's collate).

A batch is flushed when it holds `max_size` requests, or `max_wait_s` after its *first* request
arrived: a deadline from the first arrival, not a periodic tick. A request that already waited
while the previous batch ran is therefore flushed at once with whatever else is waiting.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

#: Put on the inbox to wake a collector that should stop.
STOP = object()


@dataclass
class Pending:
    """A buffered request and when it arrived (time.monotonic())."""

    item: Any
    arrived: float = field(default_factory=time.monotonic)


def collect_batch(
    inbox: queue.SimpleQueue[Any], max_size: int, max_wait_s: float, clock: Callable[[], float] = time.monotonic
) -> list[Pending]:
    """Block for the first Pending, then gather more until full or its deadline passes.

    Returns early, possibly empty, when it takes STOP from the inbox.
    """
    first = inbox.get()
    if first is STOP:
        return []
    batch = [first]
    deadline = first.arrived + max_wait_s
    while len(batch) < max_size:
        remaining = deadline - clock()
        try:
            pending = inbox.get(timeout=remaining) if remaining > 0 else inbox.get_nowait()
        except queue.Empty:
            break
        if pending is STOP:
            inbox.put(STOP)  # let the caller's next collect see it too
            break
        batch.append(pending)
    return batch


def group_by(items: Iterable[T], key: Callable[[T], Hashable]) -> list[list[T]]:
    """Split items into groups of equal key, keeping first-seen order."""
    groups: dict[Hashable, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return list(groups.values())

import queue
import threading
import time

from model_worker.batching import STOP, Pending, collect_batch, group_by


def _inbox(*items):
    inbox = queue.SimpleQueue()
    for item in items:
        inbox.put(item)
    return inbox


def test_flushes_as_soon_as_the_batch_is_full():
    now = time.monotonic()
    inbox = _inbox(*[Pending(i, now) for i in range(10)])
    batch = collect_batch(inbox, max_size=8, max_wait_s=60)
    assert [p.item for p in batch] == list(range(8))
    assert inbox.qsize() == 2


def test_deadline_counts_from_the_first_arrival_not_from_collection():
    # The first request has waited longer than the window already (the previous batch ran):
    # it is flushed at once with what is waiting, not held for another window.
    long_ago = time.monotonic() - 5
    inbox = _inbox(Pending("old", long_ago), Pending("new"))
    started = time.monotonic()
    batch = collect_batch(inbox, max_size=8, max_wait_s=1.0)
    assert [p.item for p in batch] == ["old", "new"]
    assert time.monotonic() - started < 0.5


def test_a_lone_request_waits_for_company_until_its_deadline_then_goes():
    inbox = _inbox(Pending("lone"))
    late = threading.Timer(0.05, lambda: inbox.put(Pending("late")))
    late.start()
    started = time.monotonic()
    batch = collect_batch(inbox, max_size=8, max_wait_s=0.3)
    waited = time.monotonic() - started
    assert [p.item for p in batch] == ["lone", "late"]
    assert waited >= 0.29  # it used its window; it did not hold out for a full batch


def test_stop_wakes_a_waiting_collector():
    inbox = _inbox(STOP)
    assert collect_batch(inbox, 8, 1.0) == []


def test_stop_ends_a_partial_batch_and_stays_visible():
    inbox = _inbox(Pending("a"), STOP)
    assert [p.item for p in collect_batch(inbox, 8, 10.0)] == ["a"]
    assert inbox.get_nowait() is STOP


def test_group_by_keeps_first_seen_order():
    assert group_by([1, 2, 3, 4, 5, 6], lambda n: n % 3) == [[1, 4], [2, 5], [3, 6]]

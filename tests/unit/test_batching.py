import threading
import time

from model_worker.batching import BULK, INTERACTIVE, Inbox, Pending, group_by


def _inbox(*items: Pending) -> Inbox:
    inbox = Inbox()
    for item in items:
        inbox.put(item)
    return inbox


def _items(batch: list[Pending]) -> list:
    return [p.item for p in batch]


def test_flushes_as_soon_as_the_batch_is_full():
    now = time.monotonic()
    inbox = _inbox(*[Pending(i, now) for i in range(10)])
    assert _items(inbox.collect(max_size=8, max_wait_s=60)) == list(range(8))
    assert _items(inbox.collect(max_size=8, max_wait_s=0)) == [8, 9]


def test_deadline_counts_from_the_first_arrival_not_from_collection():
    # The first request has waited longer than the window already (the previous batch ran):
    # it is flushed at once with what is waiting, not held for another window.
    long_ago = time.monotonic() - 5
    inbox = _inbox(Pending("old", long_ago), Pending("new"))
    started = time.monotonic()
    assert _items(inbox.collect(max_size=8, max_wait_s=1.0)) == ["old", "new"]
    assert time.monotonic() - started < 0.5


def test_a_lone_request_waits_for_company_until_its_deadline_then_goes():
    inbox = _inbox(Pending("lone"))
    late = threading.Timer(0.05, lambda: inbox.put(Pending("late")))
    late.start()
    started = time.monotonic()
    batch = inbox.collect(max_size=8, max_wait_s=0.3)
    waited = time.monotonic() - started
    assert _items(batch) == ["lone", "late"]
    assert waited >= 0.29  # it used its window; it did not hold out for a full batch


def test_stop_wakes_a_waiting_collector_and_stays_in_force():
    inbox = Inbox()
    threading.Timer(0.05, inbox.stop).start()
    assert inbox.collect(8, 10.0) == []
    inbox.put(Pending("late"))
    assert inbox.collect(8, 10.0) == []


def test_interactive_requests_go_first_and_never_share_a_batch_with_bulk_work():
    now = time.monotonic()
    inbox = _inbox(*[Pending(f"bulk{i}", now - 1, BULK) for i in range(3)])
    inbox.put(Pending("user", now))
    assert (inbox.waiting(INTERACTIVE), inbox.waiting(BULK)) == (1, 3)
    assert _items(inbox.collect(max_size=8, max_wait_s=0)) == ["user"]
    assert _items(inbox.collect(max_size=8, max_wait_s=0)) == ["bulk0", "bulk1", "bulk2"]


def test_an_interactive_arrival_takes_over_a_gathering_bulk_batch():
    inbox = _inbox(Pending("bulk", lane=BULK))
    threading.Timer(0.05, lambda: inbox.put(Pending("user"))).start()
    assert _items(inbox.collect(max_size=8, max_wait_s=0.3)) == ["user"]
    assert _items(inbox.collect(max_size=8, max_wait_s=0)) == ["bulk"]


def test_group_by_keeps_first_seen_order():
    assert group_by([1, 2, 3, 4, 5, 6], lambda n: n % 3) == [[1, 4], [2, 5], [3, 6]]

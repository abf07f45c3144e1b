"""The inbox: lanes, and an idle worker's rule (start at N waiting or a deadline after the first)."""

import threading
import time
from types import SimpleNamespace

from model_worker import inbox as inbox_module
from model_worker.consumer import pending_of
from model_worker.inbox import BULK, INTERACTIVE, Inbox, Pending
from tests.samples import QUEUES


def _inbox(*items: Pending) -> Inbox:
    inbox = Inbox()
    for item in items:
        inbox.put(item)
    return inbox


def test_an_idle_worker_starts_as_soon_as_enough_requests_wait():
    inbox = _inbox(*[Pending(i) for i in range(8)])
    started = time.monotonic()
    assert inbox.wait_for_work(enough=8, max_wait_s=60)
    assert time.monotonic() - started < 0.5


def test_the_deadline_counts_from_the_first_arrival_not_from_the_wait():
    # The first request has waited longer than the window already (the worker was busy):
    # it starts at once with what is waiting, not after another window.
    inbox = _inbox(Pending("old", time.monotonic() - 5), Pending("new"))
    started = time.monotonic()
    assert inbox.wait_for_work(enough=8, max_wait_s=1.0)
    assert time.monotonic() - started < 0.5


def test_a_lone_request_waits_for_company_until_its_deadline_then_goes():
    started = time.monotonic()  # before the first arrival, whose deadline it is
    inbox = _inbox(Pending("lone"))
    threading.Timer(0.05, lambda: inbox.put(Pending("late"))).start()
    assert inbox.wait_for_work(enough=8, max_wait_s=0.3)
    assert time.monotonic() - started >= 0.29  # it used its window; it did not hold out for a full batch
    assert [p.item for p in inbox.take(INTERACTIVE, 8)] == ["lone", "late"]


def test_background_work_alone_gathers_for_its_own_longer_window(monkeypatch):
    # No one waits for a cache verification: the worker lets them gather and runs them together.
    monkeypatch.setattr(inbox_module, "BACKGROUND_WAIT_S", 0.3)
    started = time.monotonic()
    inbox = _inbox(*[Pending(f"verify{i}", lane=BULK, background=True) for i in range(2)])
    assert inbox.wait_for_work(enough=8, max_wait_s=0.01)
    assert time.monotonic() - started >= 0.29


def test_background_work_never_waits_less_than_requests_do(monkeypatch):
    monkeypatch.setattr(inbox_module, "BACKGROUND_WAIT_S", 0.01)
    started = time.monotonic()
    inbox = _inbox(Pending("verify", lane=BULK, background=True))
    assert inbox.wait_for_work(enough=8, max_wait_s=0.3)  # BATCH_WAIT_MS above BACKGROUND_WAIT_S
    assert time.monotonic() - started >= 0.29


def test_a_verification_message_is_background_work_in_the_inbox():
    def message(**kwargs):  # what the worker's Celery request carries (tasks: the API's send_task)
        return SimpleNamespace(kwargs={"request": "{}", **kwargs}, delivery_info={"routing_key": QUEUES.bulk})

    verification, batch_line = pending_of(message(background=True)), pending_of(message(tenant="t"))
    assert (verification.lane, verification.background) == (BULK, True)
    assert (batch_line.lane, batch_line.background, batch_line.tenant) == (BULK, False, "t")


def test_a_request_beside_background_work_keeps_its_own_window_and_both_start(monkeypatch):
    monkeypatch.setattr(inbox_module, "BACKGROUND_WAIT_S", 60)
    inbox = _inbox(Pending("verify", lane=BULK, background=True))
    threading.Timer(0.05, lambda: inbox.put(Pending("user"))).start()
    started = time.monotonic()
    assert inbox.wait_for_work(enough=8, max_wait_s=0.1)
    assert time.monotonic() - started < 5
    assert (inbox.waiting(INTERACTIVE), inbox.waiting(BULK)) == (1, 1)


def test_enough_background_work_starts_at_once(monkeypatch):
    monkeypatch.setattr(inbox_module, "BACKGROUND_WAIT_S", 60)
    inbox = _inbox(*[Pending(i, lane=BULK, background=True) for i in range(8)])
    started = time.monotonic()
    assert inbox.wait_for_work(enough=8, max_wait_s=0.01)
    assert time.monotonic() - started < 5


def test_stop_wakes_a_waiting_worker_and_stays_in_force():
    inbox = Inbox()
    threading.Timer(0.05, inbox.stop).start()
    assert not inbox.wait_for_work(8, 10.0)
    inbox.put(Pending("late"))
    assert not inbox.wait_for_work(8, 0.0) and inbox.stopped


def test_lanes_are_taken_apart_oldest_first():
    now = time.monotonic()
    inbox = _inbox(*[Pending(f"bulk{i}", now - 1, BULK) for i in range(3)], Pending("user", now))
    assert (inbox.waiting(INTERACTIVE), inbox.waiting(BULK)) == (1, 3)
    assert [p.item for p in inbox.take(BULK, 2)] == ["bulk0", "bulk1"]
    assert [p.item for p in inbox.take(INTERACTIVE, 5)] == ["user"]
    assert inbox.take(INTERACTIVE, 5) == [] and inbox.waiting(BULK) == 1


def test_tenants_take_turns_so_a_burst_delays_another_tenant_by_one_request():
    now = time.monotonic()
    burst = [Pending(f"a{i}", now - 1, tenant="a") for i in range(6)]
    inbox = _inbox(
        *burst, Pending("b0", now, tenant="b"), Pending("b1", now, tenant="b"), Pending("c0", now, tenant="c")
    )
    assert [p.item for p in inbox.take(INTERACTIVE, 5)] == ["a0", "b0", "c0", "a1", "b1"]
    assert [p.item for p in inbox.take(INTERACTIVE, 1)] == ["a2"]  # each tenant's own requests oldest first
    inbox.put(Pending("c1", now, tenant="c"))  # c was served longest ago of those waiting
    assert [p.item for p in inbox.take(INTERACTIVE, 2)] == ["c1", "a3"]


def test_a_higher_priority_goes_first_and_tenants_take_turns_within_it():
    now = time.monotonic()
    inbox = _inbox(
        Pending("a-low", now - 2, tenant="a"),
        Pending("b-low", now - 2, tenant="b"),
        Pending("a-high", now, tenant="a", priority=2),
        Pending("a-high2", now, tenant="a", priority=2),
        Pending("b-high", now, tenant="b", priority=2),
    )
    assert [p.item for p in inbox.take(INTERACTIVE, 5)] == ["a-high", "b-high", "a-high2", "b-low", "a-low"]


def test_waiting_for_a_lane_ends_when_a_request_arrives_in_it_or_at_the_timeout():
    inbox = _inbox(Pending("bulk", lane=BULK))
    started = time.monotonic()
    assert not inbox.wait_for(INTERACTIVE, 0.05)  # a bulk request does not end it
    assert time.monotonic() - started >= 0.04
    threading.Timer(0.05, lambda: inbox.put(Pending("user"))).start()
    assert inbox.wait_for(INTERACTIVE, 60)

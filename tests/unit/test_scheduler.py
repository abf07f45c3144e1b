"""The scheduler's policy, with a stand-in engine (one token per row per step) and lifecycle."""

from __future__ import annotations

from model_worker.engine import Step
from model_worker.inbox import BULK, INTERACTIVE, Inbox, Pending
from model_worker.scheduler import PREEMPT_MIN_STEPS, Scheduler
from model_worker.sequence import Completion, Sequence
from tasks.contract import GenerationRequest
from tasks.errors import GenerationFailed


class CountingEngine:
    """Each row gains a token per step and finishes at its max_tokens; a 'poison' row fails steps."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows, self.rows, self.steps, self.sizes = max_rows, [], 0, []

    @property
    def free(self) -> int:
        return self.max_rows - len(self.rows)

    def add(self, seq: Sequence) -> None:
        assert self.free
        seq.admit(len(self.rows))
        self.rows.append(seq)

    def remove(self, seq: Sequence, keep: bool = False) -> None:
        self.rows.remove(seq)
        seq.slot = None

    def step(self) -> Step:
        if any(seq.key.startswith("poison") for seq in self.rows):
            raise RuntimeError("boom")
        self.steps += 1
        self.sizes.append(len(self.rows))
        step = Step(rows=len(self.rows), background=all(seq.background for seq in self.rows))  # as on the CPU
        for seq in list(self.rows):
            seq.generated.append(1)
            seq.steps += 1
            if len(seq.generated) >= seq.request.max_tokens:
                self.remove(seq)
                step.finished.append((seq, Completion(seq.key, "length", 1, len(seq.generated))))
        return step


class RecordingLifecycle:
    def __init__(self) -> None:
        self.finished: dict[str, object] = {}
        self.revoked: set[str] = set()
        self.cancelled_keys: list[str] = []
        self.requeued: list[str] = []

    def admit(self, requests: list[tuple[str, int]], batch_size: int) -> list[Sequence]:
        seqs = [Sequence(name, GenerationRequest(prompt="x", max_tokens=tokens), [1]) for name, tokens in requests]
        for seq in seqs:
            seq.background = seq.key.startswith("verify")  # the service's own work (a cache verification)
        return seqs

    def publish(self, deltas) -> None:
        pass

    def finish(self, outcomes) -> None:
        self.finished.update(outcomes)

    def cancelled(self, seq: Sequence) -> bool:
        return seq.key in self.revoked

    def cancel(self, seq: Sequence) -> None:
        self.cancelled_keys.append(seq.key)

    def requeue(self, request) -> None:
        self.requeued.append(request)

    def record_steps(self, rows, preempted) -> None:
        pass


def _scheduler(rows: int, bulk_min_share: float = 0.0) -> tuple[Scheduler, Inbox, RecordingLifecycle]:
    inbox, lifecycle = Inbox(), RecordingLifecycle()
    return Scheduler(CountingEngine(rows), lifecycle, inbox, 0.0, bulk_min_share), inbox, lifecycle


def _put(inbox: Inbox, lane: int, *requests: tuple[str, int]) -> None:
    for request in requests:
        inbox.put(Pending(request, lane=lane))


def _keys(scheduler: Scheduler) -> set[str]:
    return {seq.key for seq in scheduler.engine.rows}


def test_arrivals_join_the_running_batch_and_freed_rows_are_refilled():
    scheduler, inbox, lifecycle = _scheduler(rows=2)
    _put(inbox, INTERACTIVE, ("a", 3), ("b", 10), ("c", 2))
    scheduler.tick()
    assert _keys(scheduler) == {"a", "b"}  # c waits for a row
    scheduler.tick()
    scheduler.tick()  # a finishes in this step
    assert "a" in lifecycle.finished and _keys(scheduler) == {"b"}
    scheduler.tick()  # c takes a's row at once, while b goes on
    assert _keys(scheduler) == {"b", "c"}


def test_an_interactive_arrival_takes_a_bulk_row_which_resumes_later():
    scheduler, inbox, lifecycle = _scheduler(rows=2)
    _put(inbox, BULK, ("bulk1", 20), ("bulk2", 20))
    scheduler.tick()
    _put(inbox, INTERACTIVE, ("user", 3))
    for _ in range(PREEMPT_MIN_STEPS - 1):  # not before the bulk rows have made some progress
        scheduler.tick()
        assert "user" not in _keys(scheduler)
    scheduler.tick()
    assert "user" in _keys(scheduler) and len(scheduler.parked) == 1
    while len(lifecycle.finished) < 3:
        scheduler.tick()
    assert lifecycle.finished.keys() == {"user", "bulk1", "bulk2"}
    assert all(len(lifecycle.finished[k].text) for k in lifecycle.finished)  # the parked row finished too


def test_bulk_work_keeps_its_share_under_interactive_saturation():
    scheduler, inbox, lifecycle = _scheduler(rows=4, bulk_min_share=0.25)
    _put(inbox, INTERACTIVE, *[(f"user{i}", 5) for i in range(40)])
    _put(inbox, BULK, ("bulk", 10))
    for _ in range(12):
        scheduler.tick()
    assert scheduler.engine.sizes == [4] * 12  # every row busy at every step
    assert "bulk" in lifecycle.finished  # one row in four stayed open to it
    assert inbox.waiting(INTERACTIVE) > 0  # although interactive work never stopped waiting


def test_without_a_share_bulk_work_waits_for_interactive_work():
    scheduler, inbox, lifecycle = _scheduler(rows=2)
    _put(inbox, INTERACTIVE, *[(f"user{i}", 3) for i in range(6)])
    _put(inbox, BULK, ("bulk", 3))
    for _ in range(9):
        scheduler.tick()
        assert "bulk" not in lifecycle.finished or inbox.waiting(INTERACTIVE) == 0


def test_a_cancelled_row_leaves_before_the_next_step_and_its_row_is_reused():
    scheduler, inbox, lifecycle = _scheduler(rows=1)
    _put(inbox, INTERACTIVE, ("long", 100), ("next", 2))
    scheduler.tick()
    lifecycle.revoked.add("long")
    before = scheduler.engine.steps
    scheduler.tick()  # the cancelled row is gone, and the waiting request has its row for this step
    assert lifecycle.cancelled_keys == ["long"] and _keys(scheduler) == {"next"}
    assert scheduler.engine.steps == before + 1


def test_a_failing_step_is_retried_row_by_row_so_only_the_culprit_fails():
    scheduler, inbox, lifecycle = _scheduler(rows=4)
    _put(inbox, INTERACTIVE, ("a", 2), ("poison", 2), ("b", 2))
    while len(lifecycle.finished) < 3:
        scheduler.tick()
    assert isinstance(lifecycle.finished["poison"], GenerationFailed)
    assert isinstance(lifecycle.finished["a"], Completion) and isinstance(lifecycle.finished["b"], Completion)


def test_after_stop_the_running_rows_finish_and_nothing_new_starts():
    scheduler, inbox, lifecycle = _scheduler(rows=2)
    _put(inbox, INTERACTIVE, ("a", 3), ("b", 3), ("waiting", 3))
    scheduler.tick()
    inbox.stop()
    scheduler.run()
    assert lifecycle.finished.keys() == {"a", "b"}
    assert inbox.waiting(INTERACTIVE) == 1  # left unacked, for the broker to hand out again


def test_beside_interactive_work_bulk_fills_half_the_rows_and_alone_all_of_them():
    scheduler, inbox, lifecycle = _scheduler(rows=4)
    _put(inbox, BULK, *[(f"bulk{i}", 50) for i in range(8)])
    scheduler.tick()
    assert scheduler.state()["bulk_rows"] == 4  # a batch alone gets every row
    scheduler, inbox, lifecycle = _scheduler(rows=4)
    _put(inbox, INTERACTIVE, ("user", 2))
    _put(inbox, BULK, *[(f"bulk{i}", 50) for i in range(8)])
    for _ in range(5):
        scheduler.tick()
        assert scheduler.state()["bulk_rows"] <= 2  # the user left; its rows stay free for the next
    assert "user" in lifecycle.finished
    _put(inbox, INTERACTIVE, ("next", 2))
    scheduler.tick()
    assert "next" in _keys(scheduler) and not scheduler.parked  # a free row at once: nobody preempted


class RestRecordingInbox(Inbox):
    """Records the scheduler's rests after its steps (waits for an interactive arrival)."""

    def __init__(self) -> None:
        super().__init__()
        self.rests: list[float] = []

    def wait_for(self, lane: int, timeout_s: float) -> bool:
        assert lane == INTERACTIVE
        self.rests.append(timeout_s)
        return super().wait_for(lane, 0)


def test_on_the_cpu_a_step_of_background_work_alone_is_followed_by_a_rest_as_long_as_it():
    inbox, lifecycle = RestRecordingInbox(), RecordingLifecycle()
    scheduler = Scheduler(CountingEngine(4), lifecycle, inbox, 0.0)
    _put(inbox, BULK, ("verify", 3))
    scheduler.tick()
    assert len(inbox.rests) == 1 and inbox.rests[0] >= 0  # it rests while its row runs on
    _put(inbox, INTERACTIVE, ("user", 2))
    scheduler.tick()
    scheduler.tick()  # a step with anyone's request in it takes the cores: no rest
    assert len(inbox.rests) == 1
    assert lifecycle.finished.keys() == {"verify", "user"}

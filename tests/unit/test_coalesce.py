"""The coalescer: concurrent callers share one run, and each gets its own outputs back."""

import threading
import time

import pytest

from webapi.cache.coalesce import Coalescer


class Squares:
    """Squares a batch, and records it."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        return [i * i for i in items]


def _call_concurrently(coalescer: Coalescer, inputs: list[list[int]]) -> list[list[int]]:
    outputs: list[list[int]] = [[] for _ in inputs]

    def call(k: int) -> None:
        outputs[k] = coalescer(inputs[k])

    threads = [threading.Thread(target=call, args=(k,), daemon=True) for k in range(len(inputs))]
    with coalescer.lock:  # hold the model until everyone has queued: the next run takes them all
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 5
        while len(coalescer._waiting) < sum(map(len, inputs)):
            assert time.monotonic() < deadline, "the callers never queued their items"
            time.sleep(0.001)
    for thread in threads:
        thread.join(timeout=5)
        assert not thread.is_alive(), "a caller is still waiting"
    return outputs


def test_waiting_callers_share_a_run_and_each_gets_its_own_outputs_in_order():
    work = Squares()
    inputs = [[1, 2], [3], [4, 5, 6]]
    outputs = _call_concurrently(Coalescer(work, max_batch=64), inputs)
    assert outputs == [[1, 4], [9], [16, 25, 36]]
    assert len(work.batches) == 1 and sorted(work.batches[0]) == [1, 2, 3, 4, 5, 6]


def test_a_run_takes_at_most_max_batch_items():
    work = Squares()
    outputs = _call_concurrently(Coalescer(work, max_batch=2), [[1, 2, 3], [4, 5]])
    assert outputs == [[1, 4, 9], [16, 25]]
    assert [len(b) for b in work.batches] == [2, 2, 1]


def _falls_over(items: list[int]) -> list[int]:
    raise ValueError("model fell over")


def _too_few(items: list[int]) -> list[int]:
    return items[:1]


@pytest.mark.parametrize("run", [_falls_over, _too_few])
def test_every_caller_of_a_failed_run_hears_of_it_none_waits_forever(run):
    coalescer = Coalescer(run, max_batch=64)
    errors: list[Exception] = []

    def call(items: list[int]) -> None:
        try:
            coalescer(items)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=([k, k],), daemon=True) for k in range(3)]
    with coalescer.lock:  # all three in one run
        for thread in threads:
            thread.start()
        while len(coalescer._waiting) < 6:
            time.sleep(0.001)
    for thread in threads:
        thread.join(timeout=5)
    assert not any(t.is_alive() for t in threads), "a caller waits forever"
    assert len(errors) == 3


def test_a_failed_run_raises_in_its_callers_and_the_next_run_still_works():
    calls = []

    def fail_once(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            raise ValueError("model fell over")
        return items

    coalescer = Coalescer(fail_once, max_batch=8)
    with pytest.raises(ValueError, match="fell over"):
        coalescer([1])
    assert coalescer([2]) == [2]

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

    threads = [threading.Thread(target=call, args=(k,)) for k in range(len(inputs))]
    with coalescer.lock:  # hold the model until everyone has queued: the next run takes them all
        for thread in threads:
            thread.start()
        while len(coalescer._waiting) < sum(map(len, inputs)):
            time.sleep(0.001)
    for thread in threads:
        thread.join(timeout=5)
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

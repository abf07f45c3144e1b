"""One forward pass for many requests: concurrent callers' items are run together.

Whichever caller finds the model free runs the items waiting at that moment (up to a batch), so
under load one pass serves many requests (a small model's pass costs far less per item in a batch), and an idle
request pays no batching delay. The embedder and the paraphrase model both read through one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

Item = TypeVar("Item")
Output = TypeVar("Output")


class Coalescer(Generic[Item, Output]):
    """Calls `run` on batches of at most `max_batch` items, gathered from every waiting caller.

    `lock` is held while `run` runs: whatever else must not use the model at the same time holds it
    too (a fast tokenizer is not safe in two threads at once)."""

    def __init__(self, run: Callable[[list[Item]], Sequence[Output]], max_batch: int) -> None:
        self._run, self.max_batch = run, max_batch
        self.lock = threading.Lock()
        self._waiting: list[tuple[Item, Future[Output]]] = []
        self._waiting_lock = threading.Lock()

    def __call__(self, items: Sequence[Item]) -> list[Output]:
        """`run`'s output for each item, in order (raises what `run` raised for its batch)."""
        futures: list[Future[Output]] = [Future() for _ in items]
        with self._waiting_lock:
            self._waiting.extend(zip(items, futures, strict=True))
        while not all(f.done() for f in futures):
            with self.lock:  # whoever holds it runs everyone's waiting items
                if not all(f.done() for f in futures):  # (another caller may have run ours meanwhile)
                    self._run_waiting()
        return [f.result() for f in futures]

    def _run_waiting(self) -> None:
        with self._waiting_lock:
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
        if not batch:
            return
        try:
            outputs = self._run([item for item, _ in batch])
            if len(outputs) != len(batch):
                raise RuntimeError(f"{len(outputs)} outputs for {len(batch)} items")
            for (_, future), output in zip(batch, outputs, strict=True):
                future.set_result(output)
        except BaseException as exc:  # every caller of the batch hears of it: none waits forever
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise  # (SystemExit, KeyboardInterrupt: this thread stops too)

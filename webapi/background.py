"""The API process's background threads: one daemon thread per service, started and stopped alike."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class BackgroundLoop:
    """Calls `run_once()` on a daemon thread until stop(), `pause_s` apart.

    A pass that raises (Redis away) is logged and retried a second later; nothing is lost,
    because every service keeps its state in Redis.
    """

    thread_name = "background"
    pause_s = 1.0  # 0: back to back (a pass that blocks on Redis itself)

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> object:
        """One pass."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """End the thread after its current pass."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stopping.wait(self.pause_s):
            try:
                self.run_once()
            except Exception as exc:
                log.warning("%s: pass failed (%s); retrying", self.thread_name, exc)
                self._stopping.wait(1)

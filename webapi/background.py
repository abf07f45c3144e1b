"""The API process's background threads: one daemon thread per service, started and stopped alike."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid

from redis import Redis

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


# Hold or renew a lease: ARGV = owner, milliseconds.
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


class Lease:
    """The right, among every API process, to do one piece of work; it lapses `ttl_s` after its
    holder last renewed it, so another process takes over from one that died."""

    def __init__(self, redis: Redis, ttl_s: float) -> None:
        self.ttl_ms = int(ttl_s * 1000)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._hold = redis.register_script(_LEASE)

    def hold(self, key: str) -> bool:
        """Take or renew the lease named `key`; False while another process holds it."""
        return bool(self._hold(keys=[key], args=[self.owner, self.ttl_ms]))

"""A guard around a kombu bug that would end the worker when Redis goes away.

On a lost connection, kombu's Redis channel drops its connection pool and then tries to put the
unacked messages back with a client built from that pool; the transport no longer has its
connection, and an AttributeError escapes Celery's connection-error handling as "Unrecoverable
error" (the same family as celery/kombu#582 and #970). Nothing can be restored without a
connection anyway: those messages return after the visibility timeout. So the failed restore is
logged, and the worker goes on to reconnect.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis as kombu_redis

log = logging.getLogger(__name__)
_restore_unacked = kombu_redis.QoS.restore_unacked


def _restore_unacked_or_leave_to_timeout(self: Any, client: Any = None) -> Any:
    try:
        return _restore_unacked(self, client)
    except AttributeError:
        log.warning("connection lost: unacked messages will return after the visibility timeout")
        return None


def install() -> None:
    """Patch kombu once (idempotent)."""
    kombu_redis.QoS.restore_unacked = _restore_unacked_or_leave_to_timeout

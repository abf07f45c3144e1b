"""Following a job's text while the worker generates it (the stream layout: tasks.contract).

The stream is read with XREAD from its start, so nothing published before the reader arrived is
lost, and a blocked read lasts at most a second: a client that goes away leaves no subscription
behind, and a job that ends without a stream entry (cancelled, answered by a non-streamed leader,
failed before generation) is still seen within a second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from tasks.contract import STREAM_KEY_PREFIX
from webapi.services.job_objects import TERMINAL
from webapi.services.job_reader import JobReader

#: The longest a read blocks; also how often an idle stream yields a heartbeat.
POLL_S = 1.0


def job_text(reader: JobReader, job_id: str, timeout_s: float) -> Iterator[str | dict[str, Any]]:
    """Yield the job's text piece by piece, then the job object (terminal, or as it is at the timeout).

    An empty piece is a heartbeat: nothing new for POLL_S. The pieces add up to the final text,
    less a divergence a redelivered sampled job may have, which cannot be taken back.
    """
    deadline = time.monotonic() + timeout_s
    key, last, sent = STREAM_KEY_PREFIX + reader.source_of(job_id), "0-0", 0
    job = reader.describe(job_id)
    while job["status"] not in TERMINAL and (remaining := deadline - time.monotonic()) > 0:
        replies = reader.redis.xread({key: last}, count=256, block=max(1, int(min(remaining, POLL_S) * 1000)))
        entries = replies[0][1] if replies else []
        for last, fields in entries:  # noqa: B007  (last: where the next read starts)
            if b"t" not in fields:  # the end marker: the result is stored
                continue
            offset, text = int(fields[b"o"]), fields[b"t"].decode()
            if offset <= sent < offset + len(text):  # skips text a redelivered job sends again
                yield text[sent - offset :]
                sent = offset + len(text)
        if not entries or any(b"end" in fields for _, fields in entries):
            job = reader.describe(job_id)
            if not entries:
                yield ""
    if job["status"] == "succeeded" and len(job["result"]["text"]) > sent:
        yield job["result"]["text"][sent:]
    yield job

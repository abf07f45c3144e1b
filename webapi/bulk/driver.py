"""The batch driver: takes each active batch from validating to its end, a step at a time.

Every API process runs one driver thread. A batch is driven by whichever driver holds its lease
in Redis, so a batch survives the restart of any API process. A step is one of:

- validating: check every line (with line numbers in `errors`), then in_progress or failed;
- in_progress: close the lines whose jobs have ended, then submit more, keeping at most
  BATCH_WINDOW of the batch's jobs queued or running (on the bulk queue);
- cancelling, or past its completion window: cancel the queued jobs, let running ones finish;
- once no line is open: write the output and error files, then completed/cancelled/expired.

A line is recorded as submitted together with its job id, so a driver that dies between submitting
a job and recording it resubmits that line, and the output holds each line exactly once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from itertools import islice
from typing import Any

from tasks.contract import Limits
from tasks.errors import NotFound, ServiceUnavailable, error_from_dict
from webapi import openai_schema
from webapi.background import BackgroundLoop, Lease
from webapi.bulk import lines
from webapi.bulk.batch_store import BatchStore
from webapi.bulk.file_store import FileStore
from webapi.cache.embedder import Embedder
from webapi.errors import openai_error, openai_status
from webapi.services import embeddings
from webapi.services.embeddings import EmbeddingsRequest
from webapi.services.job_objects import TERMINAL
from webapi.services.job_reader import JobReader
from webapi.services.models import ModelRegistry
from webapi.services.submission import Submitter

log = logging.getLogger(__name__)

#: Seconds between driver passes, and how long a lease outlives its driver.
TICK_S = 0.25
LEASE_S = 15.0
#: Lines read from Redis at a time when writing the result files.
FINALIZE_CHUNK = 500
OUTCOMES = {"succeeded": "completed", "failed": "failed"}  # cancelled lines count as neither


class BatchDriver(BackgroundLoop):
    """Drives the active batches; `run_once` is one pass (the thread calls it every TICK_S)."""

    thread_name, pause_s = "batch-driver", TICK_S

    def __init__(
        self,
        batches: BatchStore,
        files: FileStore,
        submitter: Submitter,
        reader: JobReader,
        limits: Limits,
        models: ModelRegistry,
        window: int,
        embedder: Embedder,
    ) -> None:
        super().__init__()
        self.batches, self.files, self.submitter, self.reader = batches, files, submitter, reader
        self.limits, self.models, self.window, self.embedder = limits, models, window, embedder
        self.lease = Lease(batches.redis, LEASE_S)
        self._readers: dict[str, tuple[int, Iterator[tuple[int, bytes]]]] = {}

    def run_once(self) -> None:
        """One step of every active batch whose lease this driver holds."""
        for batch_id in self.batches.active():
            if self.lease.hold(self.batches.key(batch_id, "lease")):
                try:
                    self.step(self.batches.get(batch_id))
                except NotFound:
                    self.batches.ended(batch_id)

    def step(self, batch: dict[str, str]) -> None:
        """Advance one batch as far as it can go now."""
        status = batch["status"]
        if status == "validating":
            self._validate(batch)
        elif status == "in_progress":
            expired = time.time() > int(batch["expires_at"])
            if expired:
                self._cancel_open(batch)
            open_lines = self._poll(batch)
            if not expired:
                open_lines += self._fill(batch, self.window - open_lines)
            if open_lines == 0 and (expired or int(batch["cursor"]) >= int(batch["last_line"])):
                if expired:
                    self._finish(batch, "in_progress", "expired", "expired_at")
                elif self.batches.transition(batch["id"], ("in_progress",), "finalizing", "finalizing_at"):
                    self._finish(batch, "finalizing", "completed", "completed_at")
        elif status == "cancelling":
            self._cancel_open(batch)
            if self._poll(batch) == 0:
                self._finish(batch, "cancelling", "cancelled", "cancelled_at")
        elif status == "finalizing":  # a driver stopped while finalizing: finish its work
            self._finish(batch, "finalizing", "completed", "completed_at")
        else:
            self._forget(batch["id"])

    def _validate(self, batch: dict[str, str]) -> None:
        path = self.files.path(batch["input_file_id"])
        if not path.exists():
            count, last, errors = 0, 0, [{"code": "file_not_found", "message": "the input file was deleted"}]
        else:
            count, last, errors = lines.validate(
                path, batch["endpoint"], self.limits, self.models.resolve, self.embedder
            )
        if errors:
            self.batches.update(batch["id"], errors=json.dumps(errors))
            self.batches.transition(batch["id"], ("validating",), "failed", "failed_at")
            return
        self.batches.update(batch["id"], total=count, last_line=last)
        self.batches.transition(batch["id"], ("validating",), "in_progress", "in_progress_at")

    def _poll(self, batch: dict[str, str]) -> int:
        """Close the lines whose jobs have ended; returns how many stay open."""
        still_open = 0
        for line, job_id in self.batches.open_lines(batch["id"]).items():
            status = self.reader.describe(job_id)["status"]
            if status in TERMINAL:
                self.batches.close(batch["id"], line, OUTCOMES.get(status, ""))
            else:
                still_open += 1
        return still_open

    def _fill(self, batch: dict[str, str], room: int) -> int:
        """Submit up to `room` more lines from the cursor on; returns how many."""
        if lines.ENDPOINTS[batch["endpoint"]] == "embeddings":
            room = min(room, 1)  # answered on this thread (up to 2 048 inputs): one per pass, between lease renewals
        if room <= 0:
            return 0
        cursor = int(batch["cursor"])
        position, reader = self._readers.get(batch["id"], (-1, iter(())))
        if position != cursor:  # new to this driver, or another driver moved on meanwhile
            reader = lines.read(self.files.path(batch["input_file_id"]), start=cursor)
        submitted = 0
        for number, raw in islice(reader, room):
            line = lines.parse(raw, batch["endpoint"], self.limits, self.models.resolve, self.embedder)
            request = line.request
            if isinstance(request, EmbeddingsRequest):  # answered here, on the API's embedding model
                answer = embeddings.respond(request, self.embedder)
                job_id = self.submitter.answered(answer, self.embedder.name, batch["tenant"])
            else:
                try:
                    job_id, _ = self.submitter.submit(
                        request.generation, request.model, request.cache_mode, batch["tenant"], user=request.user,
                        bulk=True,
                    )  # fmt: skip
                except ServiceUnavailable:  # no worker serves its model now: this line waits for one
                    self._readers.pop(batch["id"], None)  # the reader has read past it
                    return submitted
            self.batches.submitted(batch["id"], number, job_id, line.custom_id)
            cursor, submitted = number, submitted + 1
        self._readers[batch["id"]] = (cursor, reader)
        return submitted

    def _cancel_open(self, batch: dict[str, str]) -> None:
        for job_id in self.batches.open_lines(batch["id"]).values():
            self.reader.store.cancel(job_id)  # only queued jobs are cancelled; running ones finish

    def _finish(self, batch: dict[str, str], before: str, status: str, stamp: str) -> None:
        """Write the output and error files, then end the batch in `status`."""
        batch_id = batch["id"]
        kind = lines.ENDPOINTS[batch["endpoint"]]
        written = {"output": 0, "error": 0}
        parts = {name: self.files.directory / f".{batch_id}-{name}.part" for name in written}
        with parts["output"].open("w") as output, parts["error"].open("w") as errors:
            for name, entry in self._results(batch_id, kind):
                (output if name == "output" else errors).write(json.dumps(entry, ensure_ascii=False) + "\n")
                written[name] += 1
        fields = {}
        for name, count in written.items():
            if count:
                file_id = f"file-{batch_id.removeprefix('batch_')}-{name}"
                self.files.adopt(file_id, parts[name], f"{batch_id}_{name}.jsonl", "batch_output", batch["tenant"])
                fields[f"{name}_file_id"] = file_id
            else:
                parts[name].unlink(missing_ok=True)
        if fields:
            self.batches.update(batch_id, **fields)
        if not self.batches.transition(batch_id, (before,), status, stamp):
            return  # cancelled meanwhile: the next pass ends it as such, rewriting the same files
        self._forget(batch_id)
        log.info("batch %s %s: %s", batch_id, status, written)

    def _forget(self, batch_id: str) -> None:
        self.batches.ended(batch_id)
        self._readers.pop(batch_id, None)

    def _results(self, batch_id: str, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """("output" | "error", line) for each submitted line that ended, in file order."""
        submitted = self.batches.submitted_lines(batch_id)
        for start in range(0, len(submitted), FINALIZE_CHUNK):
            for job_id, custom_id in self.batches.jobs(batch_id, submitted[start : start + FINALIZE_CHUNK]):
                job = self.reader.describe(job_id)
                entry: dict[str, Any] = {"id": f"batch_req_{job_id}", "custom_id": custom_id, "error": None}
                if job["status"] == "succeeded":
                    body = job["result"] if kind == "embeddings" else openai_schema.response(kind, [job], job["model"])
                    entry["response"] = {"status_code": 200, "request_id": job_id, "body": body}
                    yield "output", entry
                elif job["status"] == "failed":
                    error = error_from_dict(job["error"])
                    body = {"error": openai_error(error)}
                    entry["response"] = {"status_code": openai_status(error), "request_id": job_id, "body": body}
                    yield "error", entry

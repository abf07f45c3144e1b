"""The job record's typed fields survive the Redis hash, and absent ones stay absent."""

import numpy as np

from tasks.job_record import DONE, QUEUED, CacheHit, CacheKeys, JobRecord


def test_every_field_round_trips_through_the_hash():
    vector = np.arange(4, dtype=np.float32).tobytes()
    record = JobRecord(
        QUEUED, "m", 1.5, tenant="t", user="u", started_at=2.5, finished_at=3.5, inference_ms=12.5, batch_size=8,
        worker="w", attempts=2, cancel_requested_at=4.5, followers=1, follows="leader",
        cache=CacheKeys("scope", "exact", "text", "refresh", vector), hit=CacheHit("semantic", "src", 0.91),
        result={"text": "hi", "finish_reason": "stop"},
    )  # fmt: skip
    raw = record.to_hash()
    assert all(isinstance(v, str) for v in raw.values())
    assert JobRecord.from_hash(raw) == record


def test_a_new_record_writes_only_what_it_knows():
    raw = JobRecord(DONE, "m", 1.0).to_hash()
    assert raw == {"state": DONE, "model": "m", "created_at": "1.0"}
    record = JobRecord.from_hash(raw)
    assert (record.tenant, record.attempts, record.cache, record.hit, record.result) == ("", 0, None, None, None)


def test_the_worker_written_fields_are_read_typed():
    record = JobRecord.from_hash({"state": "running", "model": "m", "batch_size": "3", "attempts": "1"})
    assert (record.batch_size, record.attempts, record.created_at) == (3, 1, None)

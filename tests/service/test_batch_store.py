"""Batch and file records: status moves are atomic and say whether they happened; paths are absolute."""

import pytest

from tasks.errors import Conflict, NotFound
from webapi.bulk.batch_store import BatchStore
from webapi.bulk.file_store import FileStore


def test_a_cancel_wins_over_a_driver_that_would_finalize(redis_client):
    batches = BatchStore(redis_client)
    batch_id = batches.create("t", "file-x", "/v1/completions", "24h", {})
    assert batches.transition(batch_id, ("validating",), "in_progress", "in_progress_at")
    batches.cancel(batch_id, "t")
    assert not batches.transition(batch_id, ("in_progress",), "finalizing", "finalizing_at")
    assert batches.get(batch_id)["status"] == "cancelling"
    batches.cancel(batch_id, "t")  # again: nothing
    assert batches.transition(batch_id, ("cancelling",), "cancelled", "cancelled_at")


def test_an_ended_batch_cannot_be_cancelled_and_others_cannot_see_it(redis_client):
    batches = BatchStore(redis_client)
    batch_id = batches.create("t", "file-x", "/v1/completions", "24h", {})
    assert batches.transition(batch_id, ("validating",), "failed", "failed_at")
    with pytest.raises(Conflict, match="is failed"):
        batches.cancel(batch_id, "t")
    with pytest.raises(NotFound):
        batches.cancel(batch_id, "someone-else")


def test_a_relative_data_dir_is_taken_from_the_working_directory(redis_client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert FileStore(redis_client, "data").path("file-x") == tmp_path / "data" / "files" / "file-x.jsonl"

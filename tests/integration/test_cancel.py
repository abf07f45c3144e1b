"""Cancellation frees the row: a DELETEd running job and a stream whose client left stop within a
decode step, and a request waiting for a row takes it at once; single-flight followers keep a job going.

A worker of one row, so "the row is reused" is visible: the waiting request starts only when
the cancelled one has left.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from tests import stack

ONE_ROW = {"MAX_BATCH_SIZE": "1", "BATCH_WAIT_MS": "0"}
LONG = {"messages": [{"role": "user", "content": "Tell a very long story about a dragon."}], "max_tokens": 400}
SHORT = {"prompt": "Count: 1, 2, 3,", "max_tokens": 4}


@pytest.fixture(scope="module")
def one_row(tmp_path_factory: pytest.TempPathFactory, engine) -> Iterator[str]:
    """A Redis, a one-row worker and an API of this module's own; yields the API's base URL."""
    logs = tmp_path_factory.mktemp("one-row")
    with stack.redis_server() as url:
        worker = stack.start_worker(url, logs / "worker.log", ONE_ROW)
        api, base = stack.start_api(url, logs / "api.log", ONE_ROW)
        yield base
        stack.stop(api)
        stack.stop(worker)


def _job(base: str, job_id: str) -> dict:
    return requests.get(f"{base}/v1/jobs/{job_id}", timeout=10).json()


def _wait_for_status(base: str, job_id: str, statuses: set[str], timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while (job := _job(base, job_id))["status"] not in statuses:
        assert time.monotonic() < deadline, f"{job_id} is still {job['status']}"
        time.sleep(0.02)
    return job


def _started_at(job: dict) -> float:
    return job["created_at"] + job["timings"]["queue_ms"] / 1000


@pytest.fixture(scope="module")
def step_s(one_row: str) -> float:
    """Seconds a decode step takes on this worker, measured now: the unit the waits below are
    bounded in, so that a loaded machine loosens the bound as it slows the model."""
    job = _wait_for_status(one_row, _submit(one_row, {**LONG, "max_tokens": 40}), {"succeeded"})
    return job["timings"]["inference_ms"] / 1000 / job["result"]["completion_tokens"]


def _within_steps(waited_s: float, step_s: float) -> bool:
    """A quarter of the long job's steps at most: a request that waited for it to finish waited 400."""
    return waited_s < LONG["max_tokens"] / 4 * step_s


def _submit(base: str, body: dict) -> str:
    return requests.post(f"{base}/v1/jobs", json={"cache": "bypass", **body}, timeout=10).json()["id"]


def test_a_deleted_running_job_leaves_its_row_to_the_next_request(one_row, step_s):
    long_id = _submit(one_row, LONG)
    _wait_for_status(one_row, long_id, {"running"})
    short_id = _submit(one_row, SHORT)
    time.sleep(0.5)
    assert _job(one_row, short_id)["status"] == "queued"  # the only row is taken
    asked = time.time()
    response = requests.delete(f"{one_row}/v1/jobs/{long_id}", timeout=30)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    short = _wait_for_status(one_row, short_id, {"succeeded"})
    assert _within_steps(_started_at(short) - asked, step_s)  # it got the row at once, not after 400 tokens
    assert _job(one_row, long_id)["status"] == "cancelled"
    assert requests.delete(f"{one_row}/v1/jobs/{short_id}", timeout=10).status_code == 409  # finished


def test_a_stream_whose_client_leaves_frees_its_row(one_row, step_s):
    body = {"model": "HuggingFaceTB/SmolLM2-135M-Instruct", "stream": True, "temperature": 0, **LONG}
    stream = requests.post(f"{one_row}/v1/chat/completions", json={**body, "cache": "bypass"}, stream=True, timeout=30)
    lines = stream.iter_lines()
    first = next(line for line in lines if line.startswith(b"data: "))
    job_id = "-".join(first.decode().split('"id": "')[1].split('"')[0].split("-")[1:])
    assert _job(one_row, job_id)["status"] == "running"
    short_id = _submit(one_row, SHORT)
    left = time.time()
    stream.close()  # the client goes away mid-answer
    short = _wait_for_status(one_row, short_id, {"succeeded"})
    # Noticed at the next write (a second at most), then a step.
    assert _within_steps(_started_at(short) - left - 1.0, step_s)
    cancelled = _wait_for_status(one_row, job_id, {"cancelled", "succeeded"})
    assert cancelled["status"] == "cancelled"


def test_a_job_that_followers_wait_for_goes_on_when_its_client_leaves(one_row):
    question = {"messages": [{"role": "user", "content": "Write a long poem about rivers."}], "max_tokens": 200}
    body = {"model": "HuggingFaceTB/SmolLM2-135M-Instruct", "stream": True, "temperature": 0, **question}
    stream = requests.post(f"{one_row}/v1/chat/completions", json=body, stream=True, timeout=30)
    lines = stream.iter_lines()  # kept: a finished iter_lines() generator closes the connection
    first = next(line for line in lines if line.startswith(b"data: "))
    leader_id = "-".join(first.decode().split('"id": "')[1].split('"')[0].split("-")[1:])
    follower = requests.post(f"{one_row}/v1/jobs", json=question, timeout=10)
    assert follower.headers["X-Cache"] == "HIT" and follower.json()["cache"]["source_id"] == leader_id
    assert requests.delete(f"{one_row}/v1/jobs/{leader_id}", timeout=10).status_code == 409  # others wait for it
    stream.close()
    finished = _wait_for_status(one_row, follower.json()["id"], {"succeeded", "cancelled", "failed"}, 120)
    assert finished["status"] == "succeeded" and finished["result"]["completion_tokens"] > 0
    assert _job(one_row, leader_id)["status"] == "succeeded"

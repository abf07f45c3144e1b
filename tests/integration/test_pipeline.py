"""End to end: real HTTP to gunicorn, Celery on a real Redis, the batching worker, the real model."""

import contextlib
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from model_worker.sequence import Completion
from tasks.contract import GenerationRequest, Message
from tasks.settings import Settings
from tests import stack
from tests.samples import SERVICE_ENV

BATCH_WAIT_MS = int(SERVICE_ENV["BATCH_WAIT_MS"])
TOPICS = ["cats", "the sea", "Paris", "winter", "coffee", "a robot", "music", "mountains"]


def _chat_body(topic: str, max_tokens: int = 16) -> dict:
    return {
        "messages": [{"role": "user", "content": f"Write one sentence about {topic}."}],
        "max_tokens": max_tokens,
        "cache": "bypass",  # these tests are about generation
    }


def _generate(api: str, body: dict) -> requests.Response:
    return requests.post(f"{api}/v1/generate", json={"cache": "bypass", **body}, timeout=120)


def test_eight_concurrent_requests_share_one_batch_and_get_their_own_answers(api, engine):
    with ThreadPoolExecutor(len(TOPICS)) as pool:
        responses = list(pool.map(lambda topic: _generate(api, _chat_body(topic)), TOPICS))
    jobs = [r.json() for r in responses]
    assert [r.status_code for r in responses] == [200] * 8
    assert [job["batch"]["size"] for job in jobs] == [8] * 8
    for topic, job in zip(TOPICS, jobs, strict=True):
        alone = engine.generate(
            [GenerationRequest(messages=(Message("user", f"Write one sentence about {topic}."),), max_tokens=16)]
        )[0]
        assert isinstance(alone, Completion)
        assert job["status"] == "succeeded"
        assert job["result"] == {
            "text": alone.text,
            "finish_reason": alone.finish_reason,
            "prompt_tokens": alone.prompt_tokens,
            "completion_tokens": alone.completion_tokens,
        }
        assert job["timings"]["inference_ms"] > 0 and job["timings"]["total_ms"] >= job["timings"]["queue_ms"]


def test_a_cpu_worker_runs_every_thread_at_worker_nice(api, worker):
    # WORKER_NICE (10 by default): cache hits go first when the API and the worker both want a
    # core. Every thread, the generation thread's OpenMP team too, once it has generated.
    assert _generate(api, {"prompt": "Count: 1, 2, 3,", "max_tokens": 2}).status_code == 200
    if requests.get(f"{api}/v1/models", timeout=10).json()["data"][0]["workers"][0]["device"] != "cpu":
        pytest.skip("a GPU worker keeps its CPU priority")
    configured = Settings.from_env({**os.environ, **SERVICE_ENV}).worker_nice
    expected = max(configured, os.getpriority(os.PRIO_PROCESS, 0))  # (a nice is never raised back)
    nice = {}
    for thread in map(int, os.listdir(f"/proc/{worker.pid}/task")):
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            nice[thread] = os.getpriority(os.PRIO_PROCESS, thread)
    assert len(nice) > 2 and set(nice.values()) == {expected}


def test_a_lone_request_goes_after_the_batch_wait_without_more_company(api):
    job = _generate(api, {"prompt": "Count: 1, 2, 3,", "max_tokens": 2}).json()
    assert job["status"] == "succeeded"
    assert job["batch"] == {"size": 1}
    assert job["timings"]["queue_ms"] >= BATCH_WAIT_MS * 0.9  # it waited for company, then went alone


def test_a_request_that_fails_inside_a_batch_fails_alone(api):
    bodies = [_chat_body(t, 4) for t in TOPICS[:3]] + [{"prompt": "hello " * 9000, "max_tokens": 4}]
    with ThreadPoolExecutor(len(bodies)) as pool:
        jobs = [r.json() for r in pool.map(lambda b: _generate(api, b), bodies)]
    assert [job["status"] for job in jobs] == ["succeeded"] * 3 + ["failed"]
    assert jobs[3]["error"]["type"] == "prompt_too_long"
    assert "8192 tokens" in jobs[3]["error"]["message"]
    assert jobs[3]["result"] is None
    assert [job["batch"] for job in jobs] == [{"size": 4}] * 4  # one flush served all four


def test_sync_timeout_returns_202_and_the_job_still_finishes(api):
    response = _generate(api, {"prompt": "Count: 1, 2, 3,", "max_tokens": 4, "timeout": 0.05})
    assert response.status_code == 202
    job = response.json()
    assert job["status"] in ("queued", "running")
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}"
    finished = _generate(api, {"prompt": "x", "timeout": 0})
    assert finished.status_code == 202  # timeout 0 answers at once
    for _ in range(200):
        job = requests.get(api + response.headers["Location"], timeout=10).json()
        if job["status"] == "succeeded":
            break
        time.sleep(0.05)
    assert job["status"] == "succeeded" and job["result"]["completion_tokens"] == 4


def test_async_submission_is_202_with_a_job_to_poll(api):
    body = {"prompt": "Count: 1, 2, 3,", "max_tokens": 3, "cache": "bypass"}
    response = requests.post(f"{api}/v1/jobs", json=body, timeout=10)
    assert response.status_code == 202
    job = response.json()
    # The reply describes the job as it stands when read back; an idle worker may have started it.
    assert job["status"] in ("queued", "running") and job["model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}"


def test_an_unknown_job_is_404(api):
    response = requests.get(f"{api}/v1/jobs/0b7c5a4e-0000-4000-8000-000000000000", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


def test_readyz_sees_the_worker(api):
    assert requests.get(f"{api}/readyz", timeout=10).json() == {"status": "ready", "workers": 1}
    assert requests.get(f"{api}/healthz", timeout=10).json() == {"status": "ok"}


def test_a_short_request_does_not_wait_for_the_longest_row_of_its_batch(api, redis_url):
    stack.wait_idle(redis_url)  # an idle worker claims both together; a busy one admits each at its next step
    story = {"messages": [{"role": "user", "content": "Tell a long story about a dragon."}], "max_tokens": 120}
    bodies = [{**story, "timeout": 110}, {"prompt": "Hi", "max_tokens": 2}]
    with ThreadPoolExecutor(2) as pool:
        long_job, short_job = (r.json() for r in pool.map(lambda b: _generate(api, b), bodies))
    started = [job["created_at"] + job["timings"]["queue_ms"] / 1000 for job in (long_job, short_job)]
    assert abs(started[0] - started[1]) < 0.002  # claimed together: one batch
    assert long_job["result"]["completion_tokens"] == 120  # it ran on after the short one was answered
    assert short_job["timings"]["total_ms"] < long_job["timings"]["total_ms"] / 3

"""Refusing what should be refused: API keys and tenants, backpressure, body size, pickle."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from pathlib import Path

import openai
import pytest
import redis as redis_lib
import requests

from tasks.celery_app import make_celery
from tasks.contract import TASK_NAME
from tasks.job_record import QUEUED, JobRecord, JobStore
from tasks.settings import DEFAULT_MODEL, Settings
from tests import stack
from tests.samples import QUEUES, SERVICE_ENV

QUEUE = QUEUES.interactive

KEYS = {"alice": "alice-key-0123456789", "bob": "bob-key-0123456789abc"}


@pytest.fixture(scope="module")
def keyed_api(redis_url, worker, logs_dir):
    env = {**SERVICE_ENV, "API_KEYS": ",".join(f"{t}:{k}" for t, k in KEYS.items())}
    proc, base = stack.start_api(redis_url, logs_dir / "keyed-api.log", env)
    yield base
    stack.stop(proc)


def _as(tenant: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[tenant]}"} if tenant else {}


def test_every_route_but_health_needs_a_key(keyed_api):
    assert requests.get(f"{keyed_api}/healthz", timeout=10).status_code == 200
    assert requests.get(f"{keyed_api}/openapi.json", timeout=10).status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong-key-0123456789"}, {"Authorization": KEYS["alice"]}):
        response = requests.post(f"{keyed_api}/v1/jobs", json={"prompt": "hi"}, headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert requests.get(f"{keyed_api}/v1/jobs/x", headers=headers, timeout=10).status_code == 401


def test_the_openai_client_needs_a_key_too(keyed_api):
    model = Settings.from_env({}).model_name
    with pytest.raises(openai.AuthenticationError) as refused:
        openai.OpenAI(base_url=f"{keyed_api}/v1", api_key="wrong-key-0123456789", max_retries=0).models.list()
    assert refused.value.body["type"] == "authentication_error"
    allowed = openai.OpenAI(base_url=f"{keyed_api}/v1", api_key=KEYS["alice"], max_retries=0)
    assert model in [m.id for m in allowed.models.list()]


def test_tenants_never_share_cached_answers_or_jobs(keyed_api):
    body = {"prompt": f"Name a colour of the rainbow ({uuid.uuid4().hex[:6]}).", "max_tokens": 6}
    first = requests.post(f"{keyed_api}/v1/generate", json=body, headers=_as("alice"), timeout=60)
    assert (first.status_code, first.headers["X-Cache"]) == (200, "MISS")
    again = requests.post(f"{keyed_api}/v1/generate", json=body, headers=_as("alice"), timeout=60)
    assert again.headers["X-Cache"] == "HIT"
    other = requests.post(f"{keyed_api}/v1/generate", json=body, headers=_as("bob"), timeout=60)
    assert other.headers["X-Cache"] == "MISS" and other.json()["cache"]["hit"] is False
    job_url = f"{keyed_api}/v1/jobs/{first.json()['id']}"
    assert requests.get(job_url, headers=_as("alice"), timeout=10).status_code == 200
    assert requests.get(job_url, headers=_as("bob"), timeout=10).status_code == 404
    assert requests.delete(job_url, headers=_as("bob"), timeout=10).status_code == 404


def test_backpressure_answers_429_with_retry_after(redis_url, logs_dir):
    url = redis_url.rsplit("/", 1)[0] + "/7"  # a queue whose worker is busy (announced, never consuming)
    env = {**SERVICE_ENV, "MAX_QUEUE_DEPTH": "3"}
    with (
        stack.announced_worker(url, DEFAULT_MODEL),
        stack.running_api(url, logs_dir / "backpressure-api.log", env) as base,
    ):
        body = {"prompt": "hi", "cache": "bypass"}
        codes = [requests.post(f"{base}/v1/jobs", json=body, timeout=10).status_code for _ in range(3)]
        refused = requests.post(f"{base}/v1/jobs", json=body, timeout=10)
        assert codes == [202, 202, 202]
        assert refused.status_code == 429 and refused.json()["error"]["type"] == "overloaded"
        assert int(refused.headers["Retry-After"]) > 0
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.RateLimitError) as limited:
            client.completions.create(model=Settings.from_env({}).model_name, prompt="hi")
        assert limited.value.body["code"] == "overloaded"


def test_an_oversized_body_is_413(idle_api):
    base, redis = idle_api
    before = redis.llen(QUEUE)
    response = requests.post(f"{base}/v1/jobs", data=b'{"prompt": "' + b"x" * 2_000_000 + b'"}', timeout=30)
    assert response.status_code == 413
    assert response.json()["error"]["message"]
    assert redis.llen(QUEUE) == before


class _Payload:
    """Unpickling this would create a file: proof of execution."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_message_is_refused_not_executed(api, redis_url, tmp_path: Path):
    marker = tmp_path / "executed"
    sender = make_celery(Settings(redis_url=redis_url))
    sender.conf.accept_content = ["json", "pickle"]
    job_id = str(uuid.uuid4())
    JobStore(sender.backend.client, 600).create(job_id, JobRecord(QUEUED, "m", time.time()))
    sender.send_task(
        TASK_NAME, kwargs={"request": _Payload(str(marker))}, task_id=job_id, queue=QUEUE, serializer="pickle"
    )
    time.sleep(3)
    assert not marker.exists()  # never unpickled
    assert requests.get(f"{api}/v1/jobs/{job_id}", timeout=10).json()["status"] == "queued"  # never run
    assert sender.backend.client.llen(QUEUE) == 0  # and not left to clog the queue
    ok = requests.post(f"{api}/v1/generate", json={"prompt": "hi", "max_tokens": 2, "cache": "bypass"}, timeout=60)
    assert ok.json()["status"] == "succeeded"  # the worker carries on


def test_a_tenant_over_its_requests_per_minute_gets_429_and_another_does_not(redis_url, logs_dir):
    url = redis_url.rsplit("/", 1)[0] + "/9"  # its worker never consumes: the jobs just wait
    env = {**SERVICE_ENV, "API_KEYS": ",".join(f"{t}:{k}" for t, k in KEYS.items()), "TENANT_REQUESTS_PER_MINUTE": "2"}
    with stack.announced_worker(url, DEFAULT_MODEL), stack.running_api(url, logs_dir / "limited-api.log", env) as base:
        first = requests.post(f"{base}/v1/jobs", json={"prompt": "hi"}, headers=_as("alice"), timeout=10)
        assert first.status_code == 202 and first.headers["x-ratelimit-remaining-requests"] == "1"
        assert requests.post(f"{base}/v1/jobs", json={"prompt": "hi"}, headers=_as("alice"), timeout=10).ok
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=KEYS["alice"], max_retries=0, timeout=10)
        with pytest.raises(openai.RateLimitError) as refused:
            client.completions.create(model=Settings.from_env({}).model_name, prompt="hi", max_tokens=2)
        assert refused.value.body["code"] == "rate_limit_exceeded"
        assert int(refused.value.response.headers["Retry-After"]) >= 1
        assert refused.value.response.headers["x-ratelimit-remaining-requests"] == "0"
        other = requests.post(f"{base}/v1/jobs", json={"prompt": "hi"}, headers=_as("bob"), timeout=10)
        assert other.status_code == 202  # bob's minute is his own


def test_a_tenant_at_its_job_limit_gets_429_and_another_does_not(redis_url, logs_dir):
    url = redis_url.rsplit("/", 1)[0] + "/10"  # its worker never consumes: the jobs stay queued
    env = {
        **SERVICE_ENV,
        "API_KEYS": ",".join(f"{t}:{k}" for t, k in KEYS.items()),
        "TENANT_MAX_JOBS": "2",
        "TENANT_MAX_PRIORITY": "3",
    }
    with stack.announced_worker(url, DEFAULT_MODEL), stack.running_api(url, logs_dir / "jobs-api.log", env) as base:
        body = {"prompt": "hi", "cache": "bypass"}
        first, _ = [requests.post(f"{base}/v1/jobs", json=body, headers=_as("alice"), timeout=10) for _ in range(2)]
        refused = requests.post(f"{base}/v1/jobs", json=body, headers=_as("alice"), timeout=10)
        assert refused.status_code == 429 and refused.headers["x-ratelimit-limit-jobs"] == "2"
        assert refused.headers["Retry-After"] == "1" and refused.json()["error"]["code"] == "rate_limit_exceeded"
        urgent = requests.post(f"{base}/v1/jobs", json={**body, "priority": 3}, headers=_as("bob"), timeout=10)
        assert urgent.status_code == 202  # bob is not held back by alice's jobs
        too_urgent = requests.post(f"{base}/v1/jobs", json={**body, "priority": 4}, headers=_as("bob"), timeout=10)
        assert too_urgent.status_code == 422 and too_urgent.json()["error"]["param"] == "priority"
        requests.delete(f"{base}/v1/jobs/{first.json()['id']}", headers=_as("alice"), timeout=10)
        assert requests.post(f"{base}/v1/jobs", json=body, headers=_as("alice"), timeout=10).status_code == 202
        client = redis_lib.Redis.from_url(url)
        messages = [json.loads(m) for m in client.lrange(QUEUE, 0, -1)]
        sent = {m["headers"]["id"]: json.loads(base64.b64decode(m["body"]))[1] for m in messages}
        assert sent[urgent.json()["id"]]["tenant"] == "bob" and sent[urgent.json()["id"]]["priority"] == 3

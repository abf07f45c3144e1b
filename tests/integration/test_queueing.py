"""Against an API whose queue no worker consumes: bad input never reaches it, cancellation works."""

import json

import pytest
import requests

from tests.samples import BAD_BODIES, LIMITS, QUEUES, SERVICE_ENV

QUEUE = QUEUES.interactive

# The same table the validator's unit test uses, with "too long" measured against the API's limit.
TOO_LONG = "x" * (LIMITS.max_prompt_chars + 1)
API_BAD_BODIES = [
    ({"prompt": "x" * (int(SERVICE_ENV["MAX_PROMPT_CHARS"]) + 1)}, *rest)
    if body == {"prompt": TOO_LONG}
    else (body, *rest)
    for body, *rest in BAD_BODIES
]


def _queued(redis) -> int:
    return redis.llen(QUEUE)


@pytest.mark.parametrize(("body", "param", "error"), API_BAD_BODIES)
@pytest.mark.parametrize("route", ["/v1/jobs", "/v1/generate"])
def test_bad_input_is_answered_4xx_and_enqueues_nothing(idle_api, route, body, param, error):
    base, redis = idle_api
    if route == "/v1/generate" and param == "timeout":
        body = {**body, "timeout": "soon"}  # `timeout` is allowed here: give it a bad value
    before = _queued(redis)
    # json.dumps, not requests' json=: it must be able to send NaN and lone surrogates as clients can.
    response = requests.post(base + route, data=json.dumps(body), timeout=10)
    assert response.status_code in (400, 422), response.text
    payload = response.json()["error"]
    assert payload["param"] == param and payload["message"] and payload["type"]
    assert _queued(redis) == before


@pytest.mark.parametrize(
    ("data", "status"),
    [(b"not json", 400), (b"", 400), (b"\xff\xfe", 400), (b'{"prompt": ', 400), (b"null", 400)],
)
def test_malformed_bodies_are_400_and_enqueue_nothing(idle_api, data, status):
    base, redis = idle_api
    before = _queued(redis)
    response = requests.post(f"{base}/v1/jobs", data=data, headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == status
    assert response.json()["error"]["type"] == "invalid_json"
    assert _queued(redis) == before


def test_a_good_request_is_enqueued_once(idle_api):
    base, redis = idle_api
    before = _queued(redis)
    assert requests.post(f"{base}/v1/jobs", json={"prompt": "hi"}, timeout=10).status_code == 202
    assert _queued(redis) == before + 1


def test_cancel_before_start(idle_api):
    base, _ = idle_api
    job = requests.post(f"{base}/v1/jobs", json={"prompt": "hi"}, timeout=10).json()
    cancelled = requests.delete(f"{base}/v1/jobs/{job['id']}", timeout=10)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert requests.get(f"{base}/v1/jobs/{job['id']}", timeout=10).json()["status"] == "cancelled"
    assert requests.delete(f"{base}/v1/jobs/{job['id']}", timeout=10).status_code == 200  # idempotent
    assert requests.delete(f"{base}/v1/jobs/no-such-job", timeout=10).status_code == 404


def test_redis_unreachable_is_503_quickly_not_a_hang(logs_dir):
    import time

    from tests import stack

    dead_redis = f"redis://127.0.0.1:{stack.free_port()}/0"  # nothing listens there
    proc, base = stack.start_api(dead_redis, logs_dir / "dead-redis-api.log")
    try:
        for method, path in [("post", "/v1/jobs"), ("post", "/v1/generate"), ("get", "/v1/jobs/x"), ("get", "/readyz")]:
            started = time.monotonic()
            response = requests.request(method, base + path, json={"prompt": "hi"}, timeout=30)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, (path, response.text)
            assert response.json()["error"]["type"] == "service_unavailable"
            assert response.headers["Retry-After"]
            assert elapsed < 10, f"{path} took {elapsed:.1f} s"  # a bound against hanging, not a speed target
    finally:
        stack.stop(proc)


def test_a_job_whose_message_the_broker_lost_is_sent_again(idle_api):
    import time

    base, redis = idle_api
    job = requests.post(f"{base}/v1/jobs", json={"prompt": "Lost and found."}, timeout=10).json()
    message = next(m for m in redis.lrange(QUEUE, 0, -1) if json.loads(m)["headers"]["id"] == job["id"])
    redis.lrem(QUEUE, 1, message)  # what a worker killed between taking it and recording it leaves
    deadline = time.monotonic() + 30
    while job["id"] not in [json.loads(m)["headers"]["id"] for m in redis.lrange(QUEUE, 0, -1)]:
        assert time.monotonic() < deadline, "the lost message was not sent again"
        time.sleep(0.5)
    assert requests.get(f"{base}/v1/jobs/{job['id']}", timeout=10).json()["status"] == "queued"

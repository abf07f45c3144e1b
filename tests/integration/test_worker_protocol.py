"""The worker as Celery sees it: task events for every request, revoked and expired requests skipped."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tasks.celery_app import make_celery
from tasks.contract import TASK_NAME
from tasks.job_record import QUEUED, JobRecord, JobStore
from tasks.settings import Settings
from tests.samples import QUEUES

QUEUE = QUEUES.interactive


@pytest.fixture(scope="module")
def celery_app(redis_url):
    return make_celery(Settings(redis_url=redis_url))


def _wait_for_state(celery_app, job_id: str, states: set[str], timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = celery_app.AsyncResult(job_id).state
        if state in states:
            return state
        time.sleep(0.05)
    raise AssertionError(f"{job_id} never reached {states}")


@pytest.fixture
def task_events(celery_app):
    """Task events as `celery events` and Flower receive them: {task id: [event types]}."""
    seen: dict[str, list[str]] = {}
    receivers = []

    def listen():
        with celery_app.connection() as connection:
            receiver = celery_app.events.Receiver(
                connection, handlers={"*": lambda e: seen.setdefault(e.get("uuid"), []).append(e["type"])}
            )
            receivers.append(receiver)
            receiver.capture(limit=None, timeout=None, wakeup=False)

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    while not receivers:
        time.sleep(0.05)
    time.sleep(0.5)  # the receiver's fan-out subscription is live
    yield seen
    receivers[0].should_stop = True
    listener.join(10)


def test_every_request_in_a_batch_emits_its_own_task_events(api, task_events):
    too_long = {"prompt": "x " * 9000, "max_tokens": 2, "cache": "bypass"}
    bodies = [{"prompt": f"Count to {n}:", "max_tokens": 2, "cache": "bypass"} for n in range(3)] + [too_long]
    with ThreadPoolExecutor(4) as pool:
        jobs = [r.json() for r in pool.map(lambda b: requests.post(f"{api}/v1/generate", json=b, timeout=60), bodies)]
    assert [j["batch"] for j in jobs] == [{"size": 4}] * 4  # one batch
    time.sleep(1.0)  # events are published as the batch finishes
    # task-sent comes from the API process, the rest from the worker, in this order.
    worker_events = {job_id: [e for e in events if e != "task-sent"] for job_id, events in task_events.items()}
    for job in jobs[:3]:
        assert "task-sent" in task_events[job["id"]]
        assert worker_events[job["id"]] == ["task-received", "task-started", "task-succeeded"]
    assert worker_events[jobs[3]["id"]] == ["task-received", "task-started", "task-failed"]


def _send(celery_app, redis_url, **options) -> str:
    job_id = str(uuid.uuid4())
    JobStore(celery_app.backend.client, 600).create(job_id, JobRecord(QUEUED, "m", time.time()))
    request = {"prompt": "Count: 1, 2, 3,", "max_tokens": 2}
    celery_app.send_task(TASK_NAME, kwargs={"request": request}, task_id=job_id, queue=QUEUE, **options)
    return job_id


def test_an_expired_request_is_skipped_not_generated(api, celery_app, redis_url):
    job_id = _send(celery_app, redis_url, expires=datetime.now(UTC) - timedelta(seconds=1))
    assert _wait_for_state(celery_app, job_id, {"REVOKED", "SUCCESS"}) == "REVOKED"
    job = requests.get(f"{api}/v1/jobs/{job_id}", timeout=10).json()
    assert (job["status"], job["error"]["type"], job["result"]) == ("failed", "expired", None)


def test_a_revoked_request_is_skipped_not_generated(api, celery_app, redis_url):
    job_id = str(uuid.uuid4())
    celery_app.control.revoke(job_id)  # broadcast to the worker before the message exists
    time.sleep(0.5)
    JobStore(celery_app.backend.client, 600).create(job_id, JobRecord(QUEUED, "m", time.time()))
    celery_app.send_task(TASK_NAME, kwargs={"request": {"prompt": "hi", "max_tokens": 2}}, task_id=job_id, queue=QUEUE)
    assert _wait_for_state(celery_app, job_id, {"REVOKED", "SUCCESS"}) == "REVOKED"
    assert requests.get(f"{api}/v1/jobs/{job_id}", timeout=10).json()["status"] == "cancelled"


def test_a_job_cancelled_while_buffered_is_skipped_by_the_worker(api, celery_app):
    # Every row busy (MAX_BATCH_SIZE is 8 here): the next job waits in the worker's inbox, not in a row.
    long = {"max_tokens": 200, "cache": "bypass"}
    busy = [
        requests.post(f"{api}/v1/jobs", json={"prompt": f"Count: {i}, {i + 1},", **long}, timeout=10).json()["id"]
        for i in range(8)
    ]
    deadline = time.monotonic() + 30
    while any(requests.get(f"{api}/v1/jobs/{b}", timeout=10).json()["status"] != "running" for b in busy):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    body = {"prompt": "hi", "max_tokens": 2, "cache": "bypass"}
    waiting = requests.post(f"{api}/v1/jobs", json=body, timeout=10).json()
    assert requests.delete(f"{api}/v1/jobs/{waiting['id']}", timeout=10).status_code == 200
    for job_id in busy:  # free the rows for the next test
        requests.delete(f"{api}/v1/jobs/{job_id}", timeout=10)
    # Only the worker stores REVOKED: it reached the message, saw the cancellation and skipped it.
    assert _wait_for_state(celery_app, waiting["id"], {"REVOKED", "SUCCESS"}) == "REVOKED"
    assert requests.get(f"{api}/v1/jobs/{waiting['id']}", timeout=10).json()["status"] == "cancelled"

"""A job whose message the broker lost is published again; one whose message is anywhere is not."""

from __future__ import annotations

import json
import time

import pytest

from tasks.celery_app import UNACKED_KEY, make_celery
from tasks.contract import UNFINISHED_KEY
from tasks.job_record import QUEUED, JobRecord, JobStore
from tasks.settings import DEFAULT_MODEL, Settings
from tests.samples import QUEUES
from webapi.services.models import ModelRegistry
from webapi.services.redelivery import Redelivery

QUEUE, BULK_QUEUE = QUEUES

KWARGS = {"request": {"prompt": "Say hi."}, "stream": False}


@pytest.fixture
def parts(redis_client):
    url = redis_client.get_connection_kwargs()
    celery = make_celery(Settings.from_env({"REDIS_URL": f"redis://{url['host']}:{url['port']}/{url['db']}"}))
    jobs = JobStore(redis_client, ttl_s=60)
    yield (
        jobs,
        celery,
        Redelivery(celery, redis_client, jobs, ModelRegistry(redis_client, (DEFAULT_MODEL,)), min_age_s=0),
    )
    celery.close()


def _published(jobs: JobStore, celery, job_id: str, queue: str = QUEUE) -> None:
    jobs.create(job_id, JobRecord(QUEUED, "m", time.time()))
    celery.send_task("llm.generate", kwargs=KWARGS, task_id=job_id, queue=queue)
    jobs.enqueued(job_id, KWARGS, queue)


def _ids(redis_client, queue: str) -> list[str]:
    return [json.loads(raw)["headers"]["id"] for raw in redis_client.lrange(queue, 0, -1)]


def test_a_lost_message_is_sent_again_on_the_second_pass_it_is_missing(parts, redis_client):
    jobs, celery, redelivery = parts
    _published(jobs, celery, "lost", BULK_QUEUE)
    redis_client.delete(BULK_QUEUE)  # a worker took it off the queue and died before recording it
    assert redelivery.run_once() == []  # missing once: it might be in transit
    assert redelivery.run_once() == ["lost"]
    assert _ids(redis_client, BULK_QUEUE) == ["lost"]  # same id, same queue, same kwargs
    assert json.loads(redis_client.lrange(BULK_QUEUE, 0, -1)[0])["headers"]["kwargsrepr"]
    assert redelivery.run_once() == []  # present again


def test_a_queued_or_unacked_message_is_left_alone_and_an_ended_job_is_forgotten(parts, redis_client):
    jobs, celery, redelivery = parts
    _published(jobs, celery, "held")
    _published(jobs, celery, "waiting")
    held = redis_client.rpop(QUEUE)  # the oldest: a worker holds it unacked, as kombu records it
    assert json.loads(held)["headers"]["id"] == "held"
    redis_client.hset(UNACKED_KEY, "tag-1", json.dumps([json.loads(held), "", QUEUE]))
    for _ in range(3):
        assert redelivery.run_once() == []
    _published(jobs, celery, "finished", BULK_QUEUE)
    redis_client.delete(BULK_QUEUE)
    jobs.claim(["finished"], [1])
    jobs.mark_done(["finished"])  # done and acked between two passes
    assert redelivery.run_once() == [] and redelivery.run_once() == []
    assert redis_client.zrange(UNFINISHED_KEY, 0, -1) == [b"held", b"waiting"]
    assert "message" not in redis_client.hkeys("llm:job:finished")  # kept only while unfinished


def test_a_cancelled_job_is_not_sent_again(parts, redis_client):
    jobs, celery, redelivery = parts
    _published(jobs, celery, "cancelled")
    redis_client.delete(QUEUE)
    assert jobs.cancel("cancelled") == QUEUED
    assert redelivery.run_once() == [] and redelivery.run_once() == []
    assert redis_client.llen(QUEUE) == 0 and redis_client.zcard(UNFINISHED_KEY) == 0

"""The Batch API through the official openai client and the llm-batch CLI, faults included."""

import io
import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import openai
import pytest
import redis as redis_lib
import requests

from tasks.contract import BATCH_KEY_PREFIX, GenerationRequest, Message
from tasks.settings import Settings
from tests import stack
from tests.samples import QUEUES, SERVICE_ENV

MODEL = Settings.from_env({}).model_name
EMBED_MODEL = Settings.from_env({}).embed_model
WINDOW = int(SERVICE_ENV["BATCH_WINDOW"])
ENDED = ("completed", "failed", "cancelled", "expired")


def _line(custom_id: str, question: str, max_tokens: int = 8) -> dict:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "cache": "bypass",
    }
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def _jsonl(items: list) -> io.BytesIO:
    return io.BytesIO("".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items).encode())


def _client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=60)


def _start(client: openai.OpenAI, lines: list, endpoint: str = "/v1/chat/completions") -> str:
    file = client.files.create(file=("requests.jsonl", _jsonl(lines)), purpose="batch")
    return client.batches.create(input_file_id=file.id, endpoint=endpoint, completion_window="24h").id


def _wait(client: openai.OpenAI, batch_id: str, timeout_s: float = 300, until=lambda b: b.status in ENDED):
    deadline = time.monotonic() + timeout_s
    while not until(batch := client.batches.retrieve(batch_id)):
        assert time.monotonic() < deadline, f"batch stuck in {batch.status}: {batch.request_counts}"
        time.sleep(0.3)
    return batch


def _lines(client: openai.OpenAI, file_id: str | None) -> list[dict]:
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()] if file_id else []


def test_a_batch_runs_to_completion_in_a_bounded_window(api, redis_url, engine):
    client = _client(api)
    questions = {f"q{i}": f"Name a colour that starts with the letter {chr(65 + i)}." for i in range(12)}
    lines = [_line(cid, q) for cid, q in questions.items()]
    lines[5]["body"]["max_tokens"] = 4
    batch_id = _start(client, lines)

    redis, most_open, done = redis_lib.Redis.from_url(redis_url), 0, threading.Event()

    def watch() -> None:  # the batch never has more than BATCH_WINDOW requests queued or running
        nonlocal most_open
        while not done.is_set():
            most_open = max(most_open, redis.scard(f"{BATCH_KEY_PREFIX}{batch_id}:open"), redis.llen(QUEUES.bulk))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        batch = _wait(client, batch_id)
    finally:
        done.set()
        watcher.join()
    assert batch.status == "completed"
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (12, 12, 0)
    assert batch.in_progress_at and batch.finalizing_at and batch.completed_at and batch.error_file_id is None
    assert 0 < most_open <= WINDOW
    output = {line["custom_id"]: line for line in _lines(client, batch.output_file_id)}
    assert sorted(output) == sorted(questions)
    for cid in ("q0", "q5"):
        body = output[cid]["response"]["body"]
        expected = engine.generate(
            [GenerationRequest(messages=(Message("user", questions[cid]),), max_tokens=4 if cid == "q5" else 8)]
        )[0]
        assert output[cid]["response"]["status_code"] == 200 and body["object"] == "chat.completion"
        assert body["choices"][0]["message"]["content"] == expected.text
    assert batch_id in [b.id for b in client.batches.list()]
    assert client.files.retrieve(batch.output_file_id).purpose == "batch_output"


def test_a_bad_file_fails_validation_with_line_numbers(api):
    client = _client(api)
    lines = [
        _line("a", "hi"),
        "not json",
        _line("a", "again"),
        {**_line("b", "hi"), "url": "/v1/completions"},
        {**_line("c", "hi"), "body": {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "n": 3}},
    ]
    batch = _wait(client, _start(client, lines))
    assert batch.status == "failed" and batch.failed_at
    assert [(e.line, e.code) for e in batch.errors.data] == [
        (2, "invalid_json"),
        (3, "duplicate_custom_id"),
        (4, "mismatched_endpoint"),
        (5, "unsupported_parameter"),
    ]
    assert batch.output_file_id is None and batch.request_counts.total == 0


def test_cancel_keeps_finished_lines_and_drops_the_rest(api):
    client = _client(api)
    lines = [_line(f"c{i}", f"Write a sentence about the number {i}.", max_tokens=24) for i in range(40)]
    batch_id = _start(client, lines)
    _wait(client, batch_id, until=lambda b: b.request_counts.completed >= 1)
    assert client.batches.cancel(batch_id).status in ("cancelling", "cancelled")
    batch = _wait(client, batch_id)
    assert batch.status == "cancelled" and batch.cancelling_at and batch.cancelled_at
    output = _lines(client, batch.output_file_id)
    assert 1 <= len(output) == batch.request_counts.completed < 40
    assert len({line["custom_id"] for line in output}) == len(output)
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(_wait(client, _start(client, lines[:1])).id)  # completed: too late


def test_limits_on_the_input_file(redis_url, logs_dir):
    url = redis_url.rsplit("/", 1)[0] + "/6"
    env = {**SERVICE_ENV, "BATCH_MAX_LINES": "3", "BATCH_MAX_FILE_BYTES": "2000"}
    proc, base = stack.start_api(url, logs_dir / "limits-api.log", env)
    try:
        client = _client(base)
        with pytest.raises(openai.BadRequestError, match="4 lines; the limit is 3"):
            client.files.create(file=("f.jsonl", _jsonl([_line(str(i), "hi") for i in range(4)])), purpose="batch")
        with pytest.raises(openai.APIStatusError, match="larger than the limit of 2000 bytes") as too_big:
            client.files.create(file=("f.jsonl", _jsonl([_line("x", "hi" * 1000)])), purpose="batch")
        assert too_big.value.status_code == 413
        with pytest.raises(openai.BadRequestError, match="purpose"):
            client.files.create(file=("f.jsonl", _jsonl([_line("x", "hi")])), purpose="fine-tune")
        file = client.files.create(file=("f.jsonl", _jsonl([_line("x", "hi")])), purpose="batch")
        assert client.files.content(file.id).text == json.dumps(_line("x", "hi")) + "\n"
        assert client.files.delete(file.id).deleted
        with pytest.raises(openai.NotFoundError):
            client.files.retrieve(file.id)
    finally:
        stack.stop(proc)


def test_a_worker_killed_and_an_api_restarted_mid_batch_lose_nothing(tmp_path: Path):
    env = {**SERVICE_ENV, "VISIBILITY_TIMEOUT_S": "20", "BATCH_WAIT_MS": "50"}
    with stack.redis_server() as url:
        api, base = stack.start_api(url, tmp_path / "api1.log", env)
        worker = stack.start_worker(url, tmp_path / "worker1.log", env)
        client = _client(base)
        lines = [_line(f"k{i}", f"Count from {i} to {i + 5}.", max_tokens=16) for i in range(24)]
        batch_id = _start(client, lines)
        _wait(client, batch_id, until=lambda b: b.request_counts.completed >= 4)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        stack.stop(api)  # the API that drove the batch goes too; another takes the batch over
        api, base = stack.start_api(url, tmp_path / "api2.log", env)
        worker = stack.start_worker(url, tmp_path / "worker2.log", env)
        try:
            client = _client(base)
            batch = _wait(client, batch_id, timeout_s=300)
            output = _lines(client, batch.output_file_id)
        finally:
            stack.stop(worker)
            stack.stop(api)
    assert batch.status == "completed" and batch.request_counts.completed == 24
    assert sorted(line["custom_id"] for line in output) == sorted(f"k{i}" for i in range(24))  # each exactly once
    assert all(line["response"]["status_code"] == 200 for line in output)


def test_embeddings_lines_are_answered_with_the_embedding_models_vectors(api, embedder):
    client = _client(api)
    texts = ["The cat sat on the mat.", "Quarterly revenue grew by 4%.", "How do I reset my password?"]
    body = {"model": EMBED_MODEL, "input": texts[:2]}
    lines = [
        {"custom_id": "two", "method": "POST", "url": "/v1/embeddings", "body": body},
        {
            "custom_id": "one",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": EMBED_MODEL, "input": texts[2]},
        },
        {"custom_id": "bad", "method": "POST", "url": "/v1/embeddings", "body": {"model": EMBED_MODEL, "input": []}},
    ]
    refused = _wait(client, _start(client, lines, "/v1/embeddings"))
    assert refused.status == "failed" and refused.errors.data[0].param == "body.input"
    batch = _wait(client, _start(client, lines[:2], "/v1/embeddings"))
    assert batch.status == "completed" and batch.request_counts.completed == 2
    output = {line["custom_id"]: line["response"]["body"] for line in _lines(client, batch.output_file_id)}
    vectors = [item["embedding"] for item in output["two"]["data"]] + [output["one"]["data"][0]["embedding"]]
    assert np.allclose(vectors, embedder.embed(texts), atol=1e-5)  # the cache's embedder's own
    assert output["one"]["usage"]["prompt_tokens"] > 0 and output["two"]["model"] == EMBED_MODEL


def test_the_cli_submits_follows_and_downloads(api, tmp_path: Path):
    requests_file = tmp_path / "questions.jsonl"
    requests_file.write_bytes(_jsonl([_line(f"l{i}", f"Say the word number {i}.") for i in range(6)]).getvalue())
    cli = [str(stack.BIN / "llm-batch"), "--base-url", api]
    done = subprocess.run([*cli, "submit", str(requests_file)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "completed, 6 completed, 0 failed" in done.stdout
    assert "6/6" in done.stderr  # the progress bar reached the end
    output = [json.loads(line) for line in (tmp_path / "questions.output.jsonl").read_text().splitlines()]
    assert sorted(line["custom_id"] for line in output) == [f"l{i}" for i in range(6)]

    started = subprocess.run([*cli, "submit", "--no-wait", str(requests_file)], capture_output=True, text=True)
    batch_id = started.stdout.strip()
    assert started.returncode == 0 and batch_id.startswith("batch_")
    status = subprocess.run([*cli, "status", batch_id], capture_output=True, text=True)
    assert status.returncode == 0 and status.stdout.startswith(batch_id)
    cancel = subprocess.run([*cli, "cancel", batch_id], capture_output=True, text=True)
    assert cancel.returncode == 0 or "can no longer be cancelled" in cancel.stderr
    missing = subprocess.run([*cli, "status", "batch_nope"], capture_output=True, text=True)
    assert missing.returncode == 1 and "404" in missing.stderr
    assert requests.get(f"{api}/v1/batches/{batch_id}", timeout=10).json()["status"] in (*ENDED, "cancelling")

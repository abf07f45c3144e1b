"""The official `openai` client against the running service: plain, streamed, batched, refused."""

import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import numpy as np
import openai
import pytest
import redis as redis_lib
import requests

from tasks.contract import STREAM_KEY_PREFIX, GenerationRequest, Message
from tasks.settings import Settings

MODEL = Settings.from_env({}).model_name
EMBED_MODEL = Settings.from_env({}).embed_model


@pytest.fixture(scope="module")
def client(api) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api}/v1", api_key="unused", max_retries=0, timeout=120)


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def _alone(engine, text: str, max_tokens: int):
    return engine.generate([GenerationRequest(messages=(Message("user", text),), max_tokens=max_tokens)])[0]


def _job(api: str, response_id: str) -> dict:
    return requests.get(f"{api}/v1/jobs/{response_id.split('-', 1)[1]}", timeout=10).json()


def test_models_list_names_the_served_model_and_the_embedding_model(client):
    assert [m.id for m in client.models.list()] == [MODEL, EMBED_MODEL]


def test_embeddings_are_the_cache_embedders_own_vectors(client, api, embedder):
    texts = ["The cat sat on the mat.", "Quantum computers use qubits.", "Der Hund bellt."]
    result = client.embeddings.create(model=EMBED_MODEL, input=texts)  # the client asks for base64
    vectors = np.array([item.embedding for item in result.data])
    assert vectors.shape == (3, 384) and [item.index for item in result.data] == [0, 1, 2]
    np.testing.assert_allclose(vectors, embedder.embed(texts), atol=1e-5)
    assert result.usage.prompt_tokens == result.usage.total_tokens == sum(embedder.count_tokens(texts))
    body = {"model": EMBED_MODEL, "input": texts[1], "encoding_format": "float"}
    plain = requests.post(f"{api}/v1/embeddings", json=body, timeout=30).json()
    np.testing.assert_allclose(plain["data"][0]["embedding"], vectors[1], atol=1e-5)
    assert client.models.retrieve(MODEL).owned_by
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4")


def test_a_completion_and_a_chat_answer_as_the_model_does(client, engine):
    prompt = "The three primary colours are"
    completion = client.completions.create(
        model=MODEL, prompt=prompt, max_tokens=12, temperature=0, extra_body={"cache": "bypass"}
    )
    expected = engine.generate([GenerationRequest(prompt=prompt, max_tokens=12)])[0]
    assert completion.object == "text_completion"
    assert completion.choices[0].text == expected.text
    assert completion.choices[0].finish_reason == expected.finish_reason
    assert completion.usage.completion_tokens == expected.completion_tokens
    assert completion.usage.total_tokens == expected.prompt_tokens + expected.completion_tokens

    chat = client.chat.completions.create(
        model=MODEL, messages=_user("What is the capital of Italy?"), max_tokens=16, temperature=0
    )
    expected = _alone(engine, "What is the capital of Italy?", 16)
    assert chat.object == "chat.completion"
    assert chat.choices[0].message.role == "assistant"
    assert chat.choices[0].message.content == expected.text
    assert chat.usage.prompt_tokens == expected.prompt_tokens


def test_a_stream_sends_tokens_while_the_batch_still_generates(client, api, engine):
    question = "Write a short poem about autumn leaves."
    started = time.monotonic()
    stream = client.chat.completions.create(
        model=MODEL,
        messages=_user(question),
        max_tokens=64,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"cache": "bypass"},
    )
    chunks, first_at, status_at_first = [], None, None
    for chunk in stream:
        chunks.append(chunk)
        if first_at is None and chunk.choices and chunk.choices[0].delta.content:
            first_at = time.monotonic() - started
            status_at_first = _job(api, chunk.id)["status"]
    total = time.monotonic() - started
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    expected = _alone(engine, question, 64)
    assert text == expected.text
    assert status_at_first == "running"  # the first text came while generation went on
    assert first_at < total / 2
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 10
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks[-2:-1]] == [expected.finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == expected.completion_tokens


def test_a_streamed_completion_adds_up_to_the_plain_one(client):
    body = {"model": MODEL, "prompt": "Once upon a time", "max_tokens": 24, "temperature": 0}
    plain = client.completions.create(**body, extra_body={"cache": "bypass"}).choices[0]
    pieces = list(client.completions.create(**body, stream=True, extra_body={"cache": "bypass"}))
    assert "".join(p.choices[0].text for p in pieces) == plain.text
    assert pieces[-1].choices[0].finish_reason == plain.finish_reason
    assert all(p.object == "text_completion" for p in pieces)


def test_concurrent_streams_share_one_batch(client, api, engine):
    questions = [f"Describe {topic} in one sentence." for topic in ("a cat", "the moon", "a river", "bread")]

    def stream(question: str) -> tuple[str, str]:
        chunks = list(
            client.chat.completions.create(
                model=MODEL,
                messages=_user(question),
                max_tokens=24,
                temperature=0,
                stream=True,
                extra_body={"cache": "bypass"},
            )
        )
        return chunks[0].id, "".join(c.choices[0].delta.content or "" for c in chunks)

    with ThreadPoolExecutor(len(questions)) as pool:
        results = list(pool.map(stream, questions))
    assert [_job(api, response_id)["batch"]["size"] for response_id, _ in results] == [4] * 4
    assert [text for _, text in results] == [_alone(engine, q, 24).text for q in questions]


def test_a_cache_hit_streams_the_cached_answer(client, api):
    body = {"model": MODEL, "messages": _user("Name the largest ocean on Earth."), "max_tokens": 16, "temperature": 0}
    answer = client.chat.completions.create(**body, extra_body={"cache": "refresh"}).choices[0].message.content
    response = requests.post(f"{api}/v1/chat/completions", json={**body, "stream": True}, stream=True, timeout=60)
    events = [line[6:] for line in response.iter_lines(decode_unicode=True) if line.startswith("data: ")]
    assert response.headers["X-Cache"] == "HIT"
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == answer


def test_errors_come_in_openai_shape(client):
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4", messages=_user("hi"))
    assert unknown.value.body["code"] == "model_not_found" and unknown.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as unsupported:
        client.chat.completions.create(model=MODEL, messages=_user("hi"), frequency_penalty=0.5)
    assert unsupported.value.body == {
        "type": "invalid_request_error",
        "code": "unsupported_parameter",
        "message": "'frequency_penalty' is not supported by this server",
        "param": "frequency_penalty",
    }
    for stream in (False, True):  # refused by the worker, which counts tokens: still a 400 before any chunk
        with pytest.raises(openai.BadRequestError) as too_long:
            client.completions.create(model=MODEL, prompt="hello " * 9000, max_tokens=4, stream=stream)
        assert too_long.value.body["code"] == "context_length_exceeded"


def test_a_client_that_leaves_mid_stream_stops_its_job_and_leaves_nothing_behind(api, redis_url):
    """It leaves while its job runs: the job is cancelled (its row freed) and nothing reads or writes its stream."""
    url = urlparse(api)
    body = {
        "model": MODEL,
        "messages": _user("Tell a long story about a dragon."),
        "max_tokens": 300,
        "temperature": 0,
        "stream": True,
        "cache": "bypass",
    }
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    first = json.loads(next(line for line in response if line.startswith(b"data: "))[6:])
    job_id = first["id"].split("-", 1)[1]
    response.close()  # mid-stream
    conn.close()

    deadline = time.monotonic() + 10  # noticed at the next write (a heartbeat at the latest), then a step
    while _status(api, job_id) == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _status(api, job_id) == "cancelled"
    commands = _commands_on(redis_lib.Redis.from_url(redis_url), STREAM_KEY_PREFIX + job_id, seconds=2.0)
    assert not any(c.startswith(("XADD", "XREAD")) for c in commands)  # nobody writes or reads it any more


def _commands_on(redis: redis_lib.Redis, key: str, seconds: float) -> list[str]:
    """The commands Redis runs on `key` in the next `seconds` (heartbeats and cache sync keep it busy)."""
    seen, deadline = [], time.monotonic() + seconds
    with redis.monitor() as monitor:
        for command in monitor.listen():
            if key in command["command"]:
                seen.append(command["command"])
            if time.monotonic() > deadline:
                return seen
    return seen


def _status(api: str, job_id: str) -> str:
    return requests.get(f"{api}/v1/jobs/{job_id}", timeout=10).json()["status"]


def test_n_choices_each_reproducible_by_its_seed_and_usage_summed(client):
    body = {"model": MODEL, "messages": _user("Invent a name for a cat."), "max_tokens": 12, "temperature": 0.9}
    several = client.chat.completions.create(**body, n=3, seed=7)
    assert [c.index for c in several.choices] == [0, 1, 2]
    alone = [client.chat.completions.create(**body, seed=7 + i) for i in range(3)]
    assert [c.message.content for c in several.choices] == [a.choices[0].message.content for a in alone]
    assert several.usage.prompt_tokens == alone[0].usage.prompt_tokens
    assert several.usage.completion_tokens == sum(a.usage.completion_tokens for a in alone)
    greedy = client.completions.create(model=MODEL, prompt="The sky is", max_tokens=8, temperature=0, n=2)
    assert greedy.choices[0].text == greedy.choices[1].text and greedy.usage.completion_tokens % 2 == 0
    streamed = client.chat.completions.create(**body, n=3, seed=7, stream=True)
    texts = ["", "", ""]
    for chunk in streamed:  # each choice's chunks carry its index
        texts[chunk.choices[0].index] += chunk.choices[0].delta.content or ""
    assert texts == [c.message.content for c in several.choices]

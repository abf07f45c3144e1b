"""The routes on Flask's test client, with no Redis and no model: what is answered before either."""

from __future__ import annotations

import json

import pytest

from tasks.settings import Settings
from tests.samples import BAD_BODIES, LIMITS
from webapi import create_app

#: Nothing listens on port 1: a request that reached Redis would be answered 503, not 4xx.
NO_REDIS = "redis://127.0.0.1:1/0"
KEY = "k" * 24


@pytest.fixture
def client(tmp_path):
    env = {"REDIS_URL": NO_REDIS, "DATA_DIR": str(tmp_path), "MAX_PROMPT_CHARS": str(LIMITS.max_prompt_chars)}
    return create_app(Settings.from_env(env)).test_client()


def test_liveness_is_answered_and_readiness_says_redis_is_away(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["error"]["type"] == "service_unavailable"


@pytest.mark.parametrize(("body", "param", "error"), BAD_BODIES)
@pytest.mark.parametrize("route", ["/v1/jobs", "/v1/generate"])
def test_bad_input_is_refused_before_it_reaches_redis(client, route, body, param, error):
    if route == "/v1/generate" and param == "timeout":
        body = {**body, "timeout": "soon"}  # `timeout` is allowed here: give it a bad value
    # json.dumps, not json=: it must be able to send NaN and lone surrogates as clients can.
    response = client.post(route, data=json.dumps(body), content_type="application/json")
    assert response.status_code in (400, 422), response.text
    assert response.json["error"]["param"] == param and response.json["error"]["type"] == error.type


@pytest.mark.parametrize("data", [b"not json", b"", b"\xff\xfe", b'{"prompt": '])
def test_malformed_bodies_are_400(client, data):
    response = client.post("/v1/jobs", data=data, content_type="application/json")
    assert (response.status_code, response.json["error"]["type"]) == (400, "invalid_json")


def test_the_openai_routes_answer_in_openai_error_shape(client):
    model = client.application.config["SETTINGS"].model_name
    response = client.post("/v1/chat/completions", json={"model": model, "messages": "hello"})
    assert response.status_code == 400
    error = response.json["error"]
    assert set(error) >= {"message", "type", "param", "code"} and error["param"] == "messages"
    bad_schema = {"type": "json_schema", "json_schema": {"name": "p", "schema": {"type": "objekt"}}}
    response = client.post(
        "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}], "response_format": bad_schema},
    )
    assert response.status_code == 400 and response.json["error"]["param"] == "response_format.json_schema.schema"


def test_an_oversized_body_is_413_unread(client):
    response = client.post("/v1/jobs", data=b"x" * (LIMITS.max_prompt_chars * 6 + 70_000))
    assert response.status_code == 413


def test_a_good_request_without_redis_is_503_with_a_message(client):
    response = client.post("/v1/jobs", json={"prompt": "hi"})
    assert response.status_code == 503 and response.json["error"]["message"]
    tokenized = client.post("/tokenize", json={"prompt": "hi"})  # the tokenizer is shared through Redis
    assert tokenized.status_code == 503 and tokenized.json["error"]["type"] == "service_unavailable_error"


def test_every_route_but_the_public_ones_needs_a_key(tmp_path):
    env = {"REDIS_URL": NO_REDIS, "DATA_DIR": str(tmp_path), "API_KEYS": f"tenant:{KEY}"}
    client = create_app(Settings.from_env(env)).test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    refused = client.post("/v1/jobs", json={"prompt": "hi"})
    assert refused.status_code == 401 and refused.json["error"]["type"] == "unauthorized"
    wrong = client.post("/v1/jobs", json={}, headers={"Authorization": "Bearer " + "x" * 24})
    assert wrong.status_code == 401
    known = client.post("/v1/jobs", json={}, headers={"Authorization": f"Bearer {KEY}"})
    assert known.status_code in (400, 422)  # past the key check, refused by validation


def test_the_openapi_document_lists_the_routes(client):
    paths = client.get("/openapi.json").json["paths"]
    assert {"/v1/jobs", "/v1/generate", "/v1/chat/completions", "/v1/completions", "/v1/models"} <= set(paths)


def test_an_unknown_route_is_a_json_404(client):
    response = client.get("/v1/nothing")
    assert response.status_code == 404 and response.json["error"]["type"] == "not_found"


EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.mark.parametrize(
    ("body", "param", "status"),
    [
        ({"input": "hi"}, "model", 400),
        ({"model": "text-embedding-3-small", "input": "hi"}, "model", 404),
        ({"model": EMBED_MODEL}, "input", 400),
        ({"model": EMBED_MODEL, "input": []}, "input", 400),
        ({"model": EMBED_MODEL, "input": [""]}, "input", 400),
        ({"model": EMBED_MODEL, "input": [[1, 2, 3]]}, "input", 400),  # token arrays
        ({"model": EMBED_MODEL, "input": ["a"] * 2049}, "input", 400),
        ({"model": EMBED_MODEL, "input": "x" * (LIMITS.max_prompt_chars + 1)}, "input", 400),
        ({"model": EMBED_MODEL, "input": "hi", "encoding_format": "int8"}, "encoding_format", 400),
        ({"model": EMBED_MODEL, "input": "hi", "user": 7}, "user", 400),
        ({"model": EMBED_MODEL, "input": "hi", "truncate": True}, "truncate", 400),
    ],
)
def test_embedding_requests_are_checked_before_the_model_loads(client, body, param, status):
    response = client.post("/v1/embeddings", json=body)
    assert response.status_code == status, response.text
    assert response.json["error"]["param"] == param and response.json["error"]["type"] == "invalid_request_error"

"""Schemathesis fuzzes the API from its own OpenAPI document: no 5xx, no response off the schema."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tasks.settings import DEFAULT_MODEL
from tests import stack
from tests.samples import SERVICE_ENV
from webapi.routes.openapi import SPEC

schema = schemathesis.openapi.from_dict(SPEC)


@schemathesis.check
def no_5xx_but_documented_timeouts(ctx, response, case):
    """No worker generates for the fuzzed API, so a valid OpenAI request may end in its documented 504,
    and the tokenizer routes in theirs, 503 (no worker has shared its tokenizer)."""
    if response.status_code == 504 and case.path in ("/v1/completions", "/v1/chat/completions"):
        return True
    if response.status_code == 503 and case.path in ("/tokenize", "/detokenize", "/tokenizer_info"):
        return True
    return not_a_server_error(ctx, response, case)


CHECKS = [
    no_5xx_but_documented_timeouts,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_api(redis_url, logs_dir):
    """An API whose worker (announced, never consuming) is busy, answering at once: fuzzing must not
    wait on generation."""
    url = redis_url.rsplit("/", 1)[0] + "/8"
    env = {**SERVICE_ENV, "SYNC_TIMEOUT_S": "0", "MAX_SYNC_TIMEOUT_S": "0.5", "MAX_QUEUE_DEPTH": "1000000"}
    with stack.announced_worker(url, DEFAULT_MODEL), stack.running_api(url, logs_dir / "fuzz-api.log", env) as base:
        yield base


def test_the_document_is_served(fuzz_api):
    assert requests.get(f"{fuzz_api}/openapi.json", timeout=10).json() == SPEC


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_every_response_matches_the_schema(case, fuzz_api):
    case.call_and_validate(base_url=fuzz_api, checks=CHECKS, timeout=30)

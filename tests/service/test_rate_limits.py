"""Per-tenant limits: requests and tokens per minute, counted in Redis, with OpenAI's headers."""

import pytest

from tasks.contract import GenerationRequest
from tasks.errors import RateLimited
from webapi.services.rate_limits import RateLimiter, estimate_tokens

SHORT = GenerationRequest(prompt="x" * 40, max_tokens=10)  # 10 + 10 tokens


def test_requests_per_minute_are_per_tenant(redis_client):
    limiter = RateLimiter(redis_client, requests_per_minute=3, tokens_per_minute=0)
    usages = [limiter.admit("a", [SHORT]) for _ in range(3)]
    assert [u.requests_remaining for u in usages] == [2, 1, 0]
    with pytest.raises(RateLimited) as refused:
        limiter.admit("a", [SHORT])
    headers = refused.value.headers
    assert headers["x-ratelimit-limit-requests"] == "3" and headers["x-ratelimit-remaining-requests"] == "0"
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert limiter.admit("b", [SHORT]).requests_remaining == 2  # another tenant is not affected


def test_tokens_per_minute_count_the_prompt_and_max_tokens(redis_client):
    assert estimate_tokens(SHORT) == 20
    limiter = RateLimiter(redis_client, requests_per_minute=0, tokens_per_minute=50)
    assert limiter.admit("a", [SHORT, SHORT]).tokens_remaining == 10
    with pytest.raises(RateLimited):
        limiter.admit("a", [SHORT])  # 60 > 50: refused, and not counted
    assert limiter.admit("a", [GenerationRequest(prompt="x" * 4, max_tokens=9)]).tokens_remaining == 0


def test_no_limits_count_nothing(redis_client):
    assert RateLimiter(redis_client, 0, 0).admit("a", [SHORT]) is None
    assert redis_client.keys("llm:ratelimit:*") == []

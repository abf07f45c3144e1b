"""Per-tenant rate limits: requests and tokens per minute, the same in every API process (Redis).

A sliding window over two one-minute counters (the current minute's, and the last one's, weighted
by how much of it the window still covers), checked and counted in one Lua call. Tokens are
counted at admission as OpenAI's limiter counts them: the prompt's estimated tokens plus
`max_tokens`. Each choice of an `n` request counts as a request. Batch API work is not limited
here: its driver already bounds how much of it is queued.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from redis import Redis

from tasks.contract import GenerationRequest
from tasks.errors import RateLimited

PREFIX = "llm:ratelimit:"
#: Characters per token in the prompt estimate (English text averages about four).
CHARS_PER_TOKEN = 4

# KEYS: requests now, requests last minute, tokens now, tokens last minute.
# ARGV: requests/minute, tokens/minute (0: no limit), this request's tokens, share of the minute gone.
# Returns {admitted, requests used, tokens used} (used including this request when admitted).
_ADMIT = """
local weight = 1 - tonumber(ARGV[4])
local requests = tonumber(redis.call('GET', KEYS[1]) or '0') + weight * tonumber(redis.call('GET', KEYS[2]) or '0')
local tokens = tonumber(redis.call('GET', KEYS[3]) or '0') + weight * tonumber(redis.call('GET', KEYS[4]) or '0')
local rpm, tpm, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if (rpm > 0 and requests + 1 > rpm) or (tpm > 0 and tokens + cost > tpm) then
  return {0, tostring(requests), tostring(tokens)}
end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 120)
redis.call('INCRBY', KEYS[3], cost)
redis.call('EXPIRE', KEYS[3], 120)
return {1, tostring(requests + 1), tostring(tokens + cost)}
"""


@dataclass(frozen=True)
class Usage:
    """Where a tenant stands: what OpenAI's x-ratelimit-* headers say."""

    requests_limit: int
    requests_remaining: int
    tokens_limit: int
    tokens_remaining: int
    reset_s: float  # until the current minute ends

    def headers(self) -> dict[str, str]:
        out = {"Retry-After": str(max(1, math.ceil(self.reset_s)))}
        for kind, limit, remaining in (
            ("requests", self.requests_limit, self.requests_remaining),
            ("tokens", self.tokens_limit, self.tokens_remaining),
        ):
            if limit:
                out |= {
                    f"x-ratelimit-limit-{kind}": str(limit),
                    f"x-ratelimit-remaining-{kind}": str(max(0, remaining)),
                    f"x-ratelimit-reset-{kind}": f"{self.reset_s:.0f}s",
                }
        return out


class RateLimiter:
    """Admits a tenant's requests within TENANT_REQUESTS_PER_MINUTE and TENANT_TOKENS_PER_MINUTE."""

    def __init__(self, redis: Redis, requests_per_minute: int, tokens_per_minute: int) -> None:
        self.redis, self.rpm, self.tpm = redis, requests_per_minute, tokens_per_minute
        self._admit = redis.register_script(_ADMIT)

    @property
    def enabled(self) -> bool:
        return bool(self.rpm or self.tpm)

    def admit(self, tenant: str, requests: list[GenerationRequest]) -> Usage | None:
        """Count the requests against the tenant's minute; RateLimited (429) if over. None: no limits."""
        if not self.enabled:
            return None
        usage = None
        for request in requests:
            usage = self._admit_one(tenant, request)
        return usage

    def _admit_one(self, tenant: str, request: GenerationRequest) -> Usage:
        now = time.time()
        minute, gone = divmod(now, 60)
        keys = [f"{PREFIX}{tenant}:{kind}:{int(m)}" for kind in ("r", "t") for m in (minute, minute - 1)]
        cost = estimate_tokens(request)
        admitted, requests, tokens = self._admit(keys=keys, args=[self.rpm, self.tpm, cost, gone / 60])
        usage = Usage(self.rpm, self.rpm - math.ceil(float(requests)), self.tpm, self.tpm - math.ceil(float(tokens)),
                      60 - gone)  # fmt: skip
        if not int(admitted):
            raise RateLimited(
                f"rate limit reached for this API key: {self.rpm or 'unlimited'} requests and "
                f"{self.tpm or 'unlimited'} tokens per minute; retry after the Retry-After seconds",
                usage.headers(),
            )
        return usage


def estimate_tokens(request: GenerationRequest) -> int:
    """The prompt's estimated tokens plus the most the answer may use."""
    chars = len(request.prompt or "") + sum(len(m.content) for m in request.messages or ())
    return math.ceil(chars / CHARS_PER_TOKEN) + request.max_tokens

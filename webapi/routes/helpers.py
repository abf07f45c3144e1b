"""What every view needs: the app's services, the JSON body, and the fields several routes share."""

from __future__ import annotations

import json
import math
from typing import Any

from flask import current_app, g, request

from tasks.contract import GenerationRequest
from tasks.errors import InvalidRequest, MalformedBody
from tasks.settings import Settings
from webapi.services import Services


def services() -> Services:
    """The current app's services."""
    return current_app.extensions["services"]


def settings() -> Settings:
    """The current app's settings."""
    return current_app.config["SETTINGS"]


def rate_limit(requests: list[GenerationRequest]) -> None:
    """Count requests against the caller's per-minute limits (429 when over); the response then
    carries OpenAI's x-ratelimit-* headers (added in webapi/__init__.py)."""
    g.rate_limit = services().limiter.admit(g.tenant, requests)


def json_body() -> Any:
    """The request body as JSON (MalformedBody when it is not)."""
    try:
        return json.loads(request.get_data(cache=False) or b"")
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody("the request body must be valid JSON") from None


def timeout(body: dict[str, Any]) -> float:
    """The request's `timeout` field: seconds a synchronous request waits (default SYNC_TIMEOUT_S)."""
    config = settings()
    value = body.get("timeout", config.sync_timeout_s)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidRequest("timeout must be a number of seconds", "timeout", "wrong_type")
    if not 0 <= value <= config.max_sync_timeout_s:
        raise InvalidRequest(
            f"timeout must be between 0 and {config.max_sync_timeout_s} seconds", "timeout", "out_of_range"
        )
    return float(value)

"""One line of a batch input file: {"custom_id", "method": "POST", "url", "body"}, validated."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.contract import Limits
from tasks.errors import InferenceError
from webapi import openai_schema
from webapi.cache.embedder import Embedder
from webapi.openai_schema import OpenAIRequest
from webapi.services import embeddings
from webapi.services.embeddings import EmbeddingsRequest

#: Batch endpoints and the request kind each takes.
ENDPOINTS = {"/v1/completions": "completion", "/v1/chat/completions": "chat", "/v1/embeddings": "embeddings"}
MAX_CUSTOM_ID_CHARS = 512


class LineError(Exception):
    """Why a line cannot run; `code` and `param` as in OpenAI's batch errors."""

    def __init__(self, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.param = message, code, param


@dataclass(frozen=True)
class Line:
    """A valid line: its custom_id and the parsed request."""

    custom_id: str
    request: OpenAIRequest | EmbeddingsRequest  # embeddings lines are answered in the API process


def parse(raw: bytes, endpoint: str, limits: Limits, resolve_model: Callable[[Any], str], embedder: Embedder) -> Line:
    """Validate one line for a batch on `endpoint`; LineError says what is wrong."""
    try:
        item = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise LineError("the line is not valid JSON", "invalid_json") from None
    if not isinstance(item, dict):
        raise LineError("the line must be a JSON object", "invalid_json")
    unknown = sorted(set(item) - {"custom_id", "method", "url", "body"})
    if unknown:
        raise LineError(f"unknown field {unknown[0]!r}", "invalid_request", unknown[0])
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id or len(custom_id) > MAX_CUSTOM_ID_CHARS:
        raise LineError(
            f"custom_id must be a string of 1 to {MAX_CUSTOM_ID_CHARS} characters", "invalid_request", "custom_id"
        )
    if item.get("method") != "POST":
        raise LineError("method must be POST", "invalid_request", "method")
    if item.get("url") != endpoint:
        raise LineError(f"url must be the batch's endpoint, {endpoint}", "mismatched_endpoint", "url")
    body = item.get("body")
    if not isinstance(body, dict):
        raise LineError("body must be a JSON object", "invalid_request", "body")
    kind = ENDPOINTS[endpoint]
    try:
        if kind == "embeddings":
            return Line(custom_id, embeddings.parse(body, embedder, limits.max_prompt_chars))
        request = openai_schema.parse(kind, body, limits, resolve_model)  # type: ignore[arg-type]
    except InferenceError as exc:
        raise LineError(exc.message, exc.code or exc.type, f"body.{exc.param}" if exc.param else "body") from None
    if request.stream:
        raise LineError("stream is not supported in a batch", "invalid_request", "body.stream")
    if "priority" in body:
        raise LineError(
            "priority is not supported in a batch (its lines are bulk work)", "unsupported_parameter", "body.priority"
        )
    if request.n > 1:
        raise LineError("n > 1 is not supported in a batch; send a line per choice", "unsupported_parameter", "body.n")
    if request.echo:
        raise LineError("echo is not supported in a batch", "unsupported_parameter", "body.echo")
    return Line(custom_id, request)


def read(path: Path, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, raw line) from line `start` + 1 on; blank lines are skipped."""
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            if number > start and raw.strip():
                yield number, raw


def validate(
    path: Path,
    endpoint: str,
    limits: Limits,
    resolve_model: Callable[[Any], str],
    embedder: Embedder,
    max_errors: int = 1000,
) -> tuple[int, int, list[dict[str, Any]]]:
    """(number of requests, the last one's line number, errors as OpenAI batch error objects)."""
    seen: set[str] = set()
    errors: list[dict[str, Any]] = []
    count = number = 0
    for number, raw in read(path):
        count += 1
        try:
            line = parse(raw, endpoint, limits, resolve_model, embedder)
            if line.custom_id in seen:
                raise LineError(f"duplicate custom_id {line.custom_id!r}", "duplicate_custom_id", "custom_id")
            seen.add(line.custom_id)
        except LineError as exc:
            if len(errors) < max_errors:
                errors.append({"code": exc.code, "message": exc.message, "param": exc.param, "line": number})
    if count == 0:
        errors.append({"code": "empty_file", "message": "the file holds no requests", "param": None, "line": None})
    return count, number, errors

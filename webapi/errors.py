"""The one place where errors become HTTP responses, all in one JSON shape.

{"error": {"type": str, "code": str | null, "message": str, "param": str | null}}

Routes of OpenAI's API (the blueprints in OPENAI_BLUEPRINTS) speak its dialect of that shape, so
its clients raise their usual exceptions: 400 rather than 422 for a bad field, OpenAI's broad
`type` names, and our specific type as the `code`.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import HTTPException

from tasks.errors import (
    Conflict,
    InferenceError,
    InvalidRequest,
    MalformedBody,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    PromptTooLong,
    RateLimited,
    ServiceUnavailable,
    TimedOut,
    Unauthorized,
)

#: Seconds a client is asked to wait before retrying a 429 or 503.
RETRY_AFTER_S = 5

#: Most specific class first.
STATUS_BY_ERROR: list[tuple[type[InferenceError], int]] = [
    (MalformedBody, 400),
    (PayloadTooLarge, 413),
    (InvalidRequest, 422),
    (Unauthorized, 401),
    (Overloaded, 429),
    (NotFound, 404),
    (Conflict, 409),
    (ServiceUnavailable, 503),
    (TimedOut, 504),
    (InferenceError, 500),
]

#: Blueprints serving OpenAI's API.
OPENAI_BLUEPRINTS = {"openai", "embeddings", "tokenize", "files", "batches"}
#: OpenAI's error type by status; statuses not listed are "server_error".
OPENAI_TYPES = {401: "authentication_error", 429: "rate_limit_error", 503: "service_unavailable_error"}
#: Where OpenAI has its own code for one of our error types.
OPENAI_CODES = {PromptTooLong.type: "context_length_exceeded", NotFound.type: "not_found"}


def status_for(error: InferenceError) -> int:
    """The HTTP status for an error of the hierarchy."""
    return next(status for cls, status in STATUS_BY_ERROR if isinstance(error, cls))


def error_response(error: InferenceError) -> tuple[Response, int]:
    """Render an InferenceError in the service's error shape (in OpenAI's dialect on its routes)."""
    status, body = status_for(error), error.to_dict()
    if _openai_dialect():
        status, body = openai_status(error), openai_error(error)
    response = jsonify({"error": body})
    if isinstance(error, (ServiceUnavailable, Overloaded)):
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    if isinstance(error, RateLimited):
        response.headers.update(error.headers)
    if isinstance(error, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="llm"'
    return response, status


def openai_status(error: InferenceError) -> int:
    """The HTTP status OpenAI's API gives this error (400, not 422, for a bad field)."""
    status = status_for(error)
    return 400 if status == 422 else status


def openai_error(error: InferenceError) -> dict[str, str | None]:
    """The error body OpenAI's clients expect (also inside a stream or a batch's error file)."""
    return _openai_body(error.to_dict(), openai_status(error))


def _openai_dialect() -> bool:
    return request.blueprint in OPENAI_BLUEPRINTS


def _openai_body(error: dict[str, str | None], status: int) -> dict[str, str | None]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    code = error["code"] or OPENAI_CODES.get(str(error["type"]), error["type"])
    return {**error, "type": OPENAI_TYPES.get(status, kind), "code": code}


def register(app: Flask) -> None:
    """Install handlers so no error reaches a client as HTML or a traceback."""
    app.register_error_handler(InferenceError, error_response)

    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(RedisTimeoutError)
    @app.errorhandler(OperationalError)
    def _redis_down(exc: Exception) -> tuple[Response, int]:
        app.logger.warning("Redis unavailable: %s", exc)
        return error_response(ServiceUnavailable("the job queue (Redis) is unavailable; retry shortly"))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        error = {
            "type": (exc.name or "error").lower().replace(" ", "_"),
            "code": None,
            "message": exc.description,
            "param": None,
        }
        return jsonify({"error": _openai_body(error, status) if _openai_dialect() else error}), status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        app.logger.exception("unhandled error")
        return error_response(InferenceError("internal error; it has been logged"))

"""The one place where errors become HTTP responses, all in one JSON shape.

{"error": {"type": str, "code": str | null, "message": str, "param": str | null}}
"""

from __future__ import annotations

from flask import Flask, Response, jsonify
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import HTTPException

from tasks.errors import (
    InferenceError,
    InvalidRequest,
    JobConflict,
    JobNotFound,
    MalformedBody,
    Overloaded,
    ServiceUnavailable,
    Unauthorized,
)

#: Seconds a client is asked to wait before retrying a 429 or 503.
RETRY_AFTER_S = 5

#: Most specific class first.
STATUS_BY_ERROR: list[tuple[type[InferenceError], int]] = [
    (MalformedBody, 400),
    (InvalidRequest, 422),
    (Unauthorized, 401),
    (Overloaded, 429),
    (JobNotFound, 404),
    (JobConflict, 409),
    (ServiceUnavailable, 503),
    (InferenceError, 500),
]


def status_for(error: InferenceError) -> int:
    """The HTTP status for an error of the hierarchy."""
    return next(status for cls, status in STATUS_BY_ERROR if isinstance(error, cls))


def error_response(error: InferenceError) -> tuple[Response, int]:
    """Render an InferenceError in the service's error shape."""
    response = jsonify({"error": error.to_dict()})
    if isinstance(error, (ServiceUnavailable, Overloaded)):
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    if isinstance(error, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="llm"'
    return response, status_for(error)


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
        error = {
            "type": (exc.name or "error").lower().replace(" ", "_"),
            "code": None,
            "message": exc.description,
            "param": None,
        }
        return jsonify({"error": error}), exc.code or 500

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        app.logger.exception("unhandled error")
        return error_response(InferenceError("internal error; it has been logged"))

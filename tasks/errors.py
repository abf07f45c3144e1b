"""One small error hierarchy shared by the API and the worker.

Each error carries a stable `type`, an optional `code` and the request field at fault. The API maps
them to HTTP in exactly one place (webapi/errors.py); the worker stores them as a request's failure,
from which the API rebuilds them (Celery re-creates the class from this module by name).
"""

from __future__ import annotations


class InferenceError(Exception):
    """Base of every error the service reports to a client."""

    type = "internal_error"

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message, param, code)
        self.message = message
        self.param = param
        self.code = code

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, str | None]:
        """The error as the client sees it."""
        return {"type": self.type, "code": self.code, "message": self.message, "param": self.param}


class InvalidRequest(InferenceError):
    """The request body breaks the API contract; it never reaches the queue."""

    type = "invalid_request"


class MalformedBody(InvalidRequest):
    """The body is not a JSON object."""

    type = "invalid_json"


class PayloadTooLarge(InvalidRequest):
    """An upload over its size limit."""

    type = "too_large"


class PromptTooLong(InvalidRequest):
    """The prompt and the tokens asked for do not fit the model's context (found by the worker)."""

    type = "prompt_too_long"


class UnsupportedRequest(InvalidRequest):
    """The request is valid JSON but the served model cannot do it (e.g. chat without a template)."""

    type = "unsupported_request"


class NotFound(InferenceError):
    """No such job, model, file or batch (or its record has expired)."""

    type = "not_found"


class Conflict(InferenceError):
    """The resource's state does not allow the operation (e.g. cancelling a finished job)."""

    type = "conflict"


class TimedOut(InferenceError):
    """The job did not finish within the time the route waits for it; it is still running."""

    type = "timeout"


class Unauthorized(InferenceError):
    """No valid API key was given."""

    type = "unauthorized"


class Overloaded(InferenceError):
    """Too many jobs are waiting; the client should retry later."""

    type = "overloaded"


class RateLimited(Overloaded):
    """The tenant has used its requests or tokens for this minute (webapi/services/rate_limits.py)."""

    type = "rate_limited"

    def __init__(self, message: str, headers: dict[str, str]) -> None:
        super().__init__(message, None, "rate_limit_exceeded")
        self.headers = headers  # Retry-After and OpenAI's x-ratelimit-*


class ServiceUnavailable(InferenceError):
    """A backing service (Redis) cannot be reached; the client may retry."""

    type = "service_unavailable"


class GenerationFailed(InferenceError):
    """The model failed on this request for a reason of its own (not the request's fault)."""

    type = "generation_failed"


def error_from_dict(error: dict[str, str | None]) -> InferenceError:
    """Rebuild the error a job failed with from its stored description."""
    classes = {cls.type: cls for cls in _subclasses(InferenceError)}
    cls = classes.get(str(error.get("type")), InferenceError)
    return cls(str(error.get("message")), error.get("param"), error.get("code"))


def _subclasses(cls: type[InferenceError]) -> list[type[InferenceError]]:
    return [cls] + [sub for direct in cls.__subclasses__() for sub in _subclasses(direct)]


def error_from_exception(exc: BaseException) -> dict[str, str | None]:
    """Describe any exception as a client-facing error dict, hiding internals of unknown ones."""
    if isinstance(exc, InferenceError):
        return exc.to_dict()
    return {"type": "internal_error", "code": type(exc).__name__, "message": str(exc), "param": None}

"""Jobs resource: asynchronous and synchronous generation, lookup and cancellation."""

from __future__ import annotations

import json
import math
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for

from tasks.contract import GenerationRequest
from tasks.errors import InvalidRequest, MalformedBody
from webapi.job_service import TERMINAL, JobService, cache_mode

bp = Blueprint("jobs", __name__)


def _service() -> JobService:
    return current_app.extensions["jobs"]


def json_body() -> Any:
    try:
        return json.loads(request.get_data(cache=False) or b"")
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody("the request body must be valid JSON") from None


def _job_response(job: dict[str, Any], status: int, verdict: str) -> tuple[Response, int]:
    response = jsonify(job)
    response.headers["Location"] = url_for("jobs.get_job", job_id=job["id"])
    response.headers["X-Cache"] = verdict
    return response, status


@bp.post("/v1/jobs")
def create_job() -> tuple[Response, int]:
    """Enqueue a generation request: 202 with the job to poll (200 with the answer on a cache hit)."""
    body = json_body()
    generation = GenerationRequest.from_json(body, current_app.config["LIMITS"], frozenset({"cache"}))
    job_id, verdict = _service().submit(generation, cache_mode(body), g.tenant)
    job = _service().describe(job_id)
    return _job_response(job, 200 if job["status"] in TERMINAL else 202, verdict)


@bp.post("/v1/generate")
def generate() -> tuple[Response, int]:
    """Enqueue and wait up to `timeout` seconds: 200 with the finished job, else 202 to poll."""
    body = json_body()
    generation = GenerationRequest.from_json(body, current_app.config["LIMITS"], frozenset({"timeout", "cache"}))
    timeout = _timeout(body)
    job_id, verdict = _service().submit(generation, cache_mode(body), g.tenant)
    job = _service().wait(job_id, timeout)
    return _job_response(job, 200 if job["status"] in TERMINAL else 202, verdict)


@bp.get("/v1/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    """The job object."""
    return jsonify(_service().describe(job_id, g.tenant))


@bp.delete("/v1/jobs/<job_id>")
def cancel_job(job_id: str) -> tuple[Response, int]:
    """Cancel a job: 200 once cancelled, 202 while its worker has yet to stop it, 409 once finished."""
    job = _service().cancel(job_id, g.tenant)
    return jsonify(job), 200 if job["status"] in TERMINAL else 202


def _timeout(body: dict[str, Any]) -> float:
    settings = current_app.config["SETTINGS"]
    value = body.get("timeout", settings.sync_timeout_s)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidRequest("timeout must be a number of seconds", "timeout", "wrong_type")
    if not 0 <= value <= settings.max_sync_timeout_s:
        raise InvalidRequest(
            f"timeout must be between 0 and {settings.max_sync_timeout_s} seconds", "timeout", "out_of_range"
        )
    return float(value)

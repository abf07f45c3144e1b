"""Jobs resource: asynchronous and synchronous generation, lookup and cancellation."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, url_for

from tasks.contract import GenerationRequest
from webapi.routes.helpers import json_body, rate_limit, services, settings, timeout
from webapi.services.job_objects import TERMINAL
from webapi.services.submission import cache_mode, priority

bp = Blueprint("jobs", __name__)
#: Fields of a jobs request beside the generation's own: which model, the cache, the draw order.
ROUTING_FIELDS = frozenset({"model", "cache", "priority"})


def _job_response(job: dict[str, Any], verdict: str) -> tuple[Response, int]:
    response = jsonify(job)
    response.headers["Location"] = url_for("jobs.get_job", job_id=job["id"])
    response.headers["X-Cache"] = verdict
    return response, 200 if job["status"] in TERMINAL else 202


@bp.post("/v1/jobs")
def create_job() -> tuple[Response, int]:
    """Enqueue a generation request: 202 with the job to poll (200 with the answer on a cache hit)."""
    body = json_body()
    generation = GenerationRequest.from_json(body, settings().limits, ROUTING_FIELDS)
    model, urgency = services().models.resolve(body.get("model")), priority(body, settings().tenant_max_priority)
    rate_limit([generation])
    job_id, verdict = services().submitter.submit(generation, model, cache_mode(body), g.tenant, priority=urgency)
    return _job_response(services().reader.describe(job_id), verdict)


@bp.post("/v1/generate")
def generate() -> tuple[Response, int]:
    """Enqueue and wait up to `timeout` seconds: 200 with the finished job, else 202 to poll."""
    body = json_body()
    generation = GenerationRequest.from_json(body, settings().limits, ROUTING_FIELDS | {"timeout"})
    model, urgency = services().models.resolve(body.get("model")), priority(body, settings().tenant_max_priority)
    wait_s = timeout(body)
    rate_limit([generation])
    job_id, verdict = services().submitter.submit(generation, model, cache_mode(body), g.tenant, priority=urgency)
    return _job_response(services().reader.wait(job_id, wait_s), verdict)


@bp.get("/v1/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    """The job object."""
    return jsonify(services().reader.describe(job_id, g.tenant))


@bp.delete("/v1/jobs/<job_id>")
def cancel_job(job_id: str) -> tuple[Response, int]:
    """Cancel a job: 200 once cancelled, 202 while its worker has yet to stop it, 409 once finished."""
    job = services().canceller.cancel(job_id, g.tenant)
    return jsonify(job), 200 if job["status"] in TERMINAL else 202

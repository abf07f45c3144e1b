"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from tasks.errors import ServiceUnavailable
from webapi.errors import error_response
from webapi.routes.helpers import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response | tuple[Response, int]:
    """Ready when Redis answers and at least one worker has a recent heartbeat."""
    services().redis.ping()
    workers = services().reader.workers_alive()
    if workers == 0:
        return error_response(ServiceUnavailable("no model worker is alive; start one with `make worker`"))
    return jsonify({"status": "ready", "workers": workers})

"""OpenAI's Batch API: create, read, list and cancel batches; webapi/bulk/driver.py runs them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from tasks.errors import InvalidRequest
from webapi.bulk.batch_store import COMPLETION_WINDOWS, BatchStore, batch_object
from webapi.bulk.lines import ENDPOINTS
from webapi.routes.helpers import json_body, services

bp = Blueprint("batches", __name__)
MAX_METADATA_PAIRS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 16, 64, 512
MAX_LIST_LIMIT = 100


def _batches() -> BatchStore:
    return services().batches


@bp.post("/v1/batches")
def create_batch() -> Response:
    """{input_file_id, endpoint, completion_window: "24h", metadata}: a validating batch."""
    body = json_body()
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object", None, "invalid_json")
    allowed = {"input_file_id", "endpoint", "completion_window", "metadata"}
    if unknown := sorted(set(body) - allowed):
        raise InvalidRequest(f"unrecognized request argument supplied: {unknown[0]!r}", unknown[0], "unknown_parameter")
    endpoint = body.get("endpoint")
    if endpoint not in ENDPOINTS:
        raise InvalidRequest(f"endpoint must be one of {', '.join(ENDPOINTS)}", "endpoint", "invalid_value")
    window = body.get("completion_window")
    if window not in COMPLETION_WINDOWS:
        raise InvalidRequest(
            f"completion_window must be {', '.join(COMPLETION_WINDOWS)}", "completion_window", "invalid_value"
        )
    file_id = body.get("input_file_id")
    if not isinstance(file_id, str):
        raise InvalidRequest("input_file_id must be the id of an uploaded file", "input_file_id", "missing")
    if services().files.get(file_id, g.tenant)["purpose"] != "batch":
        raise InvalidRequest("the input file must have purpose 'batch'", "input_file_id", "invalid_value")
    batch_id = _batches().create(g.tenant, file_id, endpoint, window, _metadata(body.get("metadata")))
    return jsonify(batch_object(_batches().get(batch_id)))


@bp.get("/v1/batches/<batch_id>")
def get_batch(batch_id: str) -> Response:
    """A batch object, with its progress in request_counts."""
    return jsonify(batch_object(_batches().get(batch_id, g.tenant)))


@bp.get("/v1/batches")
def list_batches() -> Response:
    """The caller's batches, newest first; `after` and `limit` page through them."""
    limit = request.args.get("limit", "20")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIST_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIST_LIMIT}", "limit", "out_of_range")
    found, more = _batches().list(g.tenant, request.args.get("after"), int(limit))
    data = [batch_object(record) for record in found]
    return jsonify(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": more,
        }
    )


@bp.post("/v1/batches/<batch_id>/cancel")
def cancel_batch(batch_id: str) -> Response:
    """Cancel: queued requests are dropped, running ones finish, finished ones are kept."""
    _batches().cancel(batch_id, g.tenant)
    return jsonify(batch_object(_batches().get(batch_id, g.tenant)))


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if (
        not isinstance(value, dict)
        or len(value) > MAX_METADATA_PAIRS
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        or any(len(k) > MAX_METADATA_KEY or len(v) > MAX_METADATA_VALUE for k, v in value.items())
    ):
        raise InvalidRequest(
            f"metadata must map at most {MAX_METADATA_PAIRS} strings of up to {MAX_METADATA_KEY} characters "
            f"to strings of up to {MAX_METADATA_VALUE}",
            "metadata",
            "invalid_value",
        )
    return value

"""OpenAI's Files API, for the Batch API: upload a JSONL file, read, list and delete files."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request, send_file

from tasks.errors import InvalidRequest
from webapi.bulk.file_store import FileStore
from webapi.routes.helpers import services, settings

bp = Blueprint("files", __name__)
#: Room for the multipart envelope around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def _files() -> FileStore:
    return services().files


@bp.post("/v1/files")
def upload() -> Response:
    """multipart/form-data with `file` and `purpose=batch`."""
    config = settings()
    # Larger than any other body; the store stops at the exact limit with a clear error.
    request.max_content_length = config.batch_max_file_bytes + MULTIPART_OVERHEAD_BYTES
    upload = request.files.get("file")
    if upload is None:
        raise InvalidRequest("send the file as multipart/form-data field 'file'", "file", "missing")
    purpose = request.form.get("purpose")
    if purpose is None:
        raise InvalidRequest("purpose is required; use 'batch'", "purpose", "missing")
    file = _files().upload(
        upload.stream, upload.filename or "", purpose, g.tenant, config.batch_max_file_bytes, config.batch_max_lines
    )
    return jsonify(file)


@bp.get("/v1/files")
def list_files() -> Response:
    """The caller's files, newest first (optionally of one purpose)."""
    files = _files().list(g.tenant, request.args.get("purpose"))
    return jsonify({"object": "list", "data": files, "has_more": False})


@bp.get("/v1/files/<file_id>")
def get_file(file_id: str) -> Response:
    """A file object."""
    return jsonify(_files().get(file_id, g.tenant))


@bp.get("/v1/files/<file_id>/content")
def file_content(file_id: str) -> Response:
    """The file's bytes."""
    file = _files().get(file_id, g.tenant)
    return send_file(_files().path(file_id), mimetype="application/jsonl", download_name=file["filename"])


@bp.delete("/v1/files/<file_id>")
def delete_file(file_id: str) -> Response:
    """Delete a file."""
    return jsonify(_files().delete(file_id, g.tenant))

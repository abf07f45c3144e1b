"""OpenAI's embeddings route, on the embedding model the semantic cache uses (services/embeddings.py)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from webapi.routes.helpers import json_body, services, settings
from webapi.services import embeddings

bp = Blueprint("embeddings", __name__)


@bp.post("/v1/embeddings")
def create_embeddings() -> Response:
    """Embed a string or a list of strings."""
    embedder = services().embedder
    request = embeddings.parse(json_body(), embedder, settings().max_prompt_chars)
    return jsonify(embeddings.respond(request, embedder))

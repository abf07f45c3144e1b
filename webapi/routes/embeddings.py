"""OpenAI's embeddings route, on the embedding model the semantic cache uses (all-MiniLM-L6-v2).

The vectors are the cache's own: unit length, float32, 384 dimensions. Each input is truncated at
the model's window (256 word pieces for MiniLM), as sentence-transformers does; `usage` counts the
tokens embedded.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from flask import Blueprint, Response, jsonify

from tasks.errors import InvalidRequest, MalformedBody, NotFound
from webapi.routes.helpers import json_body, services, settings

bp = Blueprint("embeddings", __name__)
#: Inputs in one request, at most (OpenAI's limit: clients such as LangChain send up to 1000).
MAX_INPUTS = 2048
FIELDS = {"model", "input", "encoding_format", "dimensions", "user"}
ENCODINGS = ("float", "base64")


@bp.post("/v1/embeddings")
def create_embeddings() -> Response:
    """Embed a string or a list of strings."""
    body = json_body()
    texts, encoding = _parse(body)
    embedder = services().embedder
    vectors = embedder.embed(texts)
    tokens = sum(embedder.count_tokens(texts))
    data = [
        {"object": "embedding", "index": i, "embedding": _encode(vector, encoding)} for i, vector in enumerate(vectors)
    ]
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return jsonify({"object": "list", "data": data, "model": settings().embed_model, "usage": usage})


def _parse(body: Any) -> tuple[list[str], str]:
    """The texts and the encoding; InvalidRequest names the field at fault."""
    if not isinstance(body, dict):
        raise MalformedBody("the request body must be a JSON object")
    if unknown := sorted(set(body) - FIELDS):
        raise InvalidRequest(f"unrecognized request argument supplied: {unknown[0]!r}", unknown[0], "unknown_parameter")
    model = body.get("model")
    if model is None:
        raise InvalidRequest("you must provide a model parameter", "model", "missing")
    if model != settings().embed_model:
        raise NotFound(
            f"the model {model!r} does not exist; embeddings come from {settings().embed_model!r}",
            "model",
            "model_not_found",
        )
    texts = _inputs(body.get("input"))
    encoding = body.get("encoding_format") or "float"
    if encoding not in ENCODINGS:
        raise InvalidRequest("encoding_format must be 'float' or 'base64'", "encoding_format", "invalid_value")
    dimensions = body.get("dimensions")
    if dimensions is not None and dimensions != services().embedder.dimensions:
        raise InvalidRequest(
            f"dimensions must be {services().embedder.dimensions}, the model's own", "dimensions", "unsupported_value"
        )
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise InvalidRequest("user must be a string", "user", "wrong_type")
    return texts, encoding


def _inputs(value: Any) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        raise InvalidRequest("input must be a string or a non-empty array of strings", "input", "wrong_type")
    if len(texts) > MAX_INPUTS:
        raise InvalidRequest(f"input takes at most {MAX_INPUTS} strings", "input", "too_many")
    limit = settings().max_prompt_chars
    for text in texts:
        if not isinstance(text, str):
            raise InvalidRequest("input must be strings; token arrays are not supported", "input", "wrong_type")
        if not text:
            raise InvalidRequest("input strings must not be empty", "input", "empty")
        if len(text) > limit:
            raise InvalidRequest(f"each input must be at most {limit} characters", "input", "too_long")
    return texts


def _encode(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":  # little-endian float32, as OpenAI's clients decode it
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return vector.tolist()

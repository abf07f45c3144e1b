"""Embeddings in OpenAI's shape, on the semantic cache's model (all-MiniLM-L6-v2): the work behind
POST /v1/embeddings and the Batch API's embeddings lines.

The vectors are the cache's own: unit length, float32, 384 dimensions. Each input is truncated at
the model's window (256 word pieces for MiniLM), as sentence-transformers does; `usage` counts the
tokens embedded.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks.errors import InvalidRequest, MalformedBody, NotFound
from webapi.cache.embedder import Embedder

#: Inputs in one request, at most (OpenAI's limit: clients such as LangChain send up to 1000).
MAX_INPUTS = 2048
FIELDS = {"model", "input", "encoding_format", "dimensions", "user"}
ENCODINGS = ("float", "base64")


@dataclass(frozen=True)
class EmbeddingsRequest:
    """A valid embeddings request."""

    texts: tuple[str, ...]
    encoding: str  # "float" | "base64"


def parse(body: Any, embedder: Embedder, max_chars: int) -> EmbeddingsRequest:
    """Validate a body; InvalidRequest (or NotFound for another model) names the field at fault."""
    if not isinstance(body, dict):
        raise MalformedBody("the request body must be a JSON object")
    if unknown := sorted(set(body) - FIELDS):
        raise InvalidRequest(f"unrecognized request argument supplied: {unknown[0]!r}", unknown[0], "unknown_parameter")
    model = body.get("model")
    if model is None:
        raise InvalidRequest("you must provide a model parameter", "model", "missing")
    if model != embedder.name:
        raise NotFound(
            f"the model {model!r} does not exist; embeddings come from {embedder.name!r}", "model", "model_not_found"
        )
    texts = _inputs(body.get("input"), max_chars)
    encoding = body.get("encoding_format") or "float"
    if encoding not in ENCODINGS:
        raise InvalidRequest("encoding_format must be 'float' or 'base64'", "encoding_format", "invalid_value")
    dimensions = body.get("dimensions")
    if dimensions is not None and dimensions != embedder.dimensions:
        raise InvalidRequest(
            f"dimensions must be {embedder.dimensions}, the model's own", "dimensions", "unsupported_value"
        )
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise InvalidRequest("user must be a string", "user", "wrong_type")
    return EmbeddingsRequest(tuple(texts), encoding)


def respond(request: EmbeddingsRequest, embedder: Embedder) -> dict[str, Any]:
    """OpenAI's list of embeddings for a request."""
    texts = list(request.texts)
    vectors = embedder.embed(texts)
    tokens = sum(embedder.count_tokens(texts))
    data = [
        {"object": "embedding", "index": i, "embedding": _encode(vector, request.encoding)}
        for i, vector in enumerate(vectors)
    ]
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": embedder.name, "usage": usage}


def _inputs(value: Any, max_chars: int) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        raise InvalidRequest("input must be a string or a non-empty array of strings", "input", "wrong_type")
    if len(texts) > MAX_INPUTS:
        raise InvalidRequest(f"input takes at most {MAX_INPUTS} strings", "input", "too_many")
    for text in texts:
        if not isinstance(text, str):
            raise InvalidRequest("input must be strings; token arrays are not supported", "input", "wrong_type")
        if not text:
            raise InvalidRequest("input strings must not be empty", "input", "empty")
        if len(text) > max_chars:
            raise InvalidRequest(f"each input must be at most {max_chars} characters", "input", "too_long")
    return texts


def _encode(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":  # little-endian float32, as OpenAI's clients decode it
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return vector.tolist()

"""The API's OpenAPI 3.1 document, served at /openapi.json (and checked by schemathesis in tests)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

bp = Blueprint("openapi", __name__)

_TEXT = {"type": "string", "minLength": 1}
_MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "additionalProperties": False,
    "properties": {"role": {"enum": ["system", "user", "assistant"]}, "content": _TEXT},
}
_PARAMS = {
    "max_tokens": {"type": "integer", "minimum": 1, "description": "1..MAX_NEW_TOKENS_LIMIT (default 512)"},
    "temperature": {"type": "number", "minimum": 0, "maximum": 2, "default": 0},
    "top_p": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 1},
    "stop": {"oneOf": [_TEXT, {"type": "array", "items": _TEXT, "maxItems": 4}]},
    "seed": {"type": ["integer", "null"], "minimum": 0},
    "cache": {"enum": ["auto", "bypass", "refresh"], "default": "auto"},
}
_REQUEST = {
    "type": "object",
    "description": "Exactly one of prompt or messages.",
    "additionalProperties": False,
    "properties": {"prompt": _TEXT, "messages": {"type": "array", "items": _MESSAGE, "minItems": 1}, **_PARAMS},
}
_NULLABLE_NUMBER = {"type": ["number", "null"]}
_JOB = {
    "type": "object",
    "required": ["id", "status", "model", "result", "error", "batch", "timings", "cache"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "job"},
        "status": {"enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
        "model": {"type": ["string", "null"]},
        "created_at": {"type": "number"},
        "result": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["text", "finish_reason", "prompt_tokens", "completion_tokens"],
                    "properties": {
                        "text": {"type": "string"},
                        "finish_reason": {"enum": ["stop", "length"]},
                        "prompt_tokens": {"type": "integer"},
                        "completion_tokens": {"type": "integer"},
                    },
                },
            ]
        },
        "error": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/ErrorDetail"}]},
        "batch": {"oneOf": [{"type": "null"}, {"type": "object", "properties": {"size": {"type": "integer"}}}]},
        "worker": {"type": ["string", "null"]},
        "attempts": {"type": "integer"},
        "timings": {
            "type": "object",
            "properties": {
                "queue_ms": _NULLABLE_NUMBER,
                "inference_ms": _NULLABLE_NUMBER,
                "total_ms": _NULLABLE_NUMBER,
            },
        },
        "cache": {
            "type": "object",
            "properties": {
                "hit": {"type": "boolean"},
                "kind": {"enum": ["exact", "semantic", None]},
                "similarity": _NULLABLE_NUMBER,
                "source_id": {"type": ["string", "null"]},
            },
        },
    },
}
_ERROR_DETAIL = {
    "type": "object",
    "required": ["type", "message"],
    "properties": {
        "type": {"type": "string"},
        "code": {"type": ["string", "null"]},
        "message": {"type": "string"},
        "param": {"type": ["string", "null"]},
    },
}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


_ERRORS = {
    "400": _json("Error", "the body is not a JSON object"),
    "401": _json("Error", "a valid API key is required"),
    "413": _json("Error", "the body is too large"),
    "422": _json("Error", "a field breaks the contract; `param` names it"),
    "429": _json("Error", "too many jobs are waiting; see Retry-After"),
    "503": _json("Error", "Redis is unavailable; see Retry-After"),
}
_JOB_ID = [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}]
_SUBMIT = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GenerationRequest"}}},
    }
}

# OpenAI-compatible routes: OpenAI's own API reference documents the objects; this is our subset.
_OPENAI_COMMON = {
    "model": {"type": "string", "description": "the served model (GET /v1/models)"},
    "max_tokens": _PARAMS["max_tokens"],
    "temperature": {**_PARAMS["temperature"], "default": 1},
    "top_p": _PARAMS["top_p"],
    "stop": _PARAMS["stop"],
    "seed": _PARAMS["seed"],
    "n": {"const": 1},
    "stream": {"type": "boolean", "default": False},
    "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
    "user": {"type": "string"},
    "cache": _PARAMS["cache"],
}
_CHOICES = {"type": "array", "items": {"type": "object", "required": ["index", "finish_reason"]}}
_USAGE = {
    "type": "object",
    "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
    "properties": {k: {"type": "integer"} for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
}


def _openai_route(summary: str, request: dict[str, Any], obj: str) -> dict[str, Any]:
    response = {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices", "usage"],
        "properties": {"object": {"const": obj}, "choices": _CHOICES, "usage": _USAGE},
    }
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
            "responses": {
                "200": {
                    "description": "the answer, or with stream: Server-Sent Events of chunks ending in [DONE]",
                    "content": {"application/json": {"schema": response}, "text/event-stream": {}},
                },
                "404": _json("Error", "unknown model"),
                "504": _json("Error", "not finished within MAX_SYNC_TIMEOUT_S; the job goes on"),
                **{k: v for k, v in _ERRORS.items() if k != "422"},
            },
        }
    }


_MODEL = {
    "type": "object",
    "required": ["id", "object", "created", "owned_by"],
    "properties": {"id": {"type": "string"}, "object": {"const": "model"}},
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "LLM batch-inference service", "version": "0.1.0"},
    "components": {
        "schemas": {
            "GenerationRequest": _REQUEST,
            "SyncGenerationRequest": {
                **_REQUEST,
                "properties": {
                    **_REQUEST["properties"],
                    "timeout": {
                        "type": "number",
                        "minimum": 0,
                        "description": "seconds to wait (default SYNC_TIMEOUT_S)",
                    },
                },
            },
            "Job": _JOB,
            "ErrorDetail": _ERROR_DETAIL,
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"$ref": "#/components/schemas/ErrorDetail"}},
            },
        },
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
    "paths": {
        "/v1/jobs": {
            "post": {
                **_SUBMIT,
                "summary": "Submit a generation job",
                "responses": {
                    "200": _json("Job", "answered from the cache"),
                    "202": _json("Job", "queued; poll Location"),
                    **_ERRORS,
                },
            }
        },
        "/v1/generate": {
            "post": {
                "summary": "Generate and wait",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SyncGenerationRequest"}}},
                },
                "responses": {
                    "200": _json("Job", "finished"),
                    "202": _json("Job", "not finished in time; poll Location"),
                    **_ERRORS,
                },
            }
        },
        "/v1/jobs/{job_id}": {
            "get": {
                "summary": "A job",
                "parameters": _JOB_ID,
                "responses": {"200": _json("Job", "the job"), "404": _json("Error", "no such job"), **_ERRORS},
            },
            "delete": {
                "summary": "Cancel a queued job",
                "parameters": _JOB_ID,
                "responses": {
                    "200": _json("Job", "cancelled"),
                    "404": _json("Error", "no such job"),
                    "409": _json("Error", "already started or finished"),
                    **_ERRORS,
                },
            },
        },
        "/v1/models": {
            "get": {
                "summary": "The served model (OpenAI)",
                "responses": {
                    "200": {
                        "description": "a list of one model",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "object": {"const": "list"},
                                        "data": {"type": "array", "items": _MODEL},
                                    },
                                }
                            }
                        },
                    },
                    **_ERRORS,
                },
            }
        },
        "/v1/models/{model_id}": {
            "get": {
                "summary": "A model (OpenAI)",
                "parameters": [{"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "the model", "content": {"application/json": {"schema": _MODEL}}},
                    "404": _json("Error", "unknown model"),
                    **_ERRORS,
                },
            }
        },
        "/v1/completions": _openai_route(
            "Text completion (OpenAI)",
            {
                "type": "object",
                "required": ["model", "prompt"],
                "properties": {
                    "prompt": {"oneOf": [_TEXT, {"type": "array", "items": _TEXT, "minItems": 1, "maxItems": 1}]},
                    **_OPENAI_COMMON,
                },
            },
            "text_completion",
        ),
        "/v1/chat/completions": _openai_route(
            "Chat completion through the model's chat template (OpenAI)",
            {
                "type": "object",
                "required": ["model", "messages"],
                "properties": {
                    "messages": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["role", "content"],
                            "properties": {
                                "role": {"enum": ["system", "developer", "user", "assistant"]},
                                "content": _TEXT,
                            },
                        },
                    },
                    "max_completion_tokens": _PARAMS["max_tokens"],
                    **_OPENAI_COMMON,
                },
            },
            "chat.completion",
        ),
        "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "up"}}}},
        "/readyz": {
            "get": {
                "summary": "Readiness",
                "security": [],
                "responses": {
                    "200": {"description": "Redis answers and a worker is alive"},
                    "503": _json("Error", "not ready"),
                },
            }
        },
    },
    "security": [{"bearer": []}, {}],
}


@bp.get("/openapi.json")
def spec() -> Response:
    """The OpenAPI document."""
    return jsonify(SPEC)

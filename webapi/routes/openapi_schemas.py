"""The building blocks of the OpenAPI document (webapi/routes/openapi.py): schemas and responses."""

from __future__ import annotations

from typing import Any

TEXT = {"type": "string", "minLength": 1}
TOOL_CALL = {
    "type": "object",
    "required": ["id", "type", "function"],
    "properties": {
        "id": {"type": "string"},
        "type": {"const": "function"},
        "function": {"type": "object", "properties": {"name": {"type": "string"}, "arguments": {"type": "string"}}},
    },
}
MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "additionalProperties": False,
    "properties": {
        "role": {"enum": ["system", "user", "assistant", "tool"]},
        "content": {"type": "string", "description": "empty only beside tool_calls, or for a tool"},
        "tool_calls": {"type": "array", "items": TOOL_CALL, "description": "an assistant's earlier calls"},
        "tool_call_id": {"type": "string", "description": "a tool message: the call it answers"},
    },
}
TOOLS = {
    "tools": {
        "type": "array",
        "maxItems": 128,
        "items": {
            "type": "object",
            "required": ["type", "function"],
            "properties": {
                "type": {"const": "function"},
                "function": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                        "description": {"type": "string"},
                        "parameters": {"type": "object", "description": "a JSON Schema"},
                    },
                },
            },
        },
    },
    "tool_choice": {
        "description": "none | auto (the default with tools) | required | {type: function, function: {name}}",
        "oneOf": [
            {"enum": ["none", "auto", "required"]},
            {"type": "object", "properties": {"type": {"const": "function"}, "function": {"type": "object"}}},
        ],
    },
}
PARAMS = {
    "max_tokens": {
        "type": "integer",
        "minimum": 0,
        "description": "1..MAX_NEW_TOKENS_LIMIT (default 512); 0 only with prompt_logprobs",
    },
    "temperature": {"type": "number", "minimum": 0, "maximum": 2, "default": 0},
    "top_p": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 1},
    "stop": {"oneOf": [TEXT, {"type": "array", "items": TEXT, "maxItems": 4}]},
    "seed": {"type": ["integer", "null"], "minimum": 0},
    "cache": {"enum": ["auto", "bypass", "refresh"], "default": "auto"},
    "model": {"type": "string", "description": "a served model's id (GET /v1/models); default: the API's default"},
    "priority": {
        "type": "integer",
        "minimum": 0,
        "maximum": 9,
        "default": 0,
        "description": "the worker draws higher priorities first; at most TENANT_MAX_PRIORITY",
    },
    "logprobs": {"type": ["integer", "null"], "minimum": 0, "maximum": 20, "description": "alternatives per token"},
    "prompt_logprobs": {"type": "boolean", "description": "score the prompt too (max_tokens may then be 0)"},
    **TOOLS,
    "response_format": {
        "description": "structured output: the answer is JSON (json_object), or JSON matching a schema (json_schema)",
        "oneOf": [
            {"type": "object", "properties": {"type": {"enum": ["text", "json_object"]}}, "required": ["type"]},
            {
                "type": "object",
                "required": ["type", "json_schema"],
                "properties": {
                    "type": {"const": "json_schema"},
                    "json_schema": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": TEXT,
                            "schema": {"type": "object", "description": "a JSON Schema"},
                            "strict": {"type": "boolean"},
                            "description": {"type": "string"},
                        },
                    },
                },
            },
        ],
    },
}
REQUEST = {
    "type": "object",
    "description": "Exactly one of prompt or messages.",
    "additionalProperties": False,
    "properties": {"prompt": TEXT, "messages": {"type": "array", "items": MESSAGE, "minItems": 1}, **PARAMS},
}
NULLABLE_NUMBER = {"type": ["number", "null"]}
JOB = {
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
                        "finish_reason": {"enum": ["stop", "length", "tool_calls"]},
                        "prompt_tokens": {"type": "integer"},
                        "completion_tokens": {"type": "integer"},
                        "logprobs": {"type": "array", "description": "[text, logprob, [[text, logprob], ...]]"},
                        "prompt_logprobs": {"type": "array"},
                        "tool_calls": {"type": "array", "items": TOOL_CALL},
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
                "queue_ms": NULLABLE_NUMBER,
                "inference_ms": NULLABLE_NUMBER,
                "total_ms": NULLABLE_NUMBER,
            },
        },
        "cache": {
            "type": "object",
            "properties": {
                "hit": {"type": "boolean"},
                "kind": {"enum": ["exact", "semantic", None]},
                "similarity": NULLABLE_NUMBER,
                "source_id": {"type": ["string", "null"]},
            },
        },
    },
}
ERROR_DETAIL = {
    "type": "object",
    "required": ["type", "message"],
    "properties": {
        "type": {"type": "string"},
        "code": {"type": ["string", "null"]},
        "message": {"type": "string"},
        "param": {"type": ["string", "null"]},
    },
}


def request_body(schema: dict[str, Any]) -> dict[str, Any]:
    """A required JSON request body of this schema."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def json_response(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


ERRORS = {
    "400": json_response("Error", "the body is not a JSON object"),
    "401": json_response("Error", "a valid API key is required"),
    "413": json_response("Error", "the body is too large"),
    "404": json_response("Error", "model_not_found: no such model is served"),
    "422": json_response("Error", "a field breaks the contract; `param` names it"),
    "429": json_response(
        "Error", "too many jobs are waiting, or the tenant's rate limit or job limit is reached; see Retry-After"
    ),
    "503": json_response("Error", "Redis is unavailable, or no live worker serves the model; see Retry-After"),
}
JOB_ID = [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}]
SUBMIT = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GenerationRequest"}}},
    }
}

# OpenAI-compatible routes: OpenAI's own API reference documents the objects; this is our subset.
OPENAI_COMMON = {
    "model": {"type": "string", "description": "the served model (GET /v1/models)"},
    "max_tokens": PARAMS["max_tokens"],
    "temperature": {**PARAMS["temperature"], "default": 1},
    "top_p": PARAMS["top_p"],
    "stop": PARAMS["stop"],
    "seed": PARAMS["seed"],
    "n": {"type": "integer", "minimum": 1, "maximum": 16, "default": 1, "description": "choices"},
    "stream": {"type": "boolean", "default": False},
    "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
    "user": {"type": "string"},
    "cache": PARAMS["cache"],
    "priority": PARAMS["priority"],
    "response_format": PARAMS["response_format"],
}
CHOICES = {"type": "array", "items": {"type": "object", "required": ["index", "finish_reason"]}}
USAGE = {
    "type": "object",
    "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
    "properties": {k: {"type": "integer"} for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
}


def openai_route(summary: str, request: dict[str, Any], obj: str) -> dict[str, Any]:
    response = {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices", "usage"],
        "properties": {"object": {"const": obj}, "choices": CHOICES, "usage": USAGE},
    }
    return {
        "post": {
            "summary": summary,
            "requestBody": request_body(request),
            "responses": {
                "200": {
                    "description": "the answer, or with stream: Server-Sent Events of chunks ending in [DONE]",
                    "content": {"application/json": {"schema": response}, "text/event-stream": {}},
                },
                "404": json_response("Error", "unknown model"),
                "504": json_response("Error", "not finished within MAX_SYNC_TIMEOUT_S; the job goes on"),
                **{k: v for k, v in ERRORS.items() if k != "422"},
            },
        }
    }


MODEL = {
    "type": "object",
    "required": ["id", "object", "created", "owned_by"],
    "properties": {"id": {"type": "string"}, "object": {"const": "model"}},
}

EMBEDDING_REQUEST = {
    "type": "object",
    "required": ["model", "input"],
    "additionalProperties": False,
    "properties": {
        "model": {"type": "string", "description": "the embedding model (GET /v1/models)"},
        "input": {"oneOf": [TEXT, {"type": "array", "items": TEXT, "minItems": 1, "maxItems": 2048}]},
        "encoding_format": {"enum": ["float", "base64"], "default": "float"},
        "dimensions": {"type": "integer", "description": "only the model's own (384)"},
        "user": {"type": "string"},
    },
}
EMBEDDING = {
    "type": "object",
    "required": ["object", "index", "embedding"],
    "properties": {
        "object": {"const": "embedding"},
        "index": {"type": "integer"},
        "embedding": {"oneOf": [{"type": "array", "items": {"type": "number"}}, {"type": "string"}]},
    },
}
EMBEDDING_LIST = {
    "type": "object",
    "required": ["object", "data", "model", "usage"],
    "properties": {
        "object": {"const": "list"},
        "data": {"type": "array", "items": EMBEDDING},
        "usage": {
            "type": "object",
            "required": ["prompt_tokens", "total_tokens"],
            "properties": {k: {"type": "integer"} for k in ("prompt_tokens", "total_tokens")},
        },
    },
}
EMBEDDINGS = {
    "post": {
        "summary": "Embeddings (OpenAI), from the cache's embedding model",
        "requestBody": {"required": True, "content": {"application/json": {"schema": EMBEDDING_REQUEST}}},
        "responses": {
            "200": {
                "description": "one embedding per input, in order",
                "content": {"application/json": {"schema": EMBEDDING_LIST}},
            },
            "404": json_response("Error", "unknown model"),
            **{k: v for k, v in ERRORS.items() if k not in ("422", "429")},
        },
    }
}

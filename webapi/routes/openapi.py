"""The API's OpenAPI 3.1 document, served at /openapi.json (and checked by schemathesis in tests)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from webapi.routes.openapi_schemas import (
    EMBEDDINGS,
    ERROR_DETAIL,
    ERRORS,
    JOB,
    JOB_ID,
    MODEL,
    OPENAI_COMMON,
    PARAMS,
    REQUEST,
    SUBMIT,
    TEXT,
    TOOLS,
    json_response,
    openai_route,
    request_body,
)

bp = Blueprint("openapi", __name__)

#: The tokenizer routes: also 503 until a worker has shared its tokenizer.
TOKENIZER_ERRORS = {
    **ERRORS,
    "404": json_response("Error", "unknown model"),
    "503": json_response("Error", "Redis is unavailable, or no worker has shared its tokenizer yet"),
}
SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "LLM batch-inference service", "version": "0.1.0"},
    "components": {
        "schemas": {
            "GenerationRequest": REQUEST,
            "SyncGenerationRequest": {
                **REQUEST,
                "properties": {
                    **REQUEST["properties"],
                    "timeout": {
                        "type": "number",
                        "minimum": 0,
                        "description": "seconds to wait (default SYNC_TIMEOUT_S)",
                    },
                },
            },
            "Job": JOB,
            "ErrorDetail": ERROR_DETAIL,
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
                **SUBMIT,
                "summary": "Submit a generation job",
                "responses": {
                    "200": json_response("Job", "answered from the cache"),
                    "202": json_response("Job", "queued; poll Location"),
                    **ERRORS,
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
                    "200": json_response("Job", "finished"),
                    "202": json_response("Job", "not finished in time; poll Location"),
                    **ERRORS,
                },
            }
        },
        "/v1/jobs/{job_id}": {
            "get": {
                "summary": "A job",
                "parameters": JOB_ID,
                "responses": {
                    "200": json_response("Job", "the job"),
                    **ERRORS,
                    "404": json_response("Error", "no such job"),
                },
            },
            "delete": {
                "summary": "Cancel a queued job",
                "parameters": JOB_ID,
                "responses": {
                    "200": json_response("Job", "cancelled"),
                    **ERRORS,
                    "404": json_response("Error", "no such job"),
                    "409": json_response("Error", "already started or finished"),
                },
            },
        },
        "/v1/embeddings": EMBEDDINGS,
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
                                        "data": {"type": "array", "items": MODEL},
                                    },
                                }
                            }
                        },
                    },
                    **ERRORS,
                },
            }
        },
        "/v1/models/{model_id}": {
            "get": {
                "summary": "A model (OpenAI)",
                "parameters": [{"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "the model", "content": {"application/json": {"schema": MODEL}}},
                    **ERRORS,
                    "404": json_response("Error", "unknown model"),
                },
            }
        },
        "/v1/completions": openai_route(
            "Text completion (OpenAI)",
            {
                "type": "object",
                "required": ["model", "prompt"],
                "properties": {
                    "prompt": {"oneOf": [TEXT, {"type": "array", "items": TEXT, "minItems": 1, "maxItems": 1}]},
                    **OPENAI_COMMON,
                    "logprobs": {
                        "type": ["integer", "null"],
                        "minimum": 0,
                        "maximum": 20,
                        "description": "alternatives",
                    },
                    "echo": {"type": "boolean", "description": "start the text (and logprobs) with the prompt"},
                },
            },
            "text_completion",
        ),
        "/v1/chat/completions": openai_route(
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
                                "role": {"enum": ["system", "developer", "user", "assistant", "tool"]},
                                "content": {"type": ["string", "array", "null"]},
                                "tool_calls": {"type": "array"},
                                "tool_call_id": {"type": "string"},
                            },
                        },
                    },
                    "max_completion_tokens": PARAMS["max_tokens"],
                    **OPENAI_COMMON,
                    "logprobs": {"type": "boolean", "default": False},
                    "top_logprobs": {"type": "integer", "minimum": 0, "maximum": 20},
                    **TOOLS,
                },
            },
            "chat.completion",
        ),
        "/tokenize": {
            "post": {
                "summary": "Token ids of a prompt, or of messages through the chat template (vLLM's shape)",
                "requestBody": request_body(
                    {
                        "type": "object",
                        "properties": {
                            "model": {"type": "string"},
                            "prompt": {"type": "string"},
                            "messages": {"type": "array"},
                            "tools": {"type": "array"},
                            "tool_choice": {},
                            "add_special_tokens": {"type": "boolean", "default": True},
                            "return_token_strs": {"type": "boolean", "default": False},
                        },
                    }
                ),
                "responses": {
                    "200": {"description": "count, max_model_len, tokens (and token_strs)"},
                    **TOKENIZER_ERRORS,
                },
            }
        },
        "/detokenize": {
            "post": {
                "summary": "The text of token ids (vLLM's shape)",
                "requestBody": request_body(
                    {
                        "type": "object",
                        "required": ["tokens"],
                        "properties": {
                            "model": {"type": "string"},
                            "tokens": {"type": "array", "items": {"type": "integer"}},
                        },
                    }
                ),
                "responses": {"200": {"description": "prompt"}, **TOKENIZER_ERRORS},
            }
        },
        "/tokenizer_info": {
            "get": {
                "summary": "Special tokens, chat template and context length of the served model's tokenizer",
                "responses": {"200": {"description": "the tokenizer's settings"}, **TOKENIZER_ERRORS},
            }
        },
        "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "up"}}}},
        "/readyz": {
            "get": {
                "summary": "Readiness",
                "security": [],
                "responses": {
                    "200": {"description": "Redis answers and a worker is alive"},
                    "503": json_response("Error", "not ready"),
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

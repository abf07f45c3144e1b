"""Structured output: OpenAI's `response_format`, checked here and compiled to a grammar.

`json_object` asks for any JSON object, `json_schema` for JSON that matches a schema. Both become
an llguidance grammar (a JSON schema compiled to a lexer and parser); the worker's constraint
(model_worker/constraints.py) masks every token that would leave the grammar, so the output is
valid by construction, not checked afterwards. Whitespace between tokens is fixed (", " and ": ")
so a small model cannot wander off into endless blank lines.

The API checks a request's format with `normalise`, so a bad schema is a 400 naming the field;
the worker compiles it again with its tokenizer.
"""

from __future__ import annotations

import json
from typing import Any

from llguidance import LLMatcher

from tasks.errors import InvalidRequest

#: How generated JSON is laid out: one space after separators, no other whitespace.
JSON_LAYOUT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
#: The schema of `json_object`: any JSON object.
ANY_OBJECT: dict[str, Any] = {"type": "object"}
#: Longest schema accepted, as JSON text.
MAX_SCHEMA_CHARS = 32_000


def normalise(value: Any) -> dict[str, Any] | None:
    """The request's response_format as the worker needs it (None: free text); InvalidRequest if wrong.

    Returns {"type": "json_object"} or {"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}:
    OpenAI's own shape, so a normalised value normalises to itself (the worker checks it again).
    """
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in ("text", "json_object", "json_schema"):
        raise InvalidRequest(
            "response_format must be {type: text | json_object | json_schema}", "response_format", "invalid_value"
        )
    kind = value["type"]
    if kind == "text":
        return None
    if kind == "json_object":
        _no_other_fields(value, {"type"}, "response_format")
        return {"type": "json_object"}
    _no_other_fields(value, {"type", "json_schema"}, "response_format")
    spec = value.get("json_schema")
    where = "response_format.json_schema"
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
        raise InvalidRequest(f"{where} must be an object with a name and a schema", where, "invalid_value")
    _no_other_fields(spec, {"name", "schema", "strict", "description"}, where)
    schema = spec.get("schema", {})
    if not isinstance(schema, dict):
        raise InvalidRequest(f"{where}.schema must be a JSON Schema object", f"{where}.schema", "invalid_value")
    if len(json.dumps(schema)) > MAX_SCHEMA_CHARS:
        raise InvalidRequest(f"{where}.schema is over {MAX_SCHEMA_CHARS} characters", f"{where}.schema", "too_long")
    normalised = {"type": "json_schema", "json_schema": {"name": spec["name"], "schema": schema}}
    try:
        error = LLMatcher.validate_grammar(grammar(normalised))
    except ValueError as exc:
        error = str(exc)
    if error:
        raise InvalidRequest(f"{where}.schema is not a usable JSON Schema: {error}", f"{where}.schema", "invalid_value")
    return normalised


def grammar(response_format: dict[str, Any]) -> str:
    """The llguidance grammar for a normalised response_format."""
    schema = ANY_OBJECT if response_format["type"] == "json_object" else response_format["json_schema"]["schema"]
    return LLMatcher.grammar_from_json_schema(schema, overrides=JSON_LAYOUT)  # type: ignore[arg-type]


def _no_other_fields(value: dict[str, Any], allowed: set[str], where: str) -> None:
    if extra := sorted(set(value) - allowed):
        raise InvalidRequest(f"{where} has an unknown field {extra[0]!r}", f"{where}.{extra[0]}", "unknown_field")
